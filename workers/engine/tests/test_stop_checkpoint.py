"""A hand-back (`cancel` with checkpoint: true: pause, drain, preemption) saves the job's state at the step where it
stops, whatever checkpoint_interval says, and a run resumed from it is bit-identical to an uninterrupted one."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import CALF
from mofsim_engine.errors import JobCancelled
from mofsim_engine.tasks import optimization, stability
from mofsim_engine.tasks.context import JobContext
from mofsim_engine.tasks.relax import read_checkpoint
from test_server import EngineProc
from test_stability import FreshEMT, cu8

HUGE = 10_000  # checkpoint_interval far beyond the steps run: only the stop writes one


@pytest.fixture
def lj(cache):
    calc = cache.job_calculator("lj_test")
    yield calc
    calc.release()


class StopAt(JobContext):
    """Asks for a stop (with or without a checkpoint) once the job reported global step `at`, as op_cancel does."""

    def __init__(self, *a, at: int, with_checkpoint: bool = True, **kw):
        super().__init__(*a, **kw)
        self.at = at
        self.with_checkpoint = with_checkpoint
        self.events: list[tuple[str, dict]] = []
        self.emit = lambda event, data: self.events.append((event, data))

    def progress(self, *, force=False, **fields):
        if fields.get("step") == self.at and not self.cancel_event.is_set():
            if self.with_checkpoint:
                self.checkpoint_event.set()
            self.cancel_event.set()
        return super().progress(force=force, **fields)


@pytest.mark.parametrize("variant,stop_step", [("ambient", 27), ("ambient", 73), ("copper", 91)])
def test_stop_with_checkpoint_resumes_exactly(tmp_path, variant, stop_step):
    params = {"opt_steps": 10, "nvt_steps": 40, "npt_steps": 40, "trajectory_interval": 10,
              "checkpoint_interval": HUGE, "variant": variant}
    if variant == "copper":
        params.update(npt_steps=30, nvt_steps=20)
    ref_atoms = cu8()
    ref = stability.run(ref_atoms, dict(params), JobContext("ref", tmp_path / "ref", FreshEMT(), "emt"))

    (tmp_path / "a").mkdir()
    ctx = StopAt("a", tmp_path / "a", FreshEMT(), "emt", at=stop_step)
    with pytest.raises(JobCancelled) as ei:
        stability.run(cu8(), dict(params), ctx)
    ck = ei.value.checkpoint
    assert ei.value.code == "CANCELLED" and ck is not None
    assert ck["step"] == stop_step and ck["step"] % HUGE != 0
    assert ei.value.to_dict()["checkpoint"] == ck
    # announced like a periodic one (the worker records it from the event), and the only MD-time checkpoint
    cks = [d for e, d in ctx.events if e == "checkpoint"]
    assert cks[-1] == ck
    data = json.loads(open(ck["path"]).read())
    assert data["global_step"] == stop_step and data["integrator"] is not None

    (tmp_path / "b").mkdir()
    atoms = cu8()
    r = stability.run(atoms, dict(params), JobContext("b", tmp_path / "b", FreshEMT(), "emt", resume_from=ck["path"]))
    assert r["resumed_from_step"] == stop_step
    assert np.array_equal(atoms.positions, ref_atoms.positions)
    assert np.array_equal(atoms.get_momenta(), ref_atoms.get_momenta())
    assert np.array_equal(atoms.cell.array, ref_atoms.cell.array)
    for k in ("volume_trace", "volume_change_percent", "energy_drift_eV", "steps_completed", "coordination"):
        assert r[k] == ref[k], k
    assert (tmp_path / "b" / "stability.extxyz").read_text() == (tmp_path / "ref" / "stability.extxyz").read_text()


def test_stop_with_checkpoint_also_without_periodic_checkpoints(tmp_path):
    params = {"opt_steps": 0, "nvt_steps": 30, "npt_steps": 0, "checkpoint_interval": 0}
    ctx = StopAt("a", tmp_path, FreshEMT(), "emt", at=13)
    with pytest.raises(JobCancelled) as ei:
        stability.run(cu8(), dict(params), ctx)
    assert ei.value.checkpoint["step"] == 13


def test_plain_cancel_writes_no_checkpoint(tmp_path):
    params = {"opt_steps": 0, "nvt_steps": 30, "npt_steps": 0, "checkpoint_interval": HUGE}
    ctx = StopAt("a", tmp_path, FreshEMT(), "emt", at=13, with_checkpoint=False)
    with pytest.raises(JobCancelled) as ei:
        stability.run(cu8(), dict(params), ctx)
    assert ei.value.checkpoint is None and "checkpoint" not in ei.value.to_dict()
    # only the one written after the (empty) first opt stage, at step 0
    assert [p.name for p in tmp_path.glob("checkpoint_*.json")] == ["checkpoint_0.json"]


def test_optimization_stop_with_checkpoint(lj, tmp_path):
    """Geometry optimisation resumes from a geometry checkpoint (optimizer memory not kept): the stop writes one at
    the step reached, in the periodic format, and the resumed run counts on from there."""
    import ase.io

    params = optimization.validate({"fmax": 1e-9, "max_steps": 12, "checkpoint_interval": HUGE})
    (tmp_path / "a").mkdir()
    ctx = StopAt("a", tmp_path / "a", lj, "lj_test", structure_name="calf", at=7)
    with pytest.raises(JobCancelled) as ei:
        optimization.run(ase.io.read(CALF), params, ctx)
    # irun takes its next step before the loop's check: the stop lands on the step after the one reported
    assert ei.value.checkpoint["step"] == 8
    _, meta = read_checkpoint(ei.value.checkpoint["path"])
    assert meta["step"] == 8 and len(meta["extra"]["energies_eV"]) == 9  # steps 0..8
    (tmp_path / "b").mkdir()
    ctx2 = JobContext("b", tmp_path / "b", lj, "lj_test", structure_name="calf",
                      resume_from=ei.value.checkpoint["path"])
    r = optimization.run(ase.io.read(CALF), params, ctx2)
    assert r["resumed_from_step"] == 8 and r["steps"] == 12 and len(r["energy_history"]) == 13


def test_cancel_op_with_checkpoint_end_to_end(tmp_path):
    """Over the protocol: `cancel` with checkpoint: true -> a checkpoint event, then CANCELLED naming it."""
    e = EngineProc()
    try:
        assert e.next(timeout=10)["type"] == "hello"
        e.send(id="r", op="run", job_id="md", task_type="stability", model="lj_test", structure_path=str(CALF),
               work_dir=str(tmp_path), params={"opt_steps": 0, "nvt_steps": 1_000_000, "npt_steps": 0,
                                               "checkpoint_interval": HUGE, "trajectory_interval": 1000})
        seen = 0
        while seen < 5:  # progress of a few steps
            msg = e.next(timeout=60)
            assert msg is not None and msg["type"] == "event", msg
            if msg["event"] == "progress" and msg["data"]["step"]:
                seen = msg["data"]["step"]
        e.send(id="bad", op="cancel", job_id="md", checkpoint="yes")
        e.send(id="c", op="cancel", job_id="md", checkpoint=True)
        r, ev = e.collect(["bad", "c", "r"], timeout=30)
        assert r["bad"]["error"]["code"] == "INVALID_PARAMETER" and r["bad"]["error"]["field"] == "checkpoint"
        assert r["c"]["data"] == {"cancelled": True}
        err = r["r"]["error"]
        assert err["code"] == "CANCELLED" and err["checkpoint"]["step"] >= seen
        assert err["checkpoint"]["step"] % HUGE != 0
        cks = [m["data"] for m in ev["r"] if m["event"] == "checkpoint"]
        assert cks == [err["checkpoint"]]
        assert json.loads(open(err["checkpoint"]["path"]).read())["global_step"] == err["checkpoint"]["step"]
    finally:
        e.close()
