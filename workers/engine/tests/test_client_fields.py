"""The reference Python client's result names (client_fields): copied from ours, in the units its docs state."""
import pytest
from ase import units

from mofsim_engine.client_fields import add_client_fields


def test_heat_capacity_at_300K_interpolated_and_converted():
    r = {"temperatures_K": [0.0, 250.0, 350.0], "heat_capacity_J_per_K_mol": [0.0, 100.0, 200.0],
         "entropy_J_per_K_mol": [0.0, 10.0, 30.0], "free_energy_kJ_per_mol": [5.0, 4.0, 2.0]}
    add_client_fields("heat_capacity", r)
    assert r["heat_capacity"] == pytest.approx(150.0)
    assert r["entropy"] == pytest.approx(20.0)
    assert r["free_energy"] == pytest.approx(3.0 * 0.0103642688, rel=1e-6)  # kJ/mol → eV
    assert r["free_energy"] == pytest.approx(3.0 * units.kJ / units.mol)
    assert r["temperatures"] == r["temperatures_K"]


def test_heat_capacity_outside_the_grid_is_none():
    r = {"temperatures_K": [0.0, 100.0], "heat_capacity_J_per_K_mol": [0.0, 1.0]}
    add_client_fields("heat_capacity", r)
    assert r["heat_capacity"] is None and r["entropy"] is None and r["free_energy"] is None


def test_names_per_task_and_nothing_overwritten():
    r = add_client_fields("optimization", {"initial_energy_eV": -2.0, "final_energy_eV": -3.0, "steps": 7,
                                           "max_force_eV_A": 0.04, "converged": True})
    assert (r["initial_energy"], r["final_energy"], r["n_steps"], r["final_fmax"]) == (-2.0, -3.0, 7, 0.04)
    r = add_client_fields("interaction_energy", {"interaction_energy_eV": -0.25})
    assert (r["interaction_energy"], r["binding_energy"]) == (-0.25, 0.25)
    r = add_client_fields("bulk_modulus", {"bulk_modulus_GPa": 12.0, "pressure_derivative": 4.5, "fit_r_squared": 0.999,
                                           "equilibrium_volume_A3": 900.0, "equilibrium_energy_eV": -5.0,
                                           "bulk_modulus": 99.0})
    assert r["bulk_modulus"] == 99.0, "a name the task set itself is kept"
    assert (r["bulk_modulus_derivative"], r["r_squared"], r["equilibrium_volume"], r["equilibrium_energy"]) == (4.5, 0.999, 900.0, -5.0)
    r = add_client_fields("stability", {"stable": False, "final_temperature_K": float("nan"), "final_pressure_GPa": 0.1})
    assert (r["is_stable"], r["final_temperature"], r["final_pressure"]) == (False, None, 0.1), "NaN is not JSON: None"
    assert add_client_fields("single_point", {"energy_eV": -1.5})["energy"] == -1.5
