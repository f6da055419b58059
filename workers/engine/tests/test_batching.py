"""Batching (batching/batcher.py, ModelAdapter.predict): batched == unbatched, concurrent requests merge, a bad
structure fails alone, and the bulk-modulus / heat-capacity parallel paths give the sequential results."""
from __future__ import annotations

import threading
import time

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from mofsim_engine.batching import Batcher
from mofsim_engine.cache import ModelCache
from mofsim_engine.errors import JobCancelled
from mofsim_engine.models.base import Prediction, predict_one
from mofsim_engine.models.classical import LJ_EPSILON_EV, LJ_RC_A, LJ_RO_A, LJ_SIGMA_A
from mofsim_engine.tasks import bulk_modulus, heat_capacity

from conftest import CALF, DATA, MAIN_SET

RSM0004 = DATA / "structures" / "hcmof" / "RSM0004.cif"  # 13 atoms
LTA = MAIN_SET / "LTA.cif"  # 72 atoms


def _co2() -> Atoms:
    """A non-periodic molecule (as interaction_energy's isolated guest): no stress, no cell."""
    return Atoms("CO2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 1.17], [0.0, 0.0, -1.16]])


def _mixed() -> list[Atoms]:
    return [ase.io.read(str(CALF)), ase.io.read(str(LTA)), ase.io.read(str(RSM0004)), _co2()]


def _assert_same(batched: list[Prediction], reference: list[Prediction], structures: list[Atoms], *,
                 e_per_atom=1e-5, f=1e-4, s=1e-6):
    assert len(batched) == len(reference) == len(structures)
    for b, r, a in zip(batched, reference, structures):
        n = len(a)
        assert abs(b.energy_eV - r.energy_eV) / n < e_per_atom, a.get_chemical_formula()
        assert b.forces_eV_A.shape == (n, 3)
        assert np.abs(b.forces_eV_A - r.forces_eV_A).max() < f, a.get_chemical_formula()
        if a.pbc.all():
            assert b.stress_eV_A3.shape == (6,)
            assert np.abs(b.stress_eV_A3 - r.stress_eV_A3).max() < s, a.get_chemical_formula()
        else:
            assert b.stress_eV_A3 is None and r.stress_eV_A3 is None


# --- the Batcher on its own (a fake model: fast, deterministic) --------------------------------------------------

def _fake_model(calls: list, fail_symbol: str | None = None, delay_s: float = 0.02):
    """predict = sum of atomic numbers as the energy; raises for any batch holding `fail_symbol`."""

    def one(atoms):
        if fail_symbol is not None and fail_symbol in atoms.get_chemical_symbols():
            raise ValueError(f"model does not know {fail_symbol}")
        return Prediction(float(atoms.numbers.sum()), np.zeros((len(atoms), 3)), None)

    def batch(structures):
        calls.append(len(structures))
        time.sleep(delay_s)
        return [one(a) for a in structures]

    return batch, one


def _submit_all(batcher: Batcher, structures: list[Atoms]):
    results: list = [None] * len(structures)

    def go(i):
        try:
            results[i] = batcher.submit(structures[i])
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(structures))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_batcher_merges_concurrent_requests():
    calls: list[int] = []
    predict, one = _fake_model(calls)
    b = Batcher(predict, one, max_wait_s=1.0, max_batch_atoms=10_000, name="fake")
    for _ in range(6):
        b.register_client()
    structures = [Atoms("H" * (i + 1)) for i in range(6)]
    results = _submit_all(b, structures)
    assert [r.energy_eV for r in results] == [float(i + 1) for i in range(6)]
    # all six clients waiting -> one batch, sent without waiting out the 1 s window
    assert calls == [6]
    st = b.stats()
    assert st["max_batch_size"] == 6 and st["batches"] == 1 and st["requests"] == 6
    assert st["batch_size_histogram"] == {"6": 1} and st["fallbacks"] == 0
    # 1+2+...+6 = 21 atoms: the 32 bin, [batches, atoms]
    assert st["batch_atoms_histogram"] == {"32": [1, 21]}


def test_batcher_single_client_does_not_wait():
    calls: list[int] = []
    predict, one = _fake_model(calls, delay_s=0.0)
    b = Batcher(predict, one, max_wait_s=5.0, name="fake")  # a 5 s window: a wait would show
    b.register_client()
    t0 = time.monotonic()
    for _ in range(3):
        assert b.submit(Atoms("He")).energy_eV == 2.0
    assert time.monotonic() - t0 < 2.0 and calls == [1, 1, 1]


