"""Guest screening on a bare framework: where does one gas molecule bind best, and how strongly?

This is the derived Python service's interaction-energy executor (its `submit_interaction_energy(model,
framework_cif, gas_molecule="CO2")`, CONTRACT.md §2.5), which the benchmark itself does not have: MOFSimBench
scores prepared GoldDAC complexes (PROTOCOLS.md §1.5), and that protocol stays the default whenever the structure
already holds its guest (tags, `guest_indices`, `framework_path`). Here the structure is the framework alone:

1. E_framework: one single point of the framework.
2. E_guest: the isolated molecule (ASE's built-in geometry, a `guest_atoms` geometry or an upload), non-periodic
   as the benchmark's CO2.xyz/H2O.xyz are. The reference executor uses a 20 Å periodic box instead; with D3's
   40 Bohr (21 Å) cutoff that box lets a molecule feel its own images, so we keep the benchmark's isolated guest.
3. Candidate sites: `grid` (n×n×n cell-centre fractional points, the reference's default 3×3×3), `random`
   (uniform fractional points from `seed`: reproducible, unlike the reference), or `specified` (Cartesian Å).
   The guest's centre of mass is put on each site; a site is skipped when any guest atom is closer than
   `min_distance_A` to a framework atom, measured through periodic images (the reference ignores them, so it
   accepts sites that overlap a neighbouring cell's atoms).
4. Each remaining site: the framework frozen (FixAtoms), the guest relaxed with BFGS (`guest_fmax`,
   `guest_max_steps`, as the reference), E_int = E(complex) − E_framework − E_guest. The sites are independent, so
   they run together (map_parallel) and each optimizer step of every site meets in the model's batcher.
5. The lowest E_int wins; the best complex is written as a CIF.

Physics failures are results: a site whose relaxation goes NaN or explodes is reported as failed, and when no site
is left the task completes with status `no_valid_site` and a null energy (never an infinity in the JSON).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.geometry import get_distances

from ..errors import InvalidParameter
from .context import JobContext
from .md_checkpoint import Params
from .relax import relax

# The reference executor's hard-coded gases; all of them are in ase.build.molecule's G2 set.
GAS_MOLECULES = ("H2", "CO2", "CH4", "N2", "H2O", "CO", "NH3")
PLACEMENTS = ("grid", "random", "specified")
COMPLEX_FILE = "complex.cif"
TOP_SITES = 10  # as the reference's `all_results`
MAX_SITES = 1000  # a screening larger than this is a campaign, not one task
GUEST_TAG = 1

ALLOWED = ("placement", "n_grid_points", "n_random_points", "seed", "sites_A", "min_distance_A", "relax_guest",
           "guest_fmax", "guest_max_steps", "guest_atoms")


def validate(p: Params) -> dict:
    """The placement parameters (defaults: the reference executor's), checked; raises InvalidParameter."""
    placement = p.choice("placement", "grid", PLACEMENTS)
    eff = {
        "placement": placement,
        "n_grid_points": p.int_list("n_grid_points", [3, 3, 3], length=3, minimum=1),
        "n_random_points": p.int("n_random_points", 20, minimum=1, maximum=MAX_SITES),
        "seed": p.int("seed", 0, minimum=0, maximum=2**32 - 1),
        "sites_A": None,
        "min_distance_A": p.float("min_distance_A", 2.0, minimum=0.0, maximum=10.0),
        "relax_guest": True,
        "guest_fmax": p.float("guest_fmax", 0.05, minimum=0.0, exclusive_minimum=True, maximum=10.0),
        "guest_max_steps": p.int("guest_max_steps", 100, minimum=0, maximum=10_000),
    }
    n_grid = math.prod(eff["n_grid_points"])
    if n_grid > MAX_SITES:
        raise InvalidParameter("n_grid_points", f"n_grid_points gives {n_grid} sites (at most {MAX_SITES})")
    if "relax_guest" in p.raw and p.raw["relax_guest"] is not None:
        v = p.raw["relax_guest"]
        if not isinstance(v, bool):
            raise InvalidParameter("relax_guest", f"relax_guest must be true or false (got {v!r})")
        eff["relax_guest"] = v
    if p.has("sites_A"):
        eff["sites_A"] = _points(p.raw["sites_A"], "sites_A", MAX_SITES)
    if placement == "specified" and eff["sites_A"] is None:
        raise InvalidParameter("sites_A", "placement 'specified' needs sites_A: a list of [x, y, z] in Å")
    if placement != "specified" and eff["sites_A"] is not None:
        raise InvalidParameter("sites_A", f"sites_A is only used with placement 'specified' (got placement {placement!r})")
    return eff


def custom_guest(raw, field: str = "guest_atoms") -> Atoms:
    """A guest from `{symbols: [...], positions: [[x, y, z], ...]}` (Å), as the reference's custom_gas_atoms."""
    if not isinstance(raw, dict) or set(raw) - {"symbols", "positions"}:
        raise InvalidParameter(field, f"{field} must be an object {{symbols, positions}} (got {raw!r})")
    symbols = raw.get("symbols")
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise InvalidParameter(f"{field}.symbols", f"{field}.symbols must be a non-empty list of element symbols")
    if len(symbols) > 100:
        raise InvalidParameter(f"{field}.symbols", f"{field} may have at most 100 atoms (got {len(symbols)})")
    positions = _points(raw.get("positions"), f"{field}.positions", len(symbols))
    if len(positions) != len(symbols):
        raise InvalidParameter(f"{field}.positions",
                               f"{field} has {len(symbols)} symbols but {len(positions)} positions")
    try:
        return Atoms(symbols=symbols, positions=positions)
    except (KeyError, ValueError) as exc:
        raise InvalidParameter(f"{field}.symbols", f"{field}.symbols: unknown element ({exc})") from exc


def _points(raw, field: str, limit: int) -> list[list[float]]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise InvalidParameter(field, f"{field} must be a non-empty list of [x, y, z] (got {raw!r})")
    if len(raw) > limit:
        raise InvalidParameter(field, f"{field} may list at most {limit} points (got {len(raw)})")
    out = []
    for pt in raw:
        if (not isinstance(pt, (list, tuple)) or len(pt) != 3
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) < 1e4
                           for x in pt)):
            raise InvalidParameter(field, f"{field} entries must be [x, y, z] of finite numbers in Å (got {pt!r})")
        out.append([float(x) for x in pt])
    return out


