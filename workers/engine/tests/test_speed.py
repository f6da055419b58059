"""Speed task (MOFSimBench §1.7): FIRE + FrechetCellFilter, warm-up step, timed steps, time per step."""
import ase.io
import pytest

from mofsim_engine.errors import InvalidParameter, JobCancelled
from mofsim_engine.tasks import get_task, speed

from conftest import CALF, MAIN_SET


@pytest.fixture
def lj(cache):
    calc = cache.job_calculator("lj_test")
    yield calc
    calc.release()


def test_defaults_are_the_benchmark_s():
    assert speed.validate({}) == {"steps": 1000, "warmup_steps": 1}
    assert get_task("speed") is speed


@pytest.mark.parametrize("params,field", [({"steps": 1}, "steps"), ({"steps": 1.5}, "steps"),
                                          ({"warmup_steps": -1}, "warmup_steps"), ({"fmax": 0.1}, "fmax")])
def test_invalid_parameters(params, field):
    with pytest.raises(InvalidParameter) as ei:
        speed.validate(params)
    assert ei.value.field == field


def test_times_every_step_after_the_warm_up(lj, make_ctx):
    atoms = ase.io.read(CALF)
    v0 = atoms.get_volume()
    ctx = make_ctx(lj)
    r = speed.run(atoms, speed.validate({"steps": 6}), ctx)
    # fmax = 0 never converges: 1 warm-up + 6 timed steps, the benchmark divides by nsteps − 1 = 6.
    assert r["optimizer_steps"] == 7 and r["status"] == "ok" and r["n_atoms"] == 44
    assert r["time_per_step_s"] == pytest.approx(r["total_time_s"] / 6)
    assert r["atoms_steps_per_s"] == pytest.approx(44 / r["time_per_step_s"])
    assert atoms.get_volume() != v0  # the cell filter moved the cell: the steps really ran
    assert [e for e, _ in ctx.events].count("progress") >= 1


def test_the_benchmark_structure_is_the_conventional_mof5():
    assert len(ase.io.read(MAIN_SET / "MOF-5.cif")) == 424


def test_cancel_stops_the_run(lj, make_ctx):
    ctx = make_ctx(lj)
    ctx.cancel_event.set()
    with pytest.raises(JobCancelled):
        speed.run(ase.io.read(CALF), speed.validate({"steps": 50}), ctx)
