"""Single point: energy, forces and stress of the input geometry."""
from __future__ import annotations

import math

import numpy as np
from ase import units

from .context import JobContext
from .params import boolean, reject_unknown

DEFAULTS = {"compute_forces": True, "compute_stress": True}


def validate(params: dict) -> dict:
    params = params or {}
    reject_unknown(params, DEFAULTS)
    return {
        "compute_forces": boolean(params, "compute_forces", DEFAULTS["compute_forces"]),
        "compute_stress": boolean(params, "compute_stress", DEFAULTS["compute_stress"]),
    }


def run(atoms, params: dict, ctx: JobContext) -> dict:
    ctx.check_cancelled()
    atoms.calc = ctx.calculator
    energy = float(atoms.get_potential_energy())
    n = len(atoms)
    result: dict = {"energy_eV": energy, "energy_per_atom_eV": energy / n, "n_atoms": n}
    finite = math.isfinite(energy)
    if params["compute_forces"]:
        forces = atoms.get_forces()
        finite &= bool(np.all(np.isfinite(forces)))
        result["forces_eV_A"] = forces.tolist()
        result["max_force_eV_A"] = float(np.sqrt((forces ** 2).sum(axis=1)).max())
    if params["compute_stress"]:
        stress = atoms.get_stress(voigt=True)  # ASE Voigt order xx yy zz yz xz xy, eV/Å^3
        finite &= bool(np.all(np.isfinite(stress)))
        result["stress_GPa"] = (stress / units.GPa).tolist()
    result["status"] = "ok" if finite else "nan"
    ctx.progress(force=True, stage="single_point", step=1, max_steps=1, energy_eV=energy if finite else None,
                 progress=100.0)
    return result
