import numpy as np
import pytest

from mofsim_engine.errors import EngineError
from mofsim_engine.models import get_adapter, list_models

from conftest import CALF


def test_models_list_without_loading(cache):
    models = {m["id"]: m for m in list_models()}
    sp = models["sevennet_prod"]
    assert sp["available"] is True and sp["family"] == "sevennet" and sp["kind"] == "mlip"
    assert sp["with_d3"] is True and sp["d3"]["damping"] == "bj" and sp["d3"]["cutoff_bohr"] == 40.0
    assert {"H", "C", "N", "O", "Zn", "Si"} <= set(sp["elements"]) and len(sp["elements"]) == 89
    assert models["sevennet_prod_l3i5"]["available"] is True
    lj = models["lj_test"]
    assert lj["kind"] == "classical" and "not a benchmark model" in lj["description"]
    assert len(lj["elements"]) == 94
    assert not cache.is_loaded("sevennet_prod")  # listing never loads weights


def test_unknown_model():
    with pytest.raises(EngineError) as ei:
        get_adapter("nope")
    assert ei.value.code == "UNKNOWN_MODEL"


def test_weights_sha256_is_the_checkpoint_files_hash():
    import hashlib

    a = get_adapter("sevennet_prod")
    expected = hashlib.sha256(a.weights_path.read_bytes()).hexdigest()
    assert a.weights_sha256 == expected
    # the two SevenNet keys ship different checkpoints: provenance tells them apart
    assert get_adapter("sevennet_prod_l3i5").weights_sha256 not in (None, expected)


def test_single_point_sevennet_matches_direct(cache, make_ctx):
    """Our cached job calculator == MOFSimBench's SumCalculator([SevenNetCalculator, D3]) built directly."""
    import ase.io
    from ase.calculators.mixing import SumCalculator
    from ase.units import Bohr
    from sevenn.calculator import SevenNetCalculator
    from torch_dftd.torch_dftd3_calculator import TorchDFTD3Calculator

    from mofsim_engine.tasks import single_point

    calc = cache.job_calculator("sevennet_prod")
    try:
        atoms = ase.io.read(str(CALF))
        ctx = make_ctx(calc, model_id="sevennet_prod")
        result = single_point.run(atoms, single_point.validate({}), ctx)
    finally:
        calc.release()
    assert result["status"] == "ok"
    assert np.isfinite(result["energy_eV"])
    assert np.array(result["forces_eV_A"]).shape == (44, 3)
    assert len(result["stress_GPa"]) == 6

    ref_atoms = ase.io.read(str(CALF))
    ref_atoms.calc = SumCalculator([
        SevenNetCalculator("7net-0", device="cpu"),
        TorchDFTD3Calculator(device="cpu", damping="bj", xc="pbe", cutoff=40 * Bohr),
    ])
    e_ref = ref_atoms.get_potential_energy()
    assert abs(result["energy_eV"] - e_ref) < 1e-4
    assert np.allclose(result["forces_eV_A"], ref_atoms.get_forces(), atol=1e-4)


def test_cache_loads_once_concurrently(cache):
    import threading

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("sevennet_prod"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(x) for x in got}) == 1
    st = {m["id"]: m for m in cache.status()}
    assert "sevennet_prod" in st


def test_cache_lru_eviction():
    from mofsim_engine.cache import ModelCache

    c = ModelCache("cpu", "float32", budget_MB=0.0)
    calc = c.job_calculator("lj_test")
    assert c.is_loaded("lj_test")  # in use: never evicted, model_memory_MB is 0 anyway
    calc.release()
    assert c.unload("lj_test") is True and c.unload("lj_test") is False


def test_cache_refuses_to_unload_a_model_in_use():
    import pytest

    from mofsim_engine.cache import ModelCache, ModelInUse

    c = ModelCache("cpu", "float32")
    calc = c.job_calculator("lj_test")
    with pytest.raises(ModelInUse) as refused:
        c.unload("lj_test")
    assert refused.value.in_use == 1 and "in use by 1 running job" in str(refused.value)
    assert c.is_loaded("lj_test")
    again = c.job_calculator("lj_test")  # a later job still gets the resident copy, not a second one
    assert again._loaded is calc._loaded
    calc.release()
    again.release()
    assert c.unload("lj_test") is True and not c.is_loaded("lj_test")


def test_cache_status_counts_jobs_and_reports_times():
    from datetime import datetime

    from mofsim_engine.cache import ModelCache

    c = ModelCache("cpu", "float32")
    first = c.job_calculator("lj_test")
    sibling = first.spawn()  # the same job's second thread: not another use
    second = c.job_calculator("lj_test")
    for calc in (sibling, first, second):
        calc.release()
    (st,) = c.status()
    assert st["id"] == "lj_test" and st["use_count"] == 2 and st["in_use"] == 0
    loaded = datetime.fromisoformat(st["loaded_at"].replace("Z", "+00:00"))
    used = datetime.fromisoformat(st["last_used"].replace("Z", "+00:00"))
    assert loaded <= used and abs((datetime.now(loaded.tzinfo) - loaded).total_seconds()) < 60
