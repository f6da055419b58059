"""Bulk modulus task (MOFSimBench §1.3): defaults, validation, EOS fit path, EMT Cu against a direct scan."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from mofsim_engine.errors import InvalidParameter
from mofsim_engine.tasks import bulk_modulus

from conftest import DATA


def test_defaults_are_mofsimbench():
    assert bulk_modulus.validate({}) == {"opt_fmax": 0.001, "opt_steps": 1000, "eps": 0.04, "npoints": 11,
                                         "point_fmax": 0.001, "point_steps": 1000, "eos": "birchmurnaghan"}


@pytest.mark.parametrize("params,field,text", [
    ({"eps": 0}, "eps", "eps must be > 0 (got 0)"),
    ({"npoints": 3}, "npoints", "npoints must be ≥ 5 (got 3)"),
    ({"point_steps": -1}, "point_steps", "≥ 0 (got -1)"),
    ({"eos": "sj"}, "eos", "one of"),
    ({"strain_range": 0.05}, "strain_range", "unknown parameter"),
])
def test_invalid_params(params, field, text):
    with pytest.raises(InvalidParameter) as ei:
        bulk_modulus.validate(params)
    assert ei.value.field == field and text in ei.value.message


def _dft_row(structure):
    with open(DATA / "dft" / "bulk_modulus_dft.csv", newline="") as f:
        return next(r for r in csv.DictReader(f) if r["structure"] == structure)


@pytest.mark.parametrize("structure,expected", [("MOF-5", 16.062275), ("calf", 28.157759)])
def test_fit_reproduces_dft_refit(structure, expected):
    """Acceptance A/B: the benchmark's fit path on the DFT E–V points (Hartree) gives the CSV's B0."""
    row = _dft_row(structure)
    v = json.loads(row["volumes_A3"])
    e = [x * units.Hartree for x in json.loads(row["energies_au"])]
    fit = bulk_modulus.fit_eos(v, e, "birchmurnaghan")
    assert fit["B_GPa"] == pytest.approx(expected, abs=2e-3)
    assert fit["B_GPa"] == pytest.approx(float(row["B0_GPa"]), rel=1e-4)
    assert fit["rmse"] < 1e-3


def test_strained_points_are_isotropic_volume_strain():
    a = bulk("Cu", "fcc", a=3.6, cubic=True)
    pts = bulk_modulus.strained_points(a, 0.04, 11)
    ratios = [p.get_volume() / a.get_volume() for _, p in pts]
    assert ratios == pytest.approx(list(np.linspace(0.96, 1.04, 11)), abs=1e-12)
    assert np.allclose(pts[0][1].get_scaled_positions(), a.get_scaled_positions())


def test_emt_copper_matches_direct_scan(make_ctx):
    a = bulk("Cu", "fcc", a=3.60, cubic=True)
    a.rattle(0.02, seed=2)
    r = bulk_modulus.run(a, {"opt_steps": 200, "point_steps": 200}, make_ctx(EMT(), model_id="emt",
                                                                              structure_name="MOF-5_primitive"))
    # direct E(V) scan of the perfect lattice with ase's EOS
    vs, es = [], []
    for lat in np.linspace(3.50, 3.70, 11):
        c = bulk("Cu", "fcc", a=lat, cubic=True)
        c.calc = EMT()
        vs.append(c.get_volume())
        es.append(c.get_potential_energy())
    eos = EquationOfState(vs, es, eos="birchmurnaghan")
    v0, e0, B = eos.fit()
    assert r["status"] == "ok" and r["fit_ok"] is True
    assert r["bulk_modulus_GPa"] == pytest.approx(B / units.kJ * 1e24, rel=0.01)
    assert 125 < r["bulk_modulus_GPa"] < 145  # EMT Cu ≈ 134 GPa
    assert r["pressure_derivative"] == pytest.approx(eos.eos_parameters[2], rel=0.05)
    assert r["equilibrium_volume_A3"] == pytest.approx(v0, rel=1e-3)
    assert len(r["volumes_A3"]) == 11 and all(r["point_converged"])
    # R² of the fit over the run's own points, recomputed here.
    own = EquationOfState(r["volumes_A3"], r["energies_eV"], eos="birchmurnaghan")
    own.fit(warn=False)
    e_pts = np.asarray(r["energies_eV"])
    resid = own.func(np.asarray(r["volumes_A3"]), *own.eos_parameters) - e_pts
    r2 = 1.0 - np.sum(resid**2) / np.sum((e_pts - e_pts.mean()) ** 2)
    assert 0.99 < r2 <= 1.0 and r["fit_r_squared"] == pytest.approx(r2, abs=1e-9)
    assert r["minimum_offset_percent"] < 0.1 and r["minimum_outside_1_percent"] is False
    assert r["reference"]["dft_bulk_modulus_GPa"] == pytest.approx(16.062275)
    json.dumps(r, allow_nan=False)


class NaNCalc(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": math.nan, "forces": np.full((n, 3), math.nan), "stress": np.full(6, math.nan)}


def test_nan_model_is_a_result(make_ctx):
    r = bulk_modulus.run(bulk("Cu", "fcc", a=3.6), {"opt_steps": 5}, make_ctx(NaNCalc()))
    assert r["status"] == "nan" and r["bulk_modulus_GPa"] is None
    json.dumps(r, allow_nan=False)


@pytest.mark.parametrize("name,b0", [("MOF-5", 16.06), ("calf", 28.16), ("IPAQOI_full", 10.162)])
def test_dft_refit_handles_hartree_and_ev_rows(name, b0):
    """Refits of the DFT E-V points give the CSV's B0, including the three rows whose energies are in eV."""
    from mofsim_engine.reference import EV_VALUED_ROWS, bulk_modulus_reference

    ref = bulk_modulus_reference(name)
    assert ref is not None
    assert abs(ref.refit_B_GPa() - b0) < 0.01
    assert abs(ref.refit_B_GPa() - ref.B0_GPa) < 0.6
    assert all(abs(e) > 1e4 for e in ref.energies_eV)  # eV magnitudes for every row
    for key in EV_VALUED_ROWS:
        other = bulk_modulus_reference(key)
        assert abs(other.refit_B_GPa() - other.B0_GPa) < 0.6, key
