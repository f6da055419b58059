"""Interaction energy task (MOFSimBench §1.5): E_int = E(complex) − E(framework) − E(isolated guest)."""
from __future__ import annotations

import json

import ase.io
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from mofsim_engine.errors import InvalidParameter
from mofsim_engine.tasks import interaction_energy

SIG, EPS, RC = 3.4, 0.0104, 10.2


def lj_pair(r):
    """ASE LennardJones (smooth=False) pair energy: 4ε[(σ/r)^12 − (σ/r)^6] shifted to zero at rc."""
    v = lambda x: 4 * EPS * ((SIG / x) ** 12 - (SIG / x) ** 6)  # noqa: E731
    return v(r) - v(RC) if r < RC else 0.0


def toy_complex():
    """One 'framework' atom and a two-atom 'guest' (tags 1) in a 30 Å periodic box (no image within rc)."""
    a = Atoms("Ar3", positions=[[15, 15, 15], [15, 15, 18.8], [15, 15, 22.6]], cell=[30, 30, 30], pbc=True)
    a.set_tags([0, 1, 1])
    return a


def test_defaults():
    eff = interaction_energy.validate({})
    assert eff == {"framework_path": None, "guest_path": None, "guest": None, "guest_indices": None,
                   "guest_box_A": 30.0, "include_forces": True, "guest_atoms": None,
                   # placement on a bare framework: the Python service's executor defaults (CONTRACT.md §2.5)
                   "placement": "grid", "n_grid_points": [3, 3, 3], "n_random_points": 20, "seed": 0,
                   "sites_A": None, "min_distance_A": 2.0, "relax_guest": True, "guest_fmax": 0.05,
                   "guest_max_steps": 100}
    # the effective parameters are stored and validated again when the job runs: a fixed point
    assert interaction_energy.validate(eff) == eff
    placed = interaction_energy.validate({"guest_atoms": {"symbols": ["Ar"], "positions": [[0, 0, 0]]},
                                          "placement": "specified", "sites_A": [[1, 2, 3]]})
    assert interaction_energy.validate(placed) == placed


@pytest.mark.parametrize("params,field,text", [
    ({"guest": "Xe2"}, "guest", "one of H2, CO2, CH4, N2, H2O, CO, NH3 (got 'Xe2')"),
    ({"guest": "CO2", "guest_path": "/x.xyz"}, "guest_path", "give one of"),
    ({"framework_path": "rel.xyz"}, "framework_path", "absolute"),
    ({"guest_indices": []}, "guest_indices", "at least one"),
    ({"guest_indices": [1, 1]}, "guest_indices", "repeat"),
    ({"adsorbate": "CO2"}, "adsorbate", "unknown parameter"),
])
def test_invalid_params(params, field, text):
    with pytest.raises(InvalidParameter) as ei:
        interaction_energy.validate(params)
    assert ei.value.field == field and text in ei.value.message


def test_toy_complex_by_hand(make_ctx):
    r = interaction_energy.run(toy_complex(), {}, make_ctx(LennardJones(sigma=SIG, epsilon=EPS, rc=RC)))
    # guest–guest pair cancels against the isolated guest; framework alone has no pair
    expected = lj_pair(3.8) + lj_pair(7.6)
    assert r["status"] == "ok"
    assert r["interaction_energy_eV"] == pytest.approx(expected, abs=1e-12)
    assert r["framework_energy_eV"] == pytest.approx(0.0, abs=1e-12)
    assert r["guest_energy_eV"] == pytest.approx(lj_pair(3.8), abs=1e-12)
    assert r["guest_source"] == "complex" and r["framework_source"] == "tags" and r["guest_pbc"] == [False] * 3
    assert (r["n_atoms"], r["n_framework_atoms"], r["n_guest_atoms"]) == (3, 1, 2)
    assert len(r["forces_eV_A"]) == 3
    json.dumps(r, allow_nan=False)


def test_co2_with_indices_and_files(make_ctx, tmp_path):
    host = Atoms("Cu4", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
                 cell=[3.61] * 3, pbc=True) * (3, 3, 3)
    co2 = molecule("CO2")
    co2.translate([5.4, 5.4, 3.0])
    cplx = host + co2
    n = len(host)
    ctx = make_ctx(EMT())
    r = interaction_energy.run(cplx.copy(), {"guest": "CO2", "guest_indices": [n, n + 1, n + 2]}, ctx)

    def e(a):
        a = a.copy()
        a.calc = EMT()
        return a.get_potential_energy()

    iso = molecule("CO2")
    iso.pbc = False
    expected = e(cplx) - e(host) - e(iso)
    assert r["adsorbate"] == "CO2" and r["guest_source"] == "ase.build.molecule"
    assert r["interaction_energy_eV"] == pytest.approx(expected, abs=1e-9)

    # the same from uploaded framework and guest files
    ase.io.write(tmp_path / "fw.extxyz", host)
    ase.io.write(tmp_path / "g.xyz", iso)
    r2 = interaction_energy.run(cplx.copy(), {"framework_path": str(tmp_path / "fw.extxyz"),
                                              "guest_path": str(tmp_path / "g.xyz")}, make_ctx(EMT()))
    assert r2["interaction_energy_eV"] == pytest.approx(expected, abs=1e-9)
    assert r2["adsorbate"] == "CO2" and r2["framework_source"] == "framework_path"


def test_run_errors(make_ctx, tmp_path):
    ctx = make_ctx(EMT())
    plain = toy_complex()
    plain.set_tags(0)
    with pytest.raises(InvalidParameter) as ei:  # no guest anywhere: neither in the structure nor named
        interaction_energy.run(plain, {}, ctx)
    assert ei.value.field == "framework_path"

    with pytest.raises(InvalidParameter) as ei:
        interaction_energy.run(toy_complex(), {"guest_indices": [7]}, ctx)
    assert "out of range" in ei.value.message
    with pytest.raises(InvalidParameter) as ei:
        interaction_energy.run(toy_complex(), {"framework_path": str(tmp_path / "missing.xyz"), "guest": "H2O"}, ctx)
    assert ei.value.field == "framework_path" and "not found" in ei.value.message
    with pytest.raises(InvalidParameter) as ei:  # 1 framework atom + H2O (3) ≠ 3 atoms
        interaction_energy.run(toy_complex(), {"guest": "H2O"}, ctx)
    assert "≠ complex" in ei.value.message


def test_golddac_reference_from_info(make_ctx):
    a = toy_complex()
    a.info.update(DFT_E_total=-10.0, DFT_E_mof=-6.0, DFT_E_gas=-3.5)
    r = interaction_energy.run(a, {}, make_ctx(LennardJones(sigma=SIG, epsilon=EPS, rc=RC)))
    assert r["reference"]["dft_interaction_energy_eV"] == pytest.approx(-0.5)
    assert r["reference"]["error_eV"] == pytest.approx(r["interaction_energy_eV"] + 0.5)
