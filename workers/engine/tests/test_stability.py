"""Stability task (MOFSimBench §1.2): defaults, validation, a short run, explosion detection, exact resume."""
from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mofsim_engine.errors import InvalidParameter
from mofsim_engine.tasks import stability
from mofsim_engine.tasks.coordination import METAL_ELEMENTS, metal_coordination


class FreshEMT(EMT):
    """EMT without neighbour-list history: forces depend on the geometry only (ASE's EMT keeps a list with a skin,
    and its Fermi-function cutoff makes atoms inside the skin contribute ~1e-16 eV/Å, so a restarted EMT differs
    from a continuing one in the last bits). With this calculator a resumed run must be bit-identical."""

    def calculate(self, atoms=None, properties=None, system_changes=None):
        super().calculate(atoms, properties, ["numbers"])


def cu32():
    a = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    a.rattle(0.01, seed=1)
    return a


def cu8():
    a = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 1, 1)
    a.rattle(0.01, seed=1)
    return a


SHORT = {"opt_steps": 20, "nvt_steps": 40, "npt_steps": 40, "trajectory_interval": 10, "checkpoint_interval": 20}


def test_defaults_are_mofsimbench():
    p = stability.validate({})
    assert p == {
        "variant": "ambient", "opt_fmax": 0.001, "opt_steps": 1000, "nvt_steps": 1000, "npt_steps": 50000,
        "timestep_fs": 1.0, "temperature_K": 300.0, "pressure_bar": 1.0, "tdamp_fs": 100.0, "pdamp_fs": 1000.0,
        "friction_per_fs": 0.01, "trajectory_interval": 100, "checkpoint_interval": 1000, "seed": 0,
        "volume_threshold_percent": 10.0,
    }
    assert stability.validate(p) == p  # idempotent
    cu = stability.validate({"variant": "copper"})
    assert (cu["npt_steps"], cu["friction_per_fs"]) == (10000, 0.01)
    ramp = stability.validate({"variant": "temperature_ramp"})
    assert (ramp["npt_steps"], ramp["friction_per_fs"]) == (20000, 0.002)


def test_stage_plans():
    st = stability.build_stages(stability.validate({}))
    assert [s["kind"] for s in st] == ["opt", "nvt", "npt"]
    assert st[1]["initial_temperature_K"] == 300 and st[2]["initial_temperature_K"] is None
    st = stability.build_stages(stability.validate({"variant": "copper"}))
    assert [s["kind"] for s in st] == ["opt", "nvt", "npt", "npt", "npt", "opt"]
    assert [s["temperature_K"] for s in st[2:5]] == [300, 400, 300]
    assert all(s["initial_temperature_K"] is None for s in st[2:5])
    st = stability.build_stages(stability.validate({"variant": "temperature_ramp"}))
    npt = [s for s in st if s["kind"] == "npt"]
    assert [s["temperature_K"] for s in npt] == [300, 400, 500, 600, 700, 800, 900, 1000]
    assert all(s["initial_temperature_K"] == s["temperature_K"] and s["steps"] == 20000 for s in npt)
    assert st[1]["friction_per_fs"] == 0.002


@pytest.mark.parametrize("params,field,text", [
    ({"nvt_steps": -1}, "nvt_steps", "nvt_steps must be ≥ 0 (got -1)"),
    ({"timestep_fs": 0}, "timestep_fs", "timestep_fs must be > 0 (got 0)"),
    ({"variant": "hot"}, "variant", "one of ambient, copper, temperature_ramp (got 'hot')"),
    ({"seed": 1.5}, "seed", "integer"),
    ({"opt_steps": True}, "opt_steps", "integer"),
    ({"temperature_K": "300"}, "temperature_K", "finite number"),
    ({"friction": 0.01}, "friction", "unknown parameter"),
    ({"variant": "temperature_ramp", "temperature_K": 1200}, "temperature_K", "≤ 1000"),
    ({"trajectory_interval": 0}, "trajectory_interval", "≥ 1 (got 0)"),
])
def test_invalid_params(params, field, text):
    with pytest.raises(InvalidParameter) as ei:
        stability.validate(params)
    assert ei.value.field == field and text in ei.value.message


def test_metal_list_and_coordination():
    assert {"Cu", "Zn", "Zr", "Al", "Mg", "Li", "Eu", "U", "Bi"} <= METAL_ELEMENTS
    assert not {"Si", "B", "C", "O", "H", "N", "Ge"} & METAL_ELEMENTS
    assert metal_coordination(bulk("Cu", "fcc", a=3.61, cubic=True)) == {"Cu": pytest.approx(12.0)}
    assert metal_coordination(bulk("Si", "diamond", a=5.43)) == {}


