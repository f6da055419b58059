"""Guest–host interaction energy: MOFSimBench `interaction_energy/interaction_energy.py` (PROTOCOLS.md §1.5, §2.5).

E_int = E(complex) − E(framework) − E(isolated guest), three single points, no relaxation, no MD.

A structure with no guest in it (no tags, no `guest_indices`, no `framework_path`) but a guest named (`guest`,
`guest_atoms` or `guest_path`) is a bare framework: the guest is then placed on candidate sites and relaxed there
(`guest_placement.py`, the Python service's executor), and the best site is reported.

The structure of the job is the complex. The framework is, in order of preference:
- `framework_path`: an uploaded configuration (absolute path, resolved by the caller);
- the complex minus its guest atoms, given by `guest_indices` or, when absent, by tags (atoms tagged ≠ 0 are the
  guest, as GoldDAC's `extract_frameworks` does with `atoms[atoms.get_tags() == 0]`).
The isolated guest is, in order of preference:
- `guest_path`: an uploaded configuration;
- `guest` ∈ {CO2, H2O}: `ase.build.molecule(guest)`, ASE's built-in geometry, as the benchmark uses (not a DFT
  geometry);
- the guest atoms cut out of the complex (rigid-guest interaction energy; not a benchmark definition).
An isolated guest (from `guest` or cut from the complex) is non-periodic, as the benchmark's CO2.xyz/H2O.xyz are:
pbc = False, centred in a cubic `guest_box_A` (30 Å) cell that only exists for calculators that want a finite
cell; with pbc False neither SevenNet's graph builder nor torch-dftd's D3 use it, so its size does not change E.
A guest read from `guest_path` keeps the file's own cell and pbc.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from ase import Atoms

from ..errors import InvalidParameter
from . import guest_placement
from .context import JobContext
from .md_checkpoint import Params

GUEST_MOLECULES = guest_placement.GAS_MOLECULES
ALLOWED = ("framework_path", "guest_path", "guest", "guest_indices", "guest_box_A", "include_forces",
           *guest_placement.ALLOWED)


def validate(params: dict | None) -> dict:
    p = Params(params, ALLOWED)
    eff = {
        "framework_path": _path(p, "framework_path"),
        "guest_path": _path(p, "guest_path"),
        "guest": p.choice("guest", None, GUEST_MOLECULES) if p.has("guest") else None,
        "guest_indices": None,
        "guest_box_A": p.float("guest_box_A", 30.0, minimum=0.0, exclusive_minimum=True, maximum=1000.0),
        "include_forces": True,
        "guest_atoms": p.raw["guest_atoms"] if p.has("guest_atoms") else None,
        # Used only when the structure is a bare framework (known at run time); stored with the defaults applied
        # so that a screening's sites are reproducible from the task's effective parameters.
        **guest_placement.validate(p),
    }
    if eff["guest_atoms"] is not None:
        guest_placement.custom_guest(eff["guest_atoms"])
    if p.has("guest_indices"):
        idx = p.int_list("guest_indices", [], minimum=0)
        if not idx:
            raise InvalidParameter("guest_indices", "guest_indices must list at least one atom (got [])")
        if len(set(idx)) != len(idx):
            raise InvalidParameter("guest_indices", f"guest_indices must not repeat atoms (got {idx})")
        eff["guest_indices"] = idx
    if "include_forces" in p.raw and p.raw["include_forces"] is not None:
        v = p.raw["include_forces"]
        if not isinstance(v, bool):
            raise InvalidParameter("include_forces", f"include_forces must be true or false (got {v!r})")
        eff["include_forces"] = v
    named = [k for k in ("guest", "guest_path", "guest_atoms") if eff[k] is not None]
    if len(named) > 1:
        raise InvalidParameter(named[1], f"give one of guest, guest_path and guest_atoms (got {', '.join(named)})")
    return eff


def _path(p: Params, name: str) -> str | None:
    v = p.raw.get(name)
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise InvalidParameter(name, f"{name} must be a file path (got {v!r})")
    if not Path(v).is_absolute():
        raise InvalidParameter(name, f"{name} must be an absolute path (got {v!r})")
    return v


def _read(path: str, field: str) -> Atoms:
    from ase.io import read

    if not Path(path).is_file():
        raise InvalidParameter(field, f"{field}: file not found ({path})")
    try:
        atoms = read(path)
    except Exception as exc:  # noqa: BLE001 - unreadable upload is the caller's input
        raise InvalidParameter(field, f"{field}: cannot read {path}: {exc}") from exc
    if len(atoms) == 0:
        raise InvalidParameter(field, f"{field}: {path} has no atoms")
    return atoms


def isolated_molecule(guest: Atoms, box_A: float) -> Atoms:
    """Non-periodic copy of a molecule, centred in a cubic box (the cell is a courtesy, pbc stays False)."""
    m = Atoms(numbers=guest.numbers, positions=guest.positions)
    m.set_cell([box_A, box_A, box_A])
    m.center()
    m.pbc = False
    return m


def guest_mask(atoms: Atoms, eff: dict) -> np.ndarray | None:
    """Boolean mask of the complex's guest atoms (guest_indices, else tags ≠ 0), or None if neither is given."""
    n = len(atoms)
    if eff["guest_indices"] is not None:
        bad = [i for i in eff["guest_indices"] if i >= n]
        if bad:
            raise InvalidParameter("guest_indices", f"guest_indices out of range for {n} atoms (got {bad[0]})")
        mask = np.zeros(n, dtype=bool)
        mask[eff["guest_indices"]] = True
        return mask
    tags = atoms.get_tags()
    if np.any(tags != 0):
        return tags != 0
    return None