def test_batcher_respects_atom_budget():
    calls: list[int] = []
    predict, one = _fake_model(calls)
    b = Batcher(predict, one, max_wait_s=1.0, max_batch_atoms=10, name="fake")
    for _ in range(5):
        b.register_client()
    results = _submit_all(b, [Atoms("H4") for _ in range(4)] + [Atoms("H30")])
    assert all(isinstance(r, Prediction) for r in results)
    assert sum(calls) == 5 and max(calls) <= 2  # 4+4 fit in 10 atoms, 4+4+4 do not; the 30-atom one runs alone
    st = b.stats()
    assert st["max_batch_atoms_seen"] == 30
    assert st["batch_atoms_histogram"]["32"] == [1, 30]
    assert sum(n for n, _ in st["batch_atoms_histogram"].values()) == st["batches"]
    assert sum(a for _, a in st["batch_atoms_histogram"].values()) == 46


def test_batcher_survives_a_failing_structure():
    calls: list[int] = []
    predict, one = _fake_model(calls, fail_symbol="Po")
    b = Batcher(predict, one, max_wait_s=1.0, name="fake")
    for _ in range(4):
        b.register_client()
    results = _submit_all(b, [Atoms("H2"), Atoms("Po"), Atoms("C"), Atoms("O")])
    assert isinstance(results[1], ValueError) and "Po" in str(results[1])
    assert [results[i].energy_eV for i in (0, 2, 3)] == [2.0, 6.0, 8.0]
    st = b.stats()
    assert st["fallbacks"] == 1 and st["failed_requests"] == 1
    # the batcher keeps working afterwards
    assert b.submit(Atoms("N")).energy_eV == 7.0


def test_batcher_counts_out_of_memory_where_it_happens():
    # A batch too large for the device: the batched call runs out of memory, its structures then succeed alone.
    def one(atoms):
        return Prediction(float(atoms.numbers.sum()), np.zeros((len(atoms), 3)), None)

    def batch(structures):
        if len(structures) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [one(a) for a in structures]

    b = Batcher(batch, one, max_wait_s=1.0, name="fake")
    for _ in range(3):
        b.register_client()
    results = _submit_all(b, [Atoms("H"), Atoms("He"), Atoms("Li")])
    assert [r.energy_eV for r in results] == [1.0, 2.0, 3.0]
    st = b.stats()
    assert st["out_of_memory"] == 1 and st["fallbacks"] == 1 and st["failed_requests"] == 0


def test_default_atom_budget(monkeypatch):
    from mofsim_engine.batching import max_batch_atoms

    for var in ("MOFSIM_BATCH_MAX_ATOMS", "MOFSIM_BATCH_MEMORY_MB"):
        monkeypatch.delenv(var, raising=False)
    assert max_batch_atoms(1.0, "cpu") == 64  # CPU: small structures only (see batcher.py)
    monkeypatch.setenv("MOFSIM_BATCH_MEMORY_MB", "2000")
    assert max_batch_atoms(2.0, "cpu") == 1000  # memory / memory per atom
    monkeypatch.setenv("MOFSIM_BATCH_MAX_ATOMS", "300")
    assert max_batch_atoms(2.0, "cpu") == 300


def test_batcher_disabled_is_the_per_model_lock_path():
    calls: list[int] = []
    predict, one = _fake_model(calls)
    b = Batcher(predict, one, enabled=False, name="fake")
    results = _submit_all(b, [Atoms("H") for _ in range(4)])
    assert all(r.energy_eV == 1.0 for r in results)
    assert calls == [] and b.stats()["max_batch_size"] == 1 and b.stats()["batches"] == 4


# --- LJ (classical test model): the default looped predict behind the batcher ------------------------------------

def _lj_reference(a: Atoms) -> Prediction:
    return predict_one(LennardJones(sigma=LJ_SIGMA_A, epsilon=LJ_EPSILON_EV, rc=LJ_RC_A, ro=LJ_RO_A, smooth=True),
                       a.copy())


