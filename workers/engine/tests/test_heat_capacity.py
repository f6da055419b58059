"""Heat capacity task (MOFSimBench §1.4): defaults, validation, unit conversion, EMT Cu vs Dulong–Petit."""
from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mofsim_engine.errors import InvalidParameter
from mofsim_engine.tasks import heat_capacity

from conftest import DATA

R = 8.314462618  # J/(K·mol)


def test_defaults_are_mofsimbench():
    assert heat_capacity.validate({}) == {"opt_fmax": 0.001, "opt_steps": 1000, "supercell": [1, 1, 1],
                                          "displacement_A": 0.01, "mesh": 100.0, "t_min_K": 0.0, "t_max_K": 1000.0,
                                          "t_step_K": 10.0}
    assert heat_capacity.validate({"mesh": [4, 4, 4]})["mesh"] == [4, 4, 4]


@pytest.mark.parametrize("params,field,text", [
    ({"supercell": [1, 1]}, "supercell", "list of 3"),
    ({"supercell": [0, 1, 1]}, "supercell", "≥ 1"),
    ({"displacement_A": -0.01}, "displacement_A", "> 0 (got -0.01)"),
    ({"t_min_K": 500, "t_max_K": 100}, "t_max_K", "≥ t_min_K"),
    ({"t_step_K": 0}, "t_step_K", "> 0 (got 0)"),
    ({"temperature_range": [0, 1]}, "temperature_range", "unknown parameter"),
])
def test_invalid_params(params, field, text):
    with pytest.raises(InvalidParameter) as ei:
        heat_capacity.validate(params)
    assert ei.value.field == field and text in ei.value.message


def test_cv_unit_conversion_rsm0010():
    """Acceptance: tot_cv 263.3042 J/(K·mol) / Σm of hcmof/RSM0010.cif (380.878 amu) = 0.6913 J/(g·K)."""
    atoms = ase.io.read(DATA / "structures" / "hcmof" / "RSM0010.cif")
    assert atoms.get_masses().sum() == pytest.approx(380.878, abs=1e-3)
    cv = heat_capacity.cv_per_gram([263.30416187355684], atoms.get_masses())
    assert cv[0] == pytest.approx(0.691308, abs=1e-6)


def test_emt_copper_dulong_petit(make_ctx, tmp_path):
    atoms = bulk("Cu", "fcc", a=3.60, cubic=True)  # 4 atoms, 1×1×1 supercell as the benchmark
    ctx = make_ctx(EMT(), model_id="emt", structure_name="RSM0010_primitive")
    r = heat_capacity.run(atoms, {"opt_steps": 100}, ctx)
    assert r["status"] == "ok" and r["n_displacements"] >= 1 and r["imaginary_modes"] == 0
    T = np.array(r["temperatures_K"])
    assert len(T) == 101 and T[30] == 300.0
    cv_mol = np.array(r["heat_capacity_J_per_K_mol"])
    assert cv_mol[-1] == pytest.approx(3 * R * 4, rel=0.015)  # Dulong–Petit at 1000 K (Cu θ_D ≈ 340 K)
    assert cv_mol[0] == 0.0 and np.all(np.diff(cv_mol) >= -1e-9)
    assert np.allclose(r["heat_capacities"], cv_mol / atoms.get_masses().sum())
    assert r["heat_capacity_at_300K"] == r["heat_capacities"][30]
    assert r["reference"]["dft_heat_capacity_at_300K"] == pytest.approx(0.691308, abs=1e-6)
    assert (tmp_path / "phonopy_params.yaml").exists() and (tmp_path / "thermal_properties.npz").exists()
    steps = [d["step"] for e, d in ctx.events if e == "progress" and d.get("stage") == "phonons"]
    assert steps and steps[-1] == r["n_displacements"]
    json.dumps(r, allow_nan=False)