def builtin_molecule(name: str) -> Atoms:
    """ASE's G2 geometry of a gas, as the benchmark's CO2.xyz/H2O.xyz come from `ase.build.molecule`."""
    from ase.build import molecule

    return molecule(name)


def _screen_framework(framework: Atoms, eff: dict, ctx: JobContext) -> dict:
    """The structure is the framework alone: E_framework, E_guest, then the guest screened over sites."""
    if eff["guest_path"] is not None:
        guest, guest_source = _read(eff["guest_path"], "guest_path"), "guest_path"
    elif eff["guest_atoms"] is not None:
        guest, guest_source = guest_placement.custom_guest(eff["guest_atoms"]), "guest_atoms"
    else:
        guest, guest_source = builtin_molecule(eff["guest"]), "ase.build.molecule"
    adsorbate = eff["guest"] or guest.get_chemical_formula(mode="hill")
    isolated = isolated_molecule(guest, eff["guest_box_A"])
    ctx.check_cancelled()
    e_framework, _ = _energy(framework, ctx)
    ctx.progress(force=True, stage="framework", step=1, max_steps=2, energy_eV=_finite(e_framework), progress=5.0)
    ctx.check_cancelled()
    e_guest, _ = _energy(isolated, ctx)
    ctx.progress(force=True, stage="guest", step=2, max_steps=2, energy_eV=_finite(e_guest), progress=10.0)
    base = {
        "mode": "placement",
        "adsorbate": adsorbate,
        "framework_energy_eV": _finite(e_framework),
        "guest_energy_eV": _finite(e_guest),
        "n_atoms": len(framework) + len(guest),
        "n_framework_atoms": len(framework),
        "n_guest_atoms": len(guest),
        "framework_source": "structure",
        "guest_source": guest_source,
        "guest_pbc": [False] * 3,
    }
    if _finite(e_framework) is None or _finite(e_guest) is None:
        return {**base, "status": "nan", "interaction_energy_eV": None,
                "reason": "the framework or the isolated guest has a non-finite energy"}
    screened = guest_placement.run(framework, guest, eff, ctx, e_framework=e_framework, e_guest=e_guest)
    return {**base, **screened}


def _energy(atoms: Atoms, ctx: JobContext, forces: bool = False):
    atoms.calc = ctx.calculator
    e = float(atoms.get_potential_energy())
    f = np.array(atoms.get_forces(), dtype=float) if forces else None
    return e, f


