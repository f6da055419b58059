import json
import threading

import ase.io
import numpy as np
import pytest

from mofsim_engine.errors import InvalidParameter, JobCancelled
from mofsim_engine.tasks import get_task, optimization, single_point
from mofsim_engine.tasks.relax import read_checkpoint, relax

from conftest import CALF, MAIN_SET


@pytest.fixture
def lj(cache):
    calc = cache.job_calculator("lj_test")
    yield calc
    calc.release()


def test_optimization_defaults_are_mofsimbench():
    p = optimization.validate({})
    assert p == {"optimizer": "LBFGS", "cell_filter": "frechet", "fmax": 0.001, "max_steps": 5000,
                 "trajectory_interval": 1, "checkpoint_interval": 50}
    assert optimization.validate({"optimizer": "fire", "cell_filter": None})["optimizer"] == "FIRE"


@pytest.mark.parametrize("params,field,text", [
    ({"fmax": 0}, "fmax", "fmax must be > 0 (got 0)"),
    ({"fmax": "x"}, "fmax", "finite number"),
    ({"max_steps": 0}, "max_steps", ">= 1"),
    ({"max_steps": True}, "max_steps", "integer"),
    ({"optimizer": "newton"}, "optimizer", "one of"),
    ({"cell_filter": "magic"}, "cell_filter", "one of"),
    ({"banana": 1}, "banana", "unknown parameter"),
])
def test_optimization_invalid_params(params, field, text):
    with pytest.raises(InvalidParameter) as ei:
        optimization.validate(params)
    assert ei.value.field == field and text in ei.value.message and ei.value.code == "INVALID_PARAMETER"


def test_single_point_params():
    assert single_point.validate({}) == {"compute_forces": True, "compute_stress": True}
    with pytest.raises(InvalidParameter):
        single_point.validate({"compute_forces": 1})


def test_unknown_task_type():
    from mofsim_engine.errors import EngineError

    with pytest.raises(EngineError) as ei:
        get_task("nope")
    assert ei.value.code == "UNKNOWN_TASK_TYPE"


def test_optimization_lj(lj, make_ctx):
    atoms = ase.io.read(str(CALF))
    ctx = make_ctx(lj, structure_name="calf")
    params = optimization.validate({"fmax": 0.05, "max_steps": 30, "checkpoint_interval": 2})
    r = optimization.run(atoms, params, ctx)
    assert r["status"] in ("ok", "not_converged")
    assert r["converged"] == (r["status"] == "ok")
    assert len(r["energy_history"]) == r["steps"] + 1
    assert r["final_energy_eV"] <= r["initial_energy_eV"]
    assert (ctx.work_dir / "final.cif").exists() and r["final_structure_path"].endswith("final.cif")
    assert len(ase.io.read(r["final_structure_path"])) == 44
    assert r["trajectory_path"].endswith(".traj")
    ref = r["reference"]
    assert ref["source"] == "MOFSimBench DFT" and abs(ref["dft_volume_A3"] - 746.926) < 1e-6
    kinds = [e for e, _ in ctx.events]
    assert "progress" in kinds and "checkpoint" in kinds
    first = [d for e, d in ctx.events if e == "progress"][0]
    assert first["step"] == 0 and first["stage"] == "opt"


def test_optimization_not_converged_and_resume(lj, make_ctx, tmp_path):
    atoms = ase.io.read(str(CALF))
    ctx = make_ctx(lj, structure_name="calf")
    params = optimization.validate({"fmax": 1e-6, "max_steps": 6, "checkpoint_interval": 4})
    r = optimization.run(atoms, params, ctx)
    assert r["status"] == "not_converged" and r["converged"] is False and r["steps"] == 6
    ck = tmp_path / "checkpoint.json"
    _, meta = read_checkpoint(ck)
    assert meta["step"] == 4

    # resume: the job restarts from the step-4 geometry and keeps counting steps
    atoms2 = ase.io.read(str(CALF))
    ctx2 = make_ctx(lj, structure_name="calf", resume_from=ck)
    params2 = optimization.validate({"fmax": 1e-6, "max_steps": 8, "checkpoint_interval": 0})
    r2 = optimization.run(atoms2, params2, ctx2)
    assert r2["resumed_from_step"] == 4 and r2["steps"] == 8
    assert len(r2["energy_history"]) == 9
    assert np.allclose(r2["energy_history"][:5], r["energy_history"][:5])


def test_relax_nan_status(make_ctx):
    from ase.calculators.calculator import Calculator

    class NaNCalc(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=None, system_changes=None):
            super().calculate(atoms, properties, system_changes)
            n = len(self.atoms)
            self.results = {"energy": float("nan"), "forces": np.full((n, 3), np.nan), "stress": np.zeros(6)}

    atoms = ase.io.read(str(CALF))
    atoms.calc = NaNCalc()
    out = relax(atoms, make_ctx(atoms.calc), optimizer="LBFGS", cell_filter=None, fmax=0.01, max_steps=10,
                stage="opt")
    assert out.status == "nan" and out.converged is False and out.steps == 0


def test_relax_exploded_status(make_ctx):
    from ase.calculators.calculator import Calculator

    class HugeCalc(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=None, system_changes=None):
            super().calculate(atoms, properties, system_changes)
            n = len(self.atoms)
            self.results = {"energy": -2e5, "forces": np.ones((n, 3)), "stress": np.zeros(6)}

    atoms = ase.io.read(str(MAIN_SET / "LTA.cif"))
    atoms.calc = HugeCalc()
    out = relax(atoms, make_ctx(atoms.calc), optimizer="FIRE", cell_filter="frechet", fmax=0.01, max_steps=50,
                stage="opt")
    assert out.status == "exploded" and out.steps == 0


def test_cancellation(lj, make_ctx):
    atoms = ase.io.read(str(CALF))
    ctx = make_ctx(lj)
    calls = {"n": 0}
    orig = ctx.progress

    def progress(**kw):  # cancel from "another thread" after a few steps
        calls["n"] += 1
        if calls["n"] == 3:
            threading.Thread(target=ctx.cancel_event.set).start()
        return orig(**kw)

    ctx.progress = progress
    with pytest.raises(JobCancelled) as ei:
        relax(atoms, ctx, optimizer="FIRE", cell_filter="frechet", fmax=1e-9, max_steps=10_000, stage="opt")
    assert ei.value.code == "CANCELLED"


def test_checkpoint_json_is_plain(lj, make_ctx, tmp_path):
    atoms = ase.io.read(str(CALF))
    ctx = make_ctx(lj)
    relax(atoms, ctx, optimizer="LBFGS", cell_filter="frechet", fmax=1e-9, max_steps=3, stage="opt",
          checkpoint_interval=1, checkpoint_path=tmp_path / "ck.json")
    data = json.loads((tmp_path / "ck.json").read_text())
    assert data["step"] == 2 and len(data["positions_A"]) == 44 and data["stage"] == "opt"
