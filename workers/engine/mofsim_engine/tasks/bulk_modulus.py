"""Bulk modulus: MOFSimBench `bulk_modulus/bulk_modulus.py` + `bulk_modulus.yaml` (PROTOCOLS.md §1.3, §2.3).

1. Full relaxation: LBFGS + FrechetCellFilter, fmax 0.001 eV/Å, at most 1000 steps (to p = 0).
2. Volume scale factors s = linspace(1 − eps, 1 + eps, npoints) (eps 0.04, 11 points: V/V0 = 0.960 … 1.040); every
   cell vector × s^(1/3) with scale_atoms=True; at each volume a fixed-cell, positions-only FIRE relaxation
   (fmax 0.001, 1000 steps). V and E are recorded whether or not the point converged.
3. `ase.eos.EquationOfState(volumes, energies, eos="birchmurnaghan").fit()`; B_GPa = B / units.kJ * 1e24.
   B' (`pressure_derivative`) is the fitted BP of `eos.eos_parameters` = (E0, B0, BP, V0).
The paper excludes fits whose minimum lies more than 1 % from the optimised volume: `minimum_outside_1_percent`.

The volume points are independent: `strained_points` builds them, `relax_points` relaxes them — all at once, one
thread per point (ctx.map_parallel), so each FIRE step of the npoints relaxations meets in the model's batcher as one
batched forward pass; each point's trajectory is the sequential one (same optimizer, same geometry), only the
model calls are merged — and `fit_eos` fits.
"""
from __future__ import annotations

import math

import numpy as np
from ase import Atoms, units

from .context import JobContext
from .md_checkpoint import Params, attach_reference, lookup_reference
from .relax import relax

# EOS forms of ase.eos whose parameters are (E0, B0, BP, V0), so B' is defined the same way for all of them.
EOS_FORMS = ("birchmurnaghan", "murnaghan", "birch", "vinet", "pouriertarantola")
MINIMUM_OFFSET_LIMIT_PERCENT = 1.0  # paper: fits with the minimum > 1 % from V0 are excluded as unstable

ALLOWED = ("opt_fmax", "opt_steps", "eps", "npoints", "point_fmax", "point_steps", "eos")


def validate(params: dict | None) -> dict:
    p = Params(params, ALLOWED)
    return {
        "opt_fmax": p.float("opt_fmax", 0.001, minimum=0.0, exclusive_minimum=True),
        "opt_steps": p.int("opt_steps", 1000, minimum=0),
        "eps": p.float("eps", 0.04, minimum=0.0, exclusive_minimum=True, maximum=0.3),
        "npoints": p.int("npoints", 11, minimum=5, maximum=51),
        "point_fmax": p.float("point_fmax", 0.001, minimum=0.0, exclusive_minimum=True),
        "point_steps": p.int("point_steps", 1000, minimum=0),
        "eos": p.choice("eos", "birchmurnaghan", EOS_FORMS),
    }


def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def strained_points(atoms: Atoms, eps: float, npoints: int) -> list[tuple[float, Atoms]]:
    """(s, atoms with V = s·V0) for s in linspace(1 − eps, 1 + eps, npoints), atoms scaled with the cell."""
    points = []
    cell0 = atoms.get_cell()
    for s in np.linspace(1 - eps, 1 + eps, npoints):
        a = atoms.copy()
        a.calc = None
        a.set_cell(cell0 * s ** (1 / 3), scale_atoms=True)
        points.append((float(s), a))
    return points


def relax_points(points: list[tuple[float, Atoms]], ctx: JobContext, eff: dict, *,
                 progress_offset: float, progress_span: float) -> list[dict]:
    """Fixed-cell FIRE relaxation of every point. Concurrent (one thread per point, model calls batched) when
    `ctx.can_parallel()`, else one after the other; the results are the same either way (within float tolerance
    of the batched forward pass)."""
    if ctx.can_parallel() and len(points) > 1:
        return _relax_points_parallel(points, ctx, eff, progress_offset=progress_offset, progress_span=progress_span)
    out = []
    n = len(points)
    for i, (s, a) in enumerate(points):
        a.calc = ctx.calculator
        outcome = relax(a, ctx, optimizer="FIRE", cell_filter=None, fmax=eff["point_fmax"],
                        max_steps=eff["point_steps"], stage=f"eos_{i}",
                        progress_offset=progress_offset + progress_span * i / n, progress_span=progress_span / n)
        out.append(_point_record(s, a, outcome))
    return out


