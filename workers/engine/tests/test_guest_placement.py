"""Guest placement on a bare framework (the Python service's interaction-energy executor, CONTRACT.md §2.5)."""
from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from mofsim_engine.errors import InvalidParameter
from mofsim_engine.tasks import guest_placement, interaction_energy

SIG, EPS, RC = 3.4, 0.0104, 10.2
R_MIN = 2 ** (1 / 6) * SIG  # where the LJ pair force vanishes (the energy shift does not move it)


def lj_pair(r):
    v = lambda x: 4 * EPS * ((SIG / x) ** 12 - (SIG / x) ** 6)  # noqa: E731
    return v(r) - v(RC) if r < RC else 0.0


def lj():
    return LennardJones(sigma=SIG, epsilon=EPS, rc=RC)


def lone_atom_framework(pos=(10.0, 10.0, 10.0)):
    """One Ar in a 25 Å periodic cube: no image of anything is within the 10.2 Å cutoff of anything else."""
    return Atoms("Ar", positions=[pos], cell=[25.0] * 3, pbc=True)


AR_GUEST = {"symbols": ["Ar"], "positions": [[0.0, 0.0, 0.0]]}


def test_specified_sites_without_relaxation_by_hand(make_ctx):
    sites = [[16.0, 10.0, 10.0], [13.8, 10.0, 10.0], [10.0, 14.5, 10.0]]  # 6.0, 3.8 and 4.5 Å from the atom
    r = interaction_energy.run(lone_atom_framework(), {"guest_atoms": AR_GUEST, "placement": "specified",
                                                       "sites_A": sites, "relax_guest": False}, make_ctx(lj()))
    assert r["mode"] == "placement" and r["status"] == "ok"
    assert r["interaction_energy_eV"] == pytest.approx(lj_pair(3.8), abs=1e-12)
    assert r["best_site_index"] == 1 and r["best_site_A"] == sites[1]
    # every site is reported, best first
    assert [s["index"] for s in r["sites"]] == [1, 2, 0]
    assert [s["interaction_energy_eV"] for s in r["sites"]] == pytest.approx([lj_pair(3.8), lj_pair(4.5), lj_pair(6.0)])
    assert r["framework_energy_eV"] == pytest.approx(0.0, abs=1e-12) and r["guest_energy_eV"] == pytest.approx(0.0)
    json.dumps(r, allow_nan=False)


def test_guest_relaxes_to_the_pair_minimum(make_ctx, tmp_path):
    ctx = make_ctx(lj())
    r = interaction_energy.run(lone_atom_framework(), {"guest_atoms": AR_GUEST, "placement": "specified",
                                                       "sites_A": [[14.6, 10.0, 10.0]], "guest_fmax": 1e-4,
                                                       "guest_max_steps": 200}, ctx)
    site = r["sites"][0]
    assert site["converged"] is True and site["steps"] > 0
    d = np.linalg.norm(np.array(r["best_guest_position_A"]) - [10.0, 10.0, 10.0])
    assert d == pytest.approx(R_MIN, abs=2e-3)
    assert r["interaction_energy_eV"] == pytest.approx(lj_pair(R_MIN), abs=1e-6)
    assert r["interaction_energy_eV"] < lj_pair(4.6)  # relaxation lowered it
    # the framework stayed where it was (FixAtoms), and the best complex was written
    cx = ase.io.read(r["complex_structure_path"])
    assert len(cx) == 2 and np.allclose(cx.positions[0], [10.0, 10.0, 10.0])
    assert any(e == "progress" and d.get("stage") == "sites" for e, d in ctx.events)


def test_min_distance_counts_periodic_images(make_ctx):
    # 18.5 Å apart in the cell, 1.5 Å through the boundary: the reference's non-periodic check would accept it.
    fw = Atoms("Ar", positions=[[0.5, 10.0, 10.0]], cell=[20.0] * 3, pbc=True)
    r = interaction_energy.run(fw, {"guest_atoms": AR_GUEST, "placement": "specified",
                                    "sites_A": [[19.0, 10.0, 10.0], [5.0, 10.0, 10.0]], "relax_guest": False},
                               make_ctx(lj()))
    assert r["n_sites"] == 2 and r["n_sites_skipped"] == 1
    assert r["best_site_index"] == 1 and len(r["sites"]) == 1
    assert guest_placement.closest_approach(fw, np.array([[19.0, 10.0, 10.0]])) == pytest.approx(1.5)


def test_no_valid_site_is_a_result_not_an_error(make_ctx):
    r = interaction_energy.run(lone_atom_framework(), {"guest_atoms": AR_GUEST, "placement": "specified",
                                                       "sites_A": [[10.5, 10.0, 10.0]]}, make_ctx(lj()))
    assert r["status"] == "no_valid_site" and r["interaction_energy_eV"] is None
    assert "min_distance_A" in r["reason"] and r["sites"] == []
    json.dumps(r, allow_nan=False)  # never an infinity


def test_grid_and_random_sites():
    cell = np.diag([10.0, 20.0, 30.0])
    grid = guest_placement.candidate_sites(cell, {"placement": "grid", "n_grid_points": [2, 1, 3]})
    assert grid.shape == (6, 3)
    assert {tuple(x) for x in np.round(grid, 6)} == {(x, 10.0, z) for x in (2.5, 7.5) for z in (5.0, 15.0, 25.0)}
    a = guest_placement.candidate_sites(cell, {"placement": "random", "n_random_points": 5, "seed": 7})
    b = guest_placement.candidate_sites(cell, {"placement": "random", "n_random_points": 5, "seed": 7})
    c = guest_placement.candidate_sites(cell, {"placement": "random", "n_random_points": 5, "seed": 8})
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all((a >= 0) & (a < np.diag(cell)))