def test_short_ambient_run(make_ctx):
    ctx = make_ctx(EMT(), model_id="emt")
    r = stability.run(cu32(), dict(SHORT), ctx)
    assert r["status"] == "ok" and r["stable"] is True and r["instability_reason"] is None
    assert r["steps_completed"] == r["optimizations"][0]["steps"] + 80 and r["md_steps_completed"] == 80
    tr = r["volume_trace"]
    assert tr[0]["V_rel"] == 1.0 and tr[0]["step"] == 0 and tr[0]["stage"] == "opt"
    # frames: input, after opt, NVT steps 0,10..40, NpT steps 0,10..40
    assert [f["stage"] for f in tr].count("nvt") == 5 and [f["stage"] for f in tr].count("npt") == 5
    assert r["volume_change_percent"] == pytest.approx((tr[-1]["V_rel"] - 1) * 100)
    assert abs(r["volume_change_percent"]) < 5
    assert r["coordination"]["opt"]["Cu"] == pytest.approx(12.0, abs=0.05)
    assert set(r["coordination"]) == {"initial", "opt", "final"}
    assert r["max_displacement_A"] > 0 and r["com_drift_A"] < 0.1 and r["energy_drift_eV"] is not None
    json.dumps(r, allow_nan=False)  # valid JSON (no NaN)
    import ase.io

    frames = ase.io.read(r["trajectory_path"], index=":")
    assert len(frames) == len(tr)
    kinds = [e for e, _ in ctx.events]
    assert "progress" in kinds and "checkpoint" in kinds


def test_explosion_is_a_result(make_ctx):
    ctx = make_ctx(EMT(), model_id="emt")
    r = stability.run(cu32(), {**SHORT, "timestep_fs": 40.0, "nvt_steps": 200, "npt_steps": 10}, ctx)
    assert r["stable"] is False and r["status"] in ("exploded", "nan")
    assert "at step" in r["instability_reason"]
    assert r["failed_at_step"] < r["optimizations"][0]["steps"] + 200
    json.dumps(r, allow_nan=False)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("variant,stop_md_step", [("ambient", 20), ("ambient", 60), ("copper", 100)])
def test_resume_is_exact(tmp_path, variant, stop_md_step):
    """Interrupted after a checkpoint (mid-NVT, mid-NpT, later NpT stage), resumed in a new work_dir: identical end."""
    from mofsim_engine.tasks.context import JobContext

    params = {**SHORT, "variant": variant}
    if variant == "copper":
        params.update(npt_steps=30, nvt_steps=20, checkpoint_interval=10, opt_steps=10)
    ref_atoms = cu8()
    ref = stability.run(ref_atoms, dict(params), JobContext("ref", tmp_path / "ref", FreshEMT(), "emt"))

    seen = {}

    class StopCtx(JobContext):
        def checkpoint(self, path, step):
            super().checkpoint(path, step)
            data = json.loads(open(path).read())
            if data["md_steps"] == stop_md_step:
                seen["path"] = path
                raise _Stop()

    (tmp_path / "a").mkdir()
    with pytest.raises(_Stop):
        stability.run(cu8(), dict(params), StopCtx("a", tmp_path / "a", FreshEMT(), "emt"))
    (tmp_path / "b").mkdir()
    atoms = cu8()
    r = stability.run(atoms, dict(params), JobContext("b", tmp_path / "b", FreshEMT(), "emt", resume_from=seen["path"]))
    assert r["resumed_from_step"] > 0
    assert np.array_equal(atoms.positions, ref_atoms.positions)
    assert np.array_equal(atoms.get_momenta(), ref_atoms.get_momenta())
    assert np.array_equal(atoms.cell.array, ref_atoms.cell.array)
    for k in ("volume_trace", "volume_change_percent", "energy_drift_eV", "steps_completed", "coordination"):
        assert r[k] == ref[k], k
    assert (tmp_path / "b" / "stability.extxyz").read_text() == (tmp_path / "ref" / "stability.extxyz").read_text()