def _point_record(s: float, a: Atoms, outcome) -> dict:
    energy = outcome.energies[-1] if outcome.energies else float(a.get_potential_energy())
    return {"scale": s, "volume_A3": float(a.get_volume()), "energy_eV": float(energy),
            "converged": bool(outcome.converged), "steps": outcome.steps, "status": outcome.status,
            "fmax_final_eV_A": _finite(outcome.fmax_final)}


def _relax_points_parallel(points, ctx: JobContext, eff: dict, *, progress_offset: float,
                           progress_span: float) -> list[dict]:
    n = len(points)
    done = [0.0] * n  # per point: fraction of its step budget used (1.0 when finished)
    steps = [0] * n
    max_steps = eff["point_steps"]

    def on_progress(i: int, force: bool, fields: dict) -> None:
        steps[i] = int(fields.get("step") or 0)
        done[i] = max(done[i], float(fields.get("progress") or 0.0) / 100.0)
        finished = force and all(d >= 1.0 for d in done)
        ctx.progress(force=finished, stage="eos", step=sum(steps), max_steps=n * max_steps,
                     energy_eV=fields.get("energy_eV"), fmax_eV_A=fields.get("fmax_eV_A"),
                     volume_A3=fields.get("volume_A3"),
                     progress=round(progress_offset + progress_span * sum(done) / n, 3))

    def relax_point(child: JobContext, item) -> dict:
        i, (s, a) = item
        a.calc = child.calculator
        outcome = relax(a, child, optimizer="FIRE", cell_filter=None, fmax=eff["point_fmax"],
                        max_steps=max_steps, stage=f"eos_{i}", progress_offset=0.0, progress_span=100.0)
        record = _point_record(s, a, outcome)
        a.calc = None  # the child's calculator is released when its thread ends
        on_progress(i, True, {"step": outcome.steps, "progress": 100.0})
        return record

    return ctx.map_parallel(relax_point, list(enumerate(points)),
                            on_progress=lambda i, force, fields: on_progress(i, False, fields))