def test_builtin_gas_on_grid_centres_the_molecule(make_ctx):
    fw = lone_atom_framework((0.0, 0.0, 0.0))
    r = interaction_energy.run(fw, {"guest": "N2", "n_grid_points": [2, 2, 2], "relax_guest": False}, make_ctx(lj()))
    assert r["adsorbate"] == "N2" and r["n_guest_atoms"] == 2 and r["n_sites"] == 8
    # every cell-centre grid site is (6.25|18.75)^3: all equally far from the corner atom through images
    energies = [s["interaction_energy_eV"] for s in r["sites"]]
    assert len(energies) == 8 and max(energies) - min(energies) < 1e-9


@pytest.mark.parametrize("params,field", [
    ({"guest": "CO2", "placement": "spiral"}, "placement"),
    ({"guest": "CO2", "placement": "specified"}, "sites_A"),
    ({"guest": "CO2", "sites_A": [[0, 0, 0]]}, "sites_A"),
    ({"guest": "CO2", "placement": "specified", "sites_A": [[0, 0]]}, "sites_A"),
    ({"guest": "CO2", "placement": "specified", "sites_A": [[0, 0, float("nan")]]}, "sites_A"),
    ({"guest": "CO2", "n_grid_points": [11, 10, 10]}, "n_grid_points"),
    ({"guest": "CO2", "n_grid_points": [0, 1, 1]}, "n_grid_points"),
    ({"guest": "CO2", "min_distance_A": -1}, "min_distance_A"),
    ({"guest": "CO2", "relax_guest": "yes"}, "relax_guest"),
    ({"guest": "CO2", "guest_fmax": 0}, "guest_fmax"),
    ({"guest_atoms": {"symbols": ["Ar"], "positions": [[0, 0, 0], [1, 1, 1]]}}, "guest_atoms.positions"),
    ({"guest_atoms": {"symbols": ["Qq"], "positions": [[0, 0, 0]]}}, "guest_atoms.symbols"),
    ({"guest_atoms": {"symbols": ["Ar"]}}, "guest_atoms.positions"),
    ({"guest": "CO2", "guest_atoms": AR_GUEST}, "guest_atoms"),
])
def test_invalid_placement_params(params, field):
    with pytest.raises(InvalidParameter) as ei:
        interaction_energy.validate(params)
    assert ei.value.field == field


def test_placement_needs_a_periodic_framework(make_ctx):
    mol = Atoms("Ar", positions=[[0, 0, 0]])
    with pytest.raises(InvalidParameter) as ei:
        interaction_energy.run(mol, {"guest": "CO2"}, make_ctx(lj()))
    assert ei.value.field == "structure"


def test_sevennet_sites_share_batches_and_match_the_sequential_run(make_ctx, monkeypatch):
    """CO2 on calf with SevenNet-0 + D3: the sites' relaxations share batched forward passes, and the answer is the
    one the same sites give one after the other."""
    from mofsim_engine.cache import ModelCache

    from conftest import CALF

    monkeypatch.setenv("MOFSIM_BATCH_MAX_ATOMS", "200")  # the CPU default (64) merges only smaller structures
    cache = ModelCache("cpu", "float32")
    framework = ase.io.read(str(CALF))
    frac = [[0.5, 0.5, 0.5], [0.25, 0.75, 0.5], [0.5, 0.0, 0.0]]
    params = {"guest": "CO2", "placement": "specified", "sites_A": (np.array(frac) @ framework.cell.array).tolist(),
              "guest_max_steps": 3, "min_distance_A": 1.5}
    batcher = cache.get("sevennet_prod").batcher
    runs = {}
    for mode in ("parallel", "sequential"):
        calc = cache.job_calculator("sevennet_prod")
        ctx = make_ctx(calc, model_id="sevennet_prod", job_id=mode)
        ctx.parallel = mode == "parallel"
        before = batcher.stats()
        try:
            runs[mode] = interaction_energy.run(framework.copy(), params, ctx)
        finally:
            calc.release()
        after = batcher.stats()
        runs[mode + "_calls"] = (after["requests"] - before["requests"], after["batches"] - before["batches"])
    r = runs["parallel"]
    assert r["status"] == "ok" and r["n_sites"] == 3 and r["n_sites"] - r["n_sites_skipped"] >= 2, r
    requests, batches = runs["parallel_calls"]
    assert batches < requests  # merged
    assert runs["sequential_calls"][0] == runs["sequential_calls"][1]
    # Sites 0 and 2 are symmetry-equivalent on calf (the same closest approach); their energies differ by float32
    # noise (~1e-7 eV), so either may be the best one. The parallel run's best must be one of the sequential run's
    # best sites within that noise.
    seq = {row["index"]: row["interaction_energy_eV"] for row in runs["sequential"]["sites"]}
    assert r["best_site_index"] in seq
    assert seq[r["best_site_index"]] == pytest.approx(runs["sequential"]["interaction_energy_eV"], abs=1e-4)
    assert r["interaction_energy_eV"] == pytest.approx(runs["sequential"]["interaction_energy_eV"], abs=2e-3)
    assert -2.0 < r["interaction_energy_eV"] < 0.5  # a physisorbed CO2, not an explosion
