"""End to end: spawn `python -m mofsim_engine` and talk JSON lines to it, as the TS worker does."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time

import pytest

from conftest import CALF, ENGINE_DIR, MAIN_SET, python_exe


class EngineProc:
    def __init__(self, env_extra=None):
        env = dict(os.environ, **(env_extra or {}))
        env["MOFSIM_DEVICE"] = "cpu"
        self.t0 = time.monotonic()
        self.p = subprocess.Popen([python_exe(), "-m", "mofsim_engine"], cwd=ENGINE_DIR, env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        self.raw: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _pump(self):
        for raw in self.p.stdout:
            text = raw.decode()
            self.raw.append(text)
            self.lines.put(json.loads(text))  # every stdout line must be JSON
        self.lines.put(None)

    def _drain_stderr(self):
        for _ in self.p.stderr:
            pass

    def send(self, **req):
        self.p.stdin.write((json.dumps(req) + "\n").encode())
        self.p.stdin.flush()

    def next(self, timeout=60):
        return self.lines.get(timeout=timeout)

    def collect(self, ids, timeout=120):
        """Read until every id in `ids` has its response; returns (responses by id, events by id)."""
        responses, events = {}, {i: [] for i in ids}
        deadline = time.monotonic() + timeout
        while set(ids) - set(responses):
            msg = self.next(timeout=max(0.1, deadline - time.monotonic()))
            assert msg is not None, "engine exited early"
            if msg["type"] == "response":
                assert msg["id"] not in responses, "two responses for one request"
                responses[msg["id"]] = msg
            elif msg["type"] == "event":
                events.setdefault(msg["id"], []).append(msg)
        return responses, events

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


@pytest.fixture
def engine():
    e = EngineProc()
    yield e
    e.close()


def test_hello_fast_then_ping_parse_models(engine, tmp_path):
    hello = engine.next(timeout=10)
    elapsed = time.monotonic() - engine.t0
    assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["device"] == "cpu"
    assert hello["packages"]["ase"] and hello["pid"] == engine.p.pid
    assert elapsed < 2.0, f"hello took {elapsed:.2f}s"

    engine.send(id="p1", op="ping")
    engine.send(id="p2", op="parse", path=str(MAIN_SET / "LTA.cif"), filename="LTA.cif")
    bad = tmp_path / "junk.cif"
    bad.write_bytes(os.urandom(300))
    engine.send(id="p3", op="parse", path=str(bad), filename="junk.cif")
    engine.send(id="p4", op="frobnicate")
    engine.send(id="p5", op="models")
    engine.send(id="p6", op="status")
    engine.send(id="p7", op="run", job_id="jx", task_type="no_such_task", model="lj_test",
                structure_path=str(CALF), work_dir=str(tmp_path))
    engine.send(id="p8", op="run", job_id="jy", task_type="single_point", model="nope",
                structure_path=str(CALF), work_dir=str(tmp_path))
    engine.send(id="p9", op="run", job_id="jz", task_type="optimization", model="lj_test",
                structure_path=str(CALF), work_dir=str(tmp_path), params={"fmax": 0})
    r, _ = engine.collect(["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"])
    assert r["p1"]["ok"] and r["p1"]["data"] == {}
    assert r["p2"]["data"]["n_atoms"] == 72 and r["p2"]["data"]["format"] == "cif"
    assert r["p3"]["error"]["code"] == "PARSE_ERROR" and r["p3"]["error"]["retryable"] is False
    assert r["p4"]["error"]["code"] == "UNKNOWN_OP"
    ids = {m["id"]: m for m in r["p5"]["data"]["models"]}
    assert ids["sevennet_prod"]["available"] and len(ids["sevennet_prod"]["elements"]) == 89
    assert r["p6"]["data"]["device"] == "cpu" and r["p6"]["data"]["loaded_models"] == []
    assert r["p7"]["error"]["code"] == "UNKNOWN_TASK_TYPE"
    assert r["p8"]["error"]["code"] == "UNKNOWN_MODEL"
    assert r["p9"]["error"] == {"code": "INVALID_PARAMETER", "message": "fmax must be > 0 (got 0)",
                                "field": "fmax", "retryable": False}

    engine.send(id="s", op="shutdown")
    r, _ = engine.collect(["s"])
    assert r["s"]["ok"]
    assert engine.p.wait(timeout=15) == 0


def test_concurrent_runs_cancel_and_eof(engine, tmp_path):
    assert engine.next(timeout=10)["type"] == "hello"
    wd1, wd2, wd3 = (tmp_path / n for n in ("a", "b", "c"))
    for d in (wd1, wd2, wd3):
        d.mkdir()
    engine.send(id="r1", op="run", job_id="j1", task_type="optimization", model="lj_test",
                structure_path=str(CALF), structure_name="calf", work_dir=str(wd1),
                params={"fmax": 0.05, "max_steps": 40})
    engine.send(id="r2", op="run", job_id="j2", task_type="single_point", model="lj_test",
                structure_path=str(MAIN_SET / "LTA.cif"), work_dir=str(wd2))
    # a long job, cancelled once it is running
    engine.send(id="r3", op="run", job_id="j3", task_type="optimization", model="lj_test",
                structure_path=str(CALF), work_dir=str(wd3), params={"fmax": 1e-9, "max_steps": 100000})
    r, ev = engine.collect(["r1", "r2"])
    assert r["r1"]["ok"] and r["r2"]["ok"]
    opt = r["r1"]["data"]
    assert opt["status"] in ("ok", "not_converged") and os.path.exists(opt["final_structure_path"])
    assert opt["reference"]["dft_volume_A3"] > 0
    prov = opt["provenance"]
    assert prov["model"] == "lj_test" and prov["parameters"]["optimizer"] == "LBFGS"
    assert prov["engine_version"] and "ase" in prov["packages"]
    assert any(e["event"] == "progress" for e in ev["r1"])
    assert r["r2"]["data"]["n_atoms"] == 72 and len(r["r2"]["data"]["stress_GPa"]) == 6

    engine.send(id="st", op="status")
    r, _ = engine.collect(["st"])
    assert r["st"]["data"]["running_jobs"] == ["j3"]
    assert [m["id"] for m in r["st"]["data"]["loaded_models"]] == ["lj_test"]
    lj = r["st"]["data"]["loaded_models"][0]
    assert lj["use_count"] >= 2 and lj["loaded_at"] <= lj["last_used"]  # ISO UTC strings sort by time
    engine.send(id="c1", op="cancel", job_id="j3")
    engine.send(id="c2", op="cancel", job_id="not-running")
    r, _ = engine.collect(["c1", "c2", "r3"], timeout=30)
    assert r["c1"]["data"] == {"cancelled": True} and r["c2"]["data"] == {"cancelled": False}
    assert r["r3"]["error"]["code"] == "CANCELLED"

    engine.p.stdin.close()  # EOF -> clean exit
    assert engine.p.wait(timeout=15) == 0


def test_sevennet_run_end_to_end(engine, tmp_path):
    assert engine.next(timeout=10)["type"] == "hello"
    engine.send(id="l", op="load", model="sevennet_prod")
    engine.send(id="o", op="run", job_id="o1", task_type="optimization", model="sevennet_prod",
                structure_path=str(CALF), work_dir=str(tmp_path), params={"fmax": 0.5, "max_steps": 3})
    r, ev = engine.collect(["l", "o"], timeout=120)
    assert r["l"]["data"]["loaded"] is True
    d = r["o"]["data"]
    assert d["steps"] <= 3 and d["final_energy_eV"] < 0
    assert d["provenance"]["d3"]["xc"] == "pbe" and len(d["provenance"]["weights_sha256"]) == 64
    engine.send(id="u", op="unload", model="sevennet_prod")
    r, _ = engine.collect(["u"])
    assert r["u"]["data"]["loaded"] is False and r["u"]["data"]["was_loaded"] is True


def test_load_is_idempotent_and_unload_waits_for_running_jobs(engine, tmp_path):
    assert engine.next(timeout=10)["type"] == "hello"
    engine.send(id="l1", op="load", model="lj_test")
    r, _ = engine.collect(["l1"])
    assert r["l1"]["data"]["loaded"] is True and r["l1"]["data"]["already_loaded"] is False
    engine.send(id="l2", op="load", model="lj_test")
    engine.send(id="m", op="load", model="mace_prod")
    r, _ = engine.collect(["l2", "m"])
    assert r["l2"]["data"]["already_loaded"] is True
    if r["m"]["ok"]:
        pytest.skip("mace is installed here: no unavailable model to load")
    assert r["m"]["error"]["code"] == "MODEL_UNAVAILABLE" and r["m"]["error"]["retryable"] is False

    engine.send(id="run", op="run", job_id="long", task_type="optimization", model="lj_test",
                structure_path=str(CALF), work_dir=str(tmp_path), params={"fmax": 1e-9, "max_steps": 100000})
    deadline = time.monotonic() + 60
    while True:  # the job holds the model once its first step ran
        engine.send(id="st", op="status")
        r, _ = engine.collect(["st"])
        if r["st"]["data"]["loaded_models"][0]["in_use"]:
            break
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    engine.send(id="u1", op="unload", model="lj_test")
    r, _ = engine.collect(["u1"])
    assert r["u1"]["ok"] and r["u1"]["data"]["loaded"] is True and r["u1"]["data"]["in_use"] == 1
    assert "in use" in r["u1"]["data"]["reason"]
    engine.send(id="c", op="cancel", job_id="long")
    r, _ = engine.collect(["c", "run"], timeout=30)
    assert r["run"]["error"]["code"] == "CANCELLED"
    engine.send(id="u2", op="unload", model="lj_test")
    engine.send(id="st2", op="status")
    r, _ = engine.collect(["u2", "st2"])
    assert r["u2"]["data"] == {"model": "lj_test", "loaded": False, "was_loaded": True}
    assert r["st2"]["data"]["loaded_models"] == []


@pytest.mark.parametrize("exc", [FileNotFoundError("weights.pt"), ImportError("no module named mace")])
def test_a_model_that_cannot_load_is_unavailable_not_retryable(exc):
    from mofsim_engine.errors import EngineError
    from mofsim_engine.server import model_loading

    with pytest.raises(EngineError) as ei:
        with model_loading("mace_prod"):
            raise exc
    err = ei.value.to_dict()
    assert err["code"] == "MODEL_UNAVAILABLE" and err["retryable"] is False and err["field"] == "model"
    with pytest.raises(RuntimeError):  # anything else keeps its own (retryable) handling
        with model_loading("mace_prod"):
            raise RuntimeError("CUDA out of memory")