def test_lj_batched_equals_unbatched():
    cache = ModelCache("cpu", "float64", max_wait_s=0.5, max_batch_atoms=10_000)
    lm = cache.get("lj_test")
    structures = _mixed()
    _assert_same(lm.adapter.predict(lm.calculator, [a.copy() for a in structures]),
                 [_lj_reference(a) for a in structures], structures, e_per_atom=1e-12, f=1e-12, s=1e-12)
    # through job calculators in concurrent threads
    calcs = [cache.job_calculator("lj_test") for _ in structures]
    got: list = [None] * len(structures)

    def go(i):
        a = structures[i].copy()
        a.calc = calcs[i]
        got[i] = Prediction(a.get_potential_energy(), a.get_forces(),
                            a.get_stress() if a.pbc.all() else None)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(structures))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in calcs:
        c.release()
    _assert_same(got, [_lj_reference(a) for a in structures], structures, e_per_atom=1e-12, f=1e-12, s=1e-12)
    st = {m["id"]: m for m in cache.status()}["lj_test"]["batching"]
    assert st["max_batch_size"] > 1 and st["clients"] == 0


def _lj_cache(batching: bool) -> ModelCache:
    return ModelCache("cpu", "float64", batching=batching)


def _small_structure() -> Atoms:
    a = ase.io.read(str(RSM0004))
    a.rattle(0.01, seed=3)
    return a


def test_bulk_modulus_parallel_equals_sequential(make_ctx):
    params = {"opt_steps": 30, "point_steps": 40, "npoints": 7}
    out = {}
    for mode in ("sequential", "parallel"):
        cache = _lj_cache(batching=(mode == "parallel"))
        calc = cache.job_calculator("lj_test")
        ctx = make_ctx(calc, job_id=f"bm-{mode}")
        ctx.parallel = mode == "parallel"
        try:
            out[mode] = bulk_modulus.run(_small_structure(), params, ctx)
        finally:
            calc.release()
        stats = cache.status()[0]["batching"]
        if mode == "parallel":
            assert stats["max_batch_size"] > 1  # the volume points met in the batcher
            progress = [d["progress"] for e, d in ctx.events if e == "progress"]
            assert progress == sorted(progress) and progress[-1] == pytest.approx(100.0)
        else:
            assert stats["max_batch_size"] == 1
    seq, par = out["sequential"], out["parallel"]
    assert seq["point_steps"] == par["point_steps"]
    assert np.allclose(seq["volumes_A3"], par["volumes_A3"], rtol=0, atol=1e-10)
    assert np.allclose(seq["energies_eV"], par["energies_eV"], rtol=0, atol=1e-10)
    assert seq["status"] == par["status"]
    if seq["bulk_modulus_GPa"] is not None:
        assert par["bulk_modulus_GPa"] == pytest.approx(seq["bulk_modulus_GPa"], rel=1e-9)


def test_heat_capacity_parallel_equals_sequential(make_ctx):
    params = {"opt_steps": 20}
    out = {}
    for mode in ("sequential", "parallel"):
        cache = _lj_cache(batching=True)
        calc = cache.job_calculator("lj_test")
        ctx = make_ctx(calc, job_id=f"hc-{mode}")
        ctx.parallel = mode == "parallel"
        try:
            out[mode] = heat_capacity.run(_small_structure(), params, ctx)
        finally:
            calc.release()
        stats = cache.status()[0]["batching"]
        assert (stats["max_batch_size"] > 1) == (mode == "parallel")
    seq, par = out["sequential"], out["parallel"]
    assert seq["n_displacements"] == par["n_displacements"] > 1
    assert np.allclose(seq["heat_capacities"], par["heat_capacities"], rtol=1e-9, atol=1e-12)
    assert par["heat_capacity_at_300K"] == pytest.approx(seq["heat_capacity_at_300K"], rel=1e-9)


def test_map_parallel_stops_all_on_cancel(make_ctx):
    cache = _lj_cache(batching=True)
    calc = cache.job_calculator("lj_test")
    ctx = make_ctx(calc)
    seen = []

    def work(child, i):
        for _ in range(200):
            child.check_cancelled()
            if i == 2:
                ctx.cancel_event.set()
            time.sleep(0.001)
        seen.append(i)
        return i

    with pytest.raises(JobCancelled):
        ctx.map_parallel(work, list(range(6)))
    calc.release()
    assert 2 not in seen
    assert cache.status()[0]["in_use"] == 0 and cache.status()[0]["batching"]["clients"] == 0