def test_resume_rejects_other_params(tmp_path, make_ctx):
    from mofsim_engine.tasks.context import JobContext

    stability.run(cu8(), dict(SHORT), JobContext("a", tmp_path, EMT(), "emt"))
    ckpt = sorted(tmp_path.glob("checkpoint_*.json"))[-1]
    with pytest.raises(InvalidParameter) as ei:
        stability.run(cu8(), {**SHORT, "temperature_K": 500}, JobContext("b", tmp_path, EMT(), "emt", resume_from=ckpt))
    assert ei.value.field == "temperature_K"


# --- physics: the thermostat and barostat get the protocol's targets, and the system follows them ------------
# EMT copper (B ≈ 134 GPa for EMT) stands in for a framework: fast on CPU, and its response to T and p is known.

def _stage_dyn(eff, kind, ctx):
    run = stability._Run(cu8(), eff, ctx)
    run.atoms.calc = EMT()
    stage = next(s for s in run.stages if s["kind"] == kind)
    run.stage_index = run.stages.index(stage)
    return run.make_dyn(stage, None)


def test_integrators_get_the_protocol_targets(make_ctx):
    """PROTOCOLS.md §1.2: Langevin 300 K, friction 0.01/fs; MTK NpT 300 K, 1 bar, tdamp 100 fs, pdamp 1000 fs."""
    from ase import units

    eff = stability.validate({})
    nvt = _stage_dyn(eff, "nvt", make_ctx(EMT(), model_id="emt"))
    assert nvt.temp / units.kB == pytest.approx(300.0) and nvt.fr * units.fs == pytest.approx(0.01)
    assert nvt.dt / units.fs == pytest.approx(1.0)
    npt = _stage_dyn(eff, "npt", make_ctx(EMT(), model_id="emt"))
    assert npt._temperature_K == pytest.approx(300.0)
    assert npt._pressure_au / units.bar == pytest.approx(1.0)
    assert npt._thermostat._tdamp / units.fs == pytest.approx(100.0)
    assert npt._barostat._pdamp / units.fs == pytest.approx(1000.0)
    assert (npt._thermostat._tchain, npt._barostat._pchain) == (3, 3)


def _frames(r, kind):
    idx = [i for i, s in enumerate(r["stages"]) if s["kind"] == kind]
    return [f for f in r["volume_trace"] if f["stage_index"] in idx and f["stage_step"] > 0]


def test_nvt_and_npt_hold_the_target_temperature(make_ctx):
    r = stability.run(cu32(), {"opt_steps": 0, "nvt_steps": 300, "npt_steps": 200, "timestep_fs": 2.0,
                               "trajectory_interval": 5, "checkpoint_interval": 0}, make_ctx(EMT(), model_id="emt"))
    assert r["status"] == "ok", r["instability_reason"]
    nvt = [f["temperature_K"] for f in _frames(r, "nvt")]
    late = nvt[len(nvt) // 3:]  # friction 0.01/fs: relaxed after ~100 fs; 32 atoms: ±~45 K per frame
    assert abs(np.mean(late) - 300.0) < 60.0, np.mean(late)
    npt = [f["temperature_K"] for f in _frames(r, "npt")]
    assert abs(np.mean(npt) - 300.0) < 75.0, np.mean(npt)
    # the result reports the targets and what was reached
    assert [s.get("temperature_K") for s in r["stages"]] == [None, 300.0, 300.0]
    assert [s.get("pressure_bar") for s in r["stages"]] == [None, None, 1.0]
    assert r["temperature_drift_K"] == pytest.approx(np.mean(npt) - 300.0)
    assert 100.0 < r["final_temperature_K"] < 600.0


def test_npt_volume_follows_the_pressure(make_ctx):
    """Compressing EMT copper (B = 134 GPa, a0 = 3.589 Å) by 5 GPa shrinks it by about P/B = 3.7 %."""
    r = stability.run(bulk("Cu", "fcc", a=3.589, cubic=True) * (2, 2, 2),
                      {"opt_steps": 0, "nvt_steps": 50, "npt_steps": 1200, "timestep_fs": 4.0,
                       "temperature_K": 30.0, "pressure_bar": 50_000.0, "trajectory_interval": 10,
                       "checkpoint_interval": 0}, make_ctx(EMT(), model_id="emt"))
    assert r["status"] == "ok", r["instability_reason"]
    frames = _frames(r, "npt")
    change = float(np.mean([f["V_rel"] for f in frames[len(frames) // 2:]])) - 1.0
    assert -0.050 < change < -0.025, change  # -P/B = -5/134 = -3.7 %
    assert r["volume_change_percent"] < 0
