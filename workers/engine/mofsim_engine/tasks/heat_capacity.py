"""Heat capacity: MOFSimBench `heat_capacity/heat_capacity.py` + `heat_capacity.yaml` (PROTOCOLS.md §1.4, §2.4).

1. Full relaxation: BFGS + FrechetCellFilter, fmax 0.001 eV/Å, at most 1000 steps.
2. Phonons (as calorine's get_force_constants): PhonopyAtoms(symbols, cell, scaled_positions, masses);
   Phonopy(unitcell, supercell_matrix=[1, 1, 1]) with the benchmark-era defaults (symprec 1e-5, no primitive
   matrix; phonopy 4 changed that default to "auto", so primitive_matrix="P" is passed explicitly);
   generate_displacements(distance=0.01) (is_plusminus "auto"); forces of every displaced supercell from the model
   (nothing subtracted); produce_force_constants(); run_mesh(100) (a scalar mesh is a length in Å for phonopy);
   run_thermal_properties(t_min=0, t_max=1000, t_step=10).
3. Cv in J/(K·mol of cells) from phonopy; Cv_g = Cv_mol / Σ masses (amu) of phonopy's primitive cell (the unit
   cell here) in J/(g·K); Cv(300 K) is the value at T = 300.

The displaced supercells are independent single points: `displaced_supercells` builds them, `compute_forces`
evaluates them all at once (threads via ctx.map_parallel, so the model's batcher runs them as batched forward
passes), or one after the other when the context is not parallel.
"""
from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from ase import Atoms

from ..errors import InvalidParameter
from .context import JobContext
from .md_checkpoint import Params, attach_reference, lookup_reference
from .relax import relax

IMAGINARY_TOLERANCE_THZ = 0.05  # frequencies at Γ below −this count as imaginary (acoustic-mode noise is smaller)
MAX_TEMPERATURES = 100_001

ALLOWED = ("opt_fmax", "opt_steps", "supercell", "displacement_A", "mesh", "t_min_K", "t_max_K", "t_step_K")


def validate(params: dict | None) -> dict:
    p = Params(params, ALLOWED)
    eff = {
        "opt_fmax": p.float("opt_fmax", 0.001, minimum=0.0, exclusive_minimum=True),
        "opt_steps": p.int("opt_steps", 1000, minimum=0),
        "supercell": p.int_list("supercell", [1, 1, 1], length=3, minimum=1),
        "displacement_A": p.float("displacement_A", 0.01, minimum=0.0, exclusive_minimum=True, maximum=0.5),
        "mesh": None,
        "t_min_K": p.float("t_min_K", 0.0, minimum=0.0),
        "t_max_K": p.float("t_max_K", 1000.0, minimum=0.0),
        "t_step_K": p.float("t_step_K", 10.0, minimum=0.0, exclusive_minimum=True),
    }
    mesh = p.raw.get("mesh", 100.0)
    if isinstance(mesh, (list, tuple)):
        eff["mesh"] = p.int_list("mesh", [1, 1, 1], length=3, minimum=1)
    else:
        eff["mesh"] = p.float("mesh", 100.0, minimum=0.0, exclusive_minimum=True, maximum=1000.0)
    if eff["t_max_K"] < eff["t_min_K"]:
        raise InvalidParameter("t_max_K", f"t_max_K must be ≥ t_min_K ({eff['t_min_K']:g}) (got {eff['t_max_K']:g})")
    if (eff["t_max_K"] - eff["t_min_K"]) / eff["t_step_K"] > MAX_TEMPERATURES:
        raise InvalidParameter("t_step_K", f"t_step_K gives more than {MAX_TEMPERATURES} temperatures "
                                           f"(got {eff['t_step_K']:g})")
    return eff


def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def cv_per_gram(cv_J_per_K_mol, masses_amu):
    """MOFSimBench `heat_capacity_g`: phonopy Cv per mole of cells [J/(K·mol)] / Σ masses [amu = g/mol] -> J/(g·K)."""
    return np.asarray(cv_J_per_K_mol, dtype=float) / float(np.sum(masses_amu))


def make_phonopy(atoms: Atoms, eff: dict):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unitcell = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=np.array(atoms.get_cell()),
                            scaled_positions=atoms.get_scaled_positions(), masses=atoms.get_masses())
    # primitive_matrix="P" (identity): the benchmark ran phonopy < 4, whose default was no primitive matrix; phonopy 4
    # defaults to "auto" (search a primitive cell), which would change the q-mesh and the per-mole unit.
    phonon = Phonopy(unitcell, supercell_matrix=eff["supercell"], primitive_matrix="P")
    phonon.generate_displacements(distance=eff["displacement_A"])
    return phonon


def displaced_supercells(phonon) -> list[Atoms]:
    out = []
    for sc in phonon.supercells_with_displacements:
        out.append(Atoms(symbols=sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True))
    return out


def compute_forces(cells: list[Atoms], ctx: JobContext, *, progress_offset: float, progress_span: float) -> np.ndarray:
    """Forces of every displaced supercell, in order: submitted together when `ctx.can_parallel()` (the batcher
    merges them), else one after the other."""
    n = len(cells)
    if ctx.can_parallel() and n > 1:
        finished = [0]
        lock = threading.Lock()

        def forces_of(child: JobContext, a: Atoms) -> np.ndarray:
            child.check_cancelled()
            a.calc = child.calculator
            f = np.array(a.get_forces(), dtype=float)
            a.calc = None  # the child's calculator is released when its thread ends
            with lock:
                finished[0] += 1
                k = finished[0]
            ctx.progress(force=(k == 1 or k == n), stage="phonons", step=k, max_steps=n,
                         progress=round(progress_offset + progress_span * k / n, 3))
            return f

        return np.array(ctx.map_parallel(forces_of, cells))
    forces = []
    for i, a in enumerate(cells):
        ctx.check_cancelled()
        a.calc = ctx.calculator
        f = np.array(a.get_forces(), dtype=float)
        forces.append(f)
        ctx.progress(force=(i == 0 or i == n - 1), stage="phonons", step=i + 1, max_steps=n,
                     progress=round(progress_offset + progress_span * (i + 1) / n, 3))
    return np.array(forces)