def test_map_parallel_reraises_the_first_error_and_releases_calculators(make_ctx):
    cache = _lj_cache(batching=True)
    calc = cache.job_calculator("lj_test")
    ctx = make_ctx(calc)

    def work(child, i):
        if i == 3:
            raise ZeroDivisionError("point 3")
        return i * i

    with pytest.raises(ZeroDivisionError):
        ctx.map_parallel(work, list(range(8)))
    assert ctx.map_parallel(lambda child, i: i * i, list(range(8))) == [i * i for i in range(8)]
    calc.release()
    assert cache.status()[0]["in_use"] == 0


# --- SevenNet-0 + D3: the real batched forward pass --------------------------------------------------------------

@pytest.fixture(scope="module")
def cache():
    """This module's own cache (test_models checks that the session cache has loaded nothing yet)."""
    return ModelCache("cpu", "float32")


def test_sevennet_d3_batched_equals_unbatched(cache):
    """Acceptance: one batched forward pass over calf (44), LTA (72), RSM0004 (13) and an isolated CO2 agrees
    with MOFSimBench's SumCalculator([SevenNetCalculator, TorchDFTD3Calculator]) structure by structure."""
    lm = cache.get("sevennet_prod")
    structures = _mixed()
    with lm.lock:
        batched = lm.adapter.predict(lm.calculator, [a.copy() for a in structures])
        reference = [predict_one(lm.calculator, a.copy()) for a in structures]
    _assert_same(batched, reference, structures, e_per_atom=1e-5, f=1e-4, s=1e-6)


def test_sevennet_concurrent_jobs_share_a_batch_and_a_bad_structure_fails_alone(cache):
    """Three job calculators in three threads: one batched call; a structure with an element the model lacks (Po)
    fails only its own caller."""
    lm = cache.get("sevennet_prod")
    small = ase.io.read(str(RSM0004))
    structures = [small.copy(), small.copy(), small.copy()]
    structures[1].positions[0] += 0.05
    structures[2].numbers[0] = 84  # Po: not in SevenNet-0's type map
    before = lm.batcher.stats()
    calcs = [cache.job_calculator("sevennet_prod") for _ in structures]
    got: list = [None] * 3

    def go(i):
        a = structures[i].copy()
        a.calc = calcs[i]
        try:
            got[i] = (a.get_potential_energy(), a.get_forces(), a.get_stress())
        except Exception as exc:  # noqa: BLE001 - inspected below
            got[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in calcs:
        c.release()
    after = lm.batcher.stats()
    assert isinstance(got[2], Exception)
    with lm.lock:
        reference = [predict_one(lm.calculator, a.copy()) for a in structures[:2]]
    for (e, f, s), r, a in zip(got[:2], reference, structures):
        assert abs(e - r.energy_eV) / len(a) < 1e-5
        assert np.abs(f - r.forces_eV_A).max() < 1e-4
        assert np.abs(s - r.stress_eV_A3).max() < 1e-6
    assert after["requests"] - before["requests"] == 3
    assert after["batches"] - before["batches"] < 3  # at least two of the three calls shared a forward pass
    assert after["fallbacks"] - before["fallbacks"] >= 1


def test_sevennet_phonon_forces_parallel_equal_sequential(cache, make_ctx):
    atoms = ase.io.read(str(RSM0004))
    phonon = heat_capacity.make_phonopy(atoms, heat_capacity.validate({}))
    cells = heat_capacity.displaced_supercells(phonon)[:6]
    forces = {}
    batcher = cache.get("sevennet_prod").batcher
    for mode in ("sequential", "parallel"):
        before = batcher.stats()
        calc = cache.job_calculator("sevennet_prod")
        ctx = make_ctx(calc, model_id="sevennet_prod", job_id=f"ph-{mode}")
        ctx.parallel = mode == "parallel"
        try:
            forces[mode] = heat_capacity.compute_forces([c.copy() for c in cells], ctx, progress_offset=0.0,
                                                        progress_span=100.0)
        finally:
            calc.release()
        after = batcher.stats()
        assert after["requests"] - before["requests"] == 6
        if mode == "sequential":
            assert after["batches"] - before["batches"] == 6
        else:  # merged (how many batches depends on how fast the threads start: the first may go alone)
            assert after["batches"] - before["batches"] < 6
    assert forces["parallel"].shape == (6, len(atoms), 3)
    assert np.abs(forces["parallel"] - forces["sequential"]).max() < 1e-4