def candidate_sites(cell: np.ndarray, eff: dict) -> np.ndarray:
    """Cartesian sites (Å), shape (n, 3), in the order they are reported."""
    if eff["placement"] == "specified":
        return np.asarray(eff["sites_A"], dtype=float)
    if eff["placement"] == "grid":
        nx, ny, nz = eff["n_grid_points"]
        frac = np.array([[(i + 0.5) / nx, (j + 0.5) / ny, (k + 0.5) / nz]
                         for i in range(nx) for j in range(ny) for k in range(nz)], dtype=float)
    else:
        frac = np.random.default_rng(eff["seed"]).random((eff["n_random_points"], 3))
    return frac @ np.asarray(cell, dtype=float)


def place(guest: Atoms, site: np.ndarray) -> Atoms:
    """The guest translated so that its centre of mass sits on `site`."""
    g = Atoms(numbers=guest.numbers, positions=guest.positions)
    g.translate(np.asarray(site, dtype=float) - g.get_center_of_mass())
    return g


def closest_approach(framework: Atoms, guest_positions: np.ndarray) -> float:
    """Shortest guest–framework distance (Å) through the framework's periodic images."""
    _, d = get_distances(guest_positions, framework.positions, cell=framework.cell, pbc=framework.pbc)
    return float(d.min())


@dataclass
class SiteOutcome:
    index: int
    site_A: list[float]
    status: str  # "ok" | "too_close" | "not_converged" | "nan" | "exploded"
    closest_A: float
    interaction_energy_eV: float | None = None
    complex_energy_eV: float | None = None
    guest_position_A: list[float] | None = None  # mean of the guest atoms after relaxation, as the reference
    steps: int = 0
    converged: bool | None = None
    complex: Atoms | None = None