def run(atoms: Atoms, params: dict, ctx: JobContext) -> dict:
    eff = validate(params)
    if atoms.calc is None:
        atoms.calc = ctx.calculator
    work_dir = Path(ctx.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    opt_span = 50.0 if eff["opt_steps"] > 0 else 0.0
    opt = relax(atoms, ctx, optimizer="BFGS", cell_filter="frechet", fmax=eff["opt_fmax"],
                max_steps=eff["opt_steps"], stage="opt", progress_offset=0.0, progress_span=opt_span)
    result: dict = {
        "status": "ok",
        "opt_converged": bool(opt.converged),
        "opt_steps": opt.steps,
        "opt_fmax_final_eV_A": _finite(opt.fmax_final),
        "volume_A3": _finite(atoms.get_volume()),
        "warnings": [],
    }
    ref = lookup_reference("heat_capacity_dft_300K.csv", "cif_name", "cv_300K_JperKperg", ctx.structure_name)
    if opt.status in ("exploded", "nan"):
        result.update(status=opt.status, failure_reason=f"{opt.status} during the relaxation")
        return _with_reference(result, ref)
    if not opt.converged:
        result["warnings"].append(f"relaxation not converged in {opt.steps} steps (benchmark continues)")

    phonon = make_phonopy(atoms, eff)
    cells = displaced_supercells(phonon)
    result["n_displacements"] = len(cells)
    ctx.log("INFO", f"phonopy: {len(cells)} displaced supercells of {len(cells[0]) if cells else 0} atoms")
    forces = compute_forces(cells, ctx, progress_offset=opt_span, progress_span=95.0 - opt_span)
    if not np.all(np.isfinite(forces)):
        result.update(status="nan", failure_reason="NaN forces in a displaced supercell")
        return _with_reference(result, ref)
    phonon.forces = forces
    phonon.produce_force_constants()
    phonon.save(filename=str(work_dir / "phonopy_params.yaml"), settings={"force_constants": True})

    gamma = np.asarray(phonon.run_qpoints([[0.0, 0.0, 0.0]]).frequencies[0], dtype=float)  # THz
    phonon.run_mesh(eff["mesh"])
    phonon.run_thermal_properties(t_min=eff["t_min_K"], t_max=eff["t_max_K"], t_step=eff["t_step_K"])
    tp = phonon.thermal_properties
    temps = np.asarray(tp.temperatures, dtype=float)
    cv_mol = np.asarray(tp.heat_capacity, dtype=float)  # J/(K·mol of cells)
    entropy = np.asarray(tp.entropy, dtype=float)  # J/(K·mol)
    free_energy = np.asarray(tp.free_energy, dtype=float)  # kJ/mol
    mass_amu = float(np.sum(phonon.primitive.masses))
    cv_g = cv_per_gram(cv_mol, phonon.primitive.masses)
    np.savez(work_dir / "thermal_properties.npz", temperatures=temps, heat_capacity_mol=cv_mol,
             heat_capacity_g=cv_g, entropy=entropy, free_energy=free_energy,
             t_min=eff["t_min_K"], t_max=eff["t_max_K"], t_step=eff["t_step_K"])

    idx = np.where(np.abs(temps - 300.0) < 1e-6)[0]
    if len(idx):
        cv300 = float(cv_g[idx[0]])
    elif len(temps) > 1 and temps[0] <= 300.0 <= temps[-1]:
        cv300 = float(np.interp(300.0, temps, cv_g))
        result["warnings"].append("300 K is not on the temperature grid: Cv(300 K) interpolated")
    else:
        cv300 = None
    n_imag = int(np.sum(gamma < -IMAGINARY_TOLERANCE_THZ))
    if n_imag:
        result["warnings"].append(f"{n_imag} imaginary modes at Γ (< −{IMAGINARY_TOLERANCE_THZ} THz)")
    result.update(
        temperatures_K=[_finite(t) for t in temps],
        heat_capacity_J_per_K_mol=[_finite(c) for c in cv_mol],
        heat_capacities=[_finite(c) for c in cv_g],
        heat_capacity_at_300K=_finite(cv300),
        entropy_J_per_K_mol=[_finite(s) for s in entropy],
        free_energy_kJ_per_mol=[_finite(f) for f in free_energy],
        total_mass_amu=mass_amu,
        imaginary_modes=n_imag,
        imaginary_tolerance_THz=IMAGINARY_TOLERANCE_THZ,
        min_frequency_gamma_THz=_finite(gamma.min()) if len(gamma) else None,
        phonopy_yaml_path=str(work_dir / "phonopy_params.yaml"),
        thermal_properties_path=str(work_dir / "thermal_properties.npz"),
    )
    ctx.progress(force=True, stage="thermal", step=len(cells), max_steps=len(cells), progress=100.0)
    return _with_reference(result, ref)


def _with_reference(result: dict, ref: float | None) -> dict:
    return attach_reference(result, ref, value_key="heat_capacity_at_300K", ref_key="dft_heat_capacity_at_300K", error_key="error")