def fit_eos(volumes, energies, eos: str) -> dict:
    """Fit; B in GPa, B' from eos_parameters, RMSE of the fit. Raises on a failed fit (caller records it)."""
    import warnings

    from ase.eos import EquationOfState

    e = EquationOfState(list(volumes), list(energies), eos=eos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v0, e0, B = e.fit(warn=False)
    params = np.asarray(e.eos_parameters, dtype=float)
    residual = e.func(np.asarray(volumes, dtype=float), *params) - np.asarray(energies, dtype=float)
    ss_tot = float(np.sum((np.asarray(energies, dtype=float) - np.mean(energies)) ** 2))
    return {
        "v0": float(v0), "e0": float(e0), "B_eV_A3": float(B),
        "B_GPa": float(B / units.kJ * 1e24),
        "Bp": float(params[2]),
        "rmse": float(np.sqrt(np.mean(residual**2))),
        # Coefficient of determination of the fit over the points' energies (1 = every point on the curve).
        "r_squared": float(1.0 - np.sum(residual**2) / ss_tot) if ss_tot > 0 else float("nan"),
    }


def run(atoms: Atoms, params: dict, ctx: JobContext) -> dict:
    eff = validate(params)
    if atoms.calc is None:
        atoms.calc = ctx.calculator
    budget = max(1, eff["opt_steps"] + eff["npoints"] * eff["point_steps"])
    opt_span = 100.0 * eff["opt_steps"] / budget
    opt = relax(atoms, ctx, optimizer="LBFGS", cell_filter="frechet", fmax=eff["opt_fmax"],
                max_steps=eff["opt_steps"], stage="opt", progress_offset=0.0, progress_span=opt_span)
    v0_opt = float(atoms.get_volume())
    result: dict = {
        "status": "ok",
        "bulk_modulus_GPa": None,
        "equilibrium_volume_A3": None,
        "equilibrium_energy_eV": None,
        "pressure_derivative": None,
        "fit_ok": False,
        "eos": eff["eos"],
        "v0_opt_A3": _finite(v0_opt),
        "opt_converged": bool(opt.converged),
        "opt_steps": opt.steps,
        "opt_fmax_final_eV_A": _finite(opt.fmax_final),
        "warnings": [],
    }
    ref = lookup_reference("bulk_modulus_dft.csv", "structure", "B0_GPa", ctx.structure_name)
    if opt.status in ("exploded", "nan"):
        result.update(status=opt.status, failure_reason=f"{opt.status} during the full relaxation")
        return _with_reference(result, ref)
    if not opt.converged:
        result["warnings"].append(f"full relaxation not converged in {opt.steps} steps (benchmark continues)")

    points = strained_points(atoms, eff["eps"], eff["npoints"])
    data = relax_points(points, ctx, eff, progress_offset=opt_span, progress_span=100.0 - opt_span)
    volumes = [d["volume_A3"] for d in data]
    energies = [d["energy_eV"] for d in data]
    result.update(
        scales=[d["scale"] for d in data],
        volumes_A3=[_finite(v) for v in volumes],
        energies_eV=[_finite(e) for e in energies],
        point_converged=[d["converged"] for d in data],
        point_steps=[d["steps"] for d in data],
    )
    bad = [d for d in data if d["status"] in ("exploded", "nan") or not math.isfinite(d["energy_eV"])]
    if bad:
        status = "nan" if any(d["status"] == "nan" or not math.isfinite(d["energy_eV"]) for d in bad) else "exploded"
        result.update(status=status, failure_reason=f"{status} at V/V0 = {bad[0]['scale']:.3f}")
        return _with_reference(result, ref)
    n_unconv = sum(not d["converged"] for d in data)
    if n_unconv:
        result["warnings"].append(f"{n_unconv} of {len(data)} volume points not converged (recorded anyway)")

    try:
        fit = fit_eos(volumes, energies, eff["eos"])
    except Exception as exc:  # noqa: BLE001 - scipy curve_fit failures are a physics result
        result.update(status="fit_failed", failure_reason=f"EOS fit failed: {type(exc).__name__}: {exc}")
        return _with_reference(result, ref)
    offset = abs(fit["v0"] - v0_opt) / v0_opt * 100.0
    fit_ok = all(math.isfinite(fit[k]) for k in ("v0", "e0", "B_GPa", "Bp")) and fit["B_GPa"] > 0 \
        and min(volumes) < fit["v0"] < max(volumes)
    result.update(
        bulk_modulus_GPa=_finite(fit["B_GPa"]),
        equilibrium_volume_A3=_finite(fit["v0"]),
        equilibrium_energy_eV=_finite(fit["e0"]),
        pressure_derivative=_finite(fit["Bp"]),
        fit_rmse_eV=_finite(fit["rmse"]),
        fit_r_squared=_finite(fit["r_squared"]),
        fit_ok=bool(fit_ok),
        minimum_offset_percent=_finite(offset),
        minimum_outside_1_percent=bool(not offset <= MINIMUM_OFFSET_LIMIT_PERCENT),
    )
    if not fit_ok:
        result["warnings"].append("EOS minimum not bracketed by the volume points or B ≤ 0")
    if result["minimum_outside_1_percent"]:
        result["warnings"].append(f"EOS minimum {offset:.2f}% from the optimised volume (> 1%: excluded as unstable "
                                  f"by the benchmark)")
    return _with_reference(result, ref)


def _with_reference(result: dict, ref: float | None) -> dict:
    return attach_reference(result, ref, value_key="bulk_modulus_GPa", ref_key="dft_bulk_modulus_GPa", error_key="error_GPa")