def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def run(atoms: Atoms, params: dict, ctx: JobContext) -> dict:
    eff = validate(params)
    mask = guest_mask(atoms, eff)
    if mask is not None and (mask.all() or not mask.any()):
        raise InvalidParameter("guest_indices", "the guest must be some but not all atoms of the complex")
    if mask is None and eff["framework_path"] is None and any(eff[k] is not None for k in ("guest", "guest_path", "guest_atoms")):
        return _screen_framework(atoms, eff, ctx)
    if eff["guest_atoms"] is not None:
        raise InvalidParameter("guest_atoms", "guest_atoms places a guest on a bare framework; this structure already "
                                              "holds its guest (tags, guest_indices or framework_path)")

    # framework
    if eff["framework_path"] is not None:
        framework, framework_source = _read(eff["framework_path"], "framework_path"), "framework_path"
    elif mask is not None:
        framework, framework_source = atoms[~mask], ("guest_indices" if eff["guest_indices"] is not None else "tags")
    else:
        raise InvalidParameter("framework_path", "give framework_path, or mark the guest atoms of the complex with "
                                                 "guest_indices or tags")
    # guest
    if eff["guest_path"] is not None:
        guest, guest_source, adsorbate = _read(eff["guest_path"], "guest_path"), "guest_path", None
    elif eff["guest"] is not None:
        guest = isolated_molecule(builtin_molecule(eff["guest"]), eff["guest_box_A"])
        guest_source, adsorbate = "ase.build.molecule", eff["guest"]
    elif mask is not None:
        guest = isolated_molecule(atoms[mask], eff["guest_box_A"])
        guest_source, adsorbate = "complex", None
    else:
        raise InvalidParameter("guest", "give guest (CO2 or H2O), guest_path, or mark the guest atoms of the complex")
    if adsorbate is None:
        adsorbate = guest.get_chemical_formula(mode="hill")

    # the atom counts must add up (a framework that is not the complex's host is a user error)
    if len(framework) + len(guest) != len(atoms):
        raise InvalidParameter(framework_source if framework_source.endswith("_path") else "guest",
                               f"framework ({len(framework)} atoms) + guest ({len(guest)} atoms) ≠ complex "
                               f"({len(atoms)} atoms)")

    ctx.check_cancelled()
    e_complex, f_complex = _energy(atoms, ctx, forces=eff["include_forces"])
    ctx.progress(force=True, stage="complex", step=1, max_steps=3, energy_eV=_finite(e_complex), progress=33.3)
    ctx.check_cancelled()
    e_framework, _ = _energy(framework, ctx)
    ctx.progress(force=True, stage="framework", step=2, max_steps=3, energy_eV=_finite(e_framework), progress=66.7)
    ctx.check_cancelled()
    e_guest, _ = _energy(guest, ctx)
    ctx.progress(force=True, stage="guest", step=3, max_steps=3, energy_eV=_finite(e_guest), progress=100.0)

    e_int = e_complex - e_framework - e_guest
    result = {
        "mode": "complex",
        "status": "ok" if math.isfinite(e_int) else "nan",
        "interaction_energy_eV": _finite(e_int),
        "complex_energy_eV": _finite(e_complex),
        "framework_energy_eV": _finite(e_framework),
        "guest_energy_eV": _finite(e_guest),
        "adsorbate": adsorbate,
        "n_atoms": len(atoms),
        "n_framework_atoms": len(framework),
        "n_guest_atoms": len(guest),
        "framework_source": framework_source,
        "guest_source": guest_source,
        "guest_pbc": [bool(x) for x in guest.pbc],
    }
    if f_complex is not None:
        finite = bool(np.all(np.isfinite(f_complex)))
        result["forces_eV_A"] = f_complex.tolist() if finite else None
        result["max_force_eV_A"] = float(np.sqrt((f_complex**2).sum(axis=1)).max()) if finite else None
        if not finite:
            result["status"] = "nan"
    # GoldDAC frames carry their DFT energies in info (test.xyz): E_int_DFT = total − mof − gas.
    info = atoms.info
    if all(k in info for k in ("DFT_E_total", "DFT_E_mof", "DFT_E_gas")):
        try:
            ref = float(info["DFT_E_total"]) - float(info["DFT_E_mof"]) - float(info["DFT_E_gas"])
            r = {"source": "GoldDAC DFT", "dft_interaction_energy_eV": ref}
            if result["interaction_energy_eV"] is not None:
                r["error_eV"] = result["interaction_energy_eV"] - ref
            result["reference"] = r
        except (TypeError, ValueError):
            pass
    return result
