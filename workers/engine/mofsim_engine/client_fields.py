"""The result names the reference Python client reads, beside ours.

`mofsim_client.TaskResult` reads plain keys (`bulk_modulus`, `final_energy`, …) from a task's result; our results
name their units (`bulk_modulus_GPa`, `final_energy_eV`, …). Every result gets those plain keys here, in one place,
copied from ours, in the units the client documents (eV, eV/Å, GPa, Å³, K; heat capacity and entropy per mole of
cells, free energy in eV per cell, all at 300 K). `openapi/mofsim.yaml` states them per task type.
"""
from __future__ import annotations

import math

from ase import units

#: The temperature the client's scalar thermal properties are reported at (MOFSimBench reports Cv at 300 K).
THERMAL_T_K = 300.0


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _at_temperature(temps, values, t: float):
    """values(t) on the temperature grid, linearly interpolated; None outside it or on non-finite data."""
    if not temps or not values or len(temps) != len(values):
        return None
    pairs = [(float(a), _num(b)) for a, b in zip(temps, values) if _num(a) is not None]
    for a, b in pairs:
        if abs(a - t) < 1e-6:
            return b
    for (a0, b0), (a1, b1) in zip(pairs, pairs[1:]):
        if a0 < t < a1:
            return None if b0 is None or b1 is None else b0 + (b1 - b0) * (t - a0) / (a1 - a0)
    return None


def _optimization(r: dict) -> dict:
    return {
        "initial_energy": _num(r.get("initial_energy_eV")),
        "final_energy": _num(r.get("final_energy_eV")),
        "n_steps": r.get("steps"),
        "final_fmax": _num(r.get("max_force_eV_A")),
    }


def _single_point(r: dict) -> dict:
    return {"energy": _num(r.get("energy_eV"))}


def _stability(r: dict) -> dict:
    return {
        "is_stable": r.get("stable"),
        "final_temperature": _num(r.get("final_temperature_K")),
        "final_pressure": _num(r.get("final_pressure_GPa")),
    }


def _bulk_modulus(r: dict) -> dict:
    return {
        "bulk_modulus": _num(r.get("bulk_modulus_GPa")),
        "bulk_modulus_derivative": _num(r.get("pressure_derivative")),
        "equilibrium_volume": _num(r.get("equilibrium_volume_A3")),
        "equilibrium_energy": _num(r.get("equilibrium_energy_eV")),
        "r_squared": _num(r.get("fit_r_squared")),
        "volumes": r.get("volumes_A3"),
        "energies": r.get("energies_eV"),
    }


def _heat_capacity(r: dict) -> dict:
    temps = r.get("temperatures_K")
    free = _at_temperature(temps, r.get("free_energy_kJ_per_mol"), THERMAL_T_K)
    return {
        "heat_capacity": _at_temperature(temps, r.get("heat_capacity_J_per_K_mol"), THERMAL_T_K),
        "entropy": _at_temperature(temps, r.get("entropy_J_per_K_mol"), THERMAL_T_K),
        "free_energy": None if free is None else free * units.kJ / units.mol,
        "temperatures": temps,
    }


def _interaction_energy(r: dict) -> dict:
    e = _num(r.get("interaction_energy_eV"))
    # Binding energy: the energy gained on adsorption, positive for a bound guest.
    return {"interaction_energy": e, "binding_energy": None if e is None else -e}


_BY_TASK = {
    "optimization": _optimization,
    "single_point": _single_point,
    "stability": _stability,
    "bulk_modulus": _bulk_modulus,
    "heat_capacity": _heat_capacity,
    "interaction_energy": _interaction_energy,
}


def add_client_fields(task_type: str, result: dict) -> dict:
    """Adds the client's names to `result` (in place, also returned); a name the task already set is kept."""
    fields = _BY_TASK.get(task_type)
    if fields is None:
        return result
    for key, value in fields(result).items():
        result.setdefault(key, value)
    return result