def run(framework: Atoms, guest: Atoms, eff: dict, ctx: JobContext, *, e_framework: float, e_guest: float) -> dict:
    """Screens the sites; returns the result fields of the screening (energies in eV, positions in Å)."""
    if not framework.pbc.all() or framework.cell.rank < 3:
        raise InvalidParameter("structure", "guest placement needs a periodic framework with a 3-D cell")
    sites = candidate_sites(framework.cell.array, eff)
    outcomes: list[SiteOutcome] = []
    todo: list[SiteOutcome] = []
    for i, site in enumerate(sites):
        g = place(guest, site)
        closest = closest_approach(framework, g.positions)
        o = SiteOutcome(index=i, site_A=[float(x) for x in site], status="ok", closest_A=closest)
        if closest < eff["min_distance_A"]:
            o.status = "too_close"
        else:
            todo.append(o)
        outcomes.append(o)
    n_fw = len(framework)
    done = [0]

    def screen(child: JobContext, o: SiteOutcome) -> SiteOutcome:
        g = place(guest, np.asarray(o.site_A))
        g.set_tags([GUEST_TAG] * len(g))
        cx = framework.copy()
        cx.set_tags([0] * n_fw)
        cx += g
        cx.set_constraint(FixAtoms(indices=list(range(n_fw))))
        cx.calc = child.calculator
        if eff["relax_guest"] and eff["guest_max_steps"] > 0:
            out = relax(cx, child, optimizer="bfgs", cell_filter=None, fmax=eff["guest_fmax"],
                        max_steps=eff["guest_max_steps"], stage=f"site_{o.index}")
            o.steps, o.converged = out.steps, out.converged
            if out.status in ("nan", "exploded"):
                o.status = out.status
                return o
            e_total = float(out.energies[-1]) if out.energies else float(cx.get_potential_energy())
        else:
            child.check_cancelled()
            e_total = float(cx.get_potential_energy())
        e_int = e_total - e_framework - e_guest
        if not math.isfinite(e_int):
            o.status = "nan"
            return o
        o.status = "ok" if o.converged is not False else "not_converged"
        o.complex_energy_eV, o.interaction_energy_eV = e_total, e_int
        o.guest_position_A = [float(x) for x in cx.positions[n_fw:].mean(axis=0)]
        o.complex = cx
        return o

    def on_progress(i: int, force: bool, fields: dict) -> None:
        if fields.get("site_done"):
            done[0] += 1
            ctx.progress(force=True, stage="sites", step=done[0], max_steps=len(todo),
                         progress=10.0 + 90.0 * done[0] / max(1, len(todo)))

    def screen_reporting(child: JobContext, o: SiteOutcome) -> SiteOutcome:
        r = screen(child, o)
        child.progress(force=True, site_done=True)
        return r

    if todo:
        ctx.map_parallel(screen_reporting, todo, on_progress=on_progress)
    scored = sorted((o for o in outcomes if o.interaction_energy_eV is not None), key=lambda o: o.interaction_energy_eV)
    best = scored[0] if scored else None
    result = {
        "status": "ok" if best else "no_valid_site",
        "placement": eff["placement"],
        "n_sites": len(outcomes),
        "n_sites_skipped": sum(o.status == "too_close" for o in outcomes),
        "n_sites_failed": sum(o.status in ("nan", "exploded") for o in outcomes),
        "n_sites_not_converged": sum(o.status == "not_converged" for o in outcomes),
        "min_distance_A": eff["min_distance_A"],
        "relax_guest": eff["relax_guest"],
        "interaction_energy_eV": best.interaction_energy_eV if best else None,
        "complex_energy_eV": best.complex_energy_eV if best else None,
        "best_site_index": best.index if best else None,
        "best_site_A": best.site_A if best else None,
        "best_guest_position_A": best.guest_position_A if best else None,
        "sites": [_site_row(o) for o in scored[:TOP_SITES]],
    }
    if eff["placement"] == "random":
        result["seed"] = eff["seed"]
    if best is None:
        result["reason"] = ("every site is closer than min_distance_A to the framework" if not todo
                            else "no site gave a finite interaction energy")
    else:
        path = ctx.work_dir / COMPLEX_FILE
        best.complex.set_constraint()
        best.complex.write(path, format="cif")
        result["complex_structure_path"] = str(path)
    return result


def _site_row(o: SiteOutcome) -> dict:
    return {"index": o.index, "site_A": o.site_A, "guest_position_A": o.guest_position_A,
            "interaction_energy_eV": o.interaction_energy_eV, "converged": o.converged, "steps": o.steps,
            "closest_approach_A": o.closest_A, "status": o.status}
