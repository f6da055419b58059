"""A crash inside a job is an error response (ENGINE_ERROR, retryable), OOM is OUT_OF_MEMORY; the engine lives on."""
import torch

from mofsim_engine.errors import EngineError, to_engine_error
from mofsim_engine.server import Engine


class FakeWriter:
    def __init__(self):
        self.sent = []

    def send(self, m):
        self.sent.append(m)

    def response_ok(self, i, d):
        self.send({"type": "response", "id": i, "ok": True, "data": d})

    def response_error(self, i, e):
        self.send({"type": "response", "id": i, "ok": False, "error": e})

    def event(self, i, ev, d):
        self.send({"type": "event", "id": i, "event": ev, "data": d})


def test_crash_becomes_engine_error():
    w = FakeWriter()
    eng = Engine(w)

    def boom(req):
        raise ZeroDivisionError("bad luck")

    eng._answer("x", boom, {"op": "run"})
    assert w.sent == [{"type": "response", "id": "x", "ok": False,
                       "error": {"code": "ENGINE_ERROR", "message": "ZeroDivisionError: bad luck",
                                 "retryable": True}}]
    eng._answer("y", eng.op_ping, {"op": "ping"})
    assert w.sent[-1]["ok"] is True


def test_oom_mapping():
    err = to_engine_error(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert err.code == "OUT_OF_MEMORY" and err.retryable is True
    assert to_engine_error(RuntimeError("CUDA error: out of memory")).code == "OUT_OF_MEMORY"
    typed = EngineError("NO_CELL", "x")
    assert to_engine_error(typed) is typed and typed.retryable is False


def test_missing_fields_and_no_id():
    w = FakeWriter()
    eng = Engine(w)
    eng.dispatch({"op": "ping"})
    assert w.sent[-1]["error"]["code"] == "INVALID_REQUEST"
    eng._answer("r", eng.op_run, {"op": "run"})
    assert w.sent[-1]["error"]["code"] == "INVALID_PARAMETER" and w.sent[-1]["error"]["field"] == "job_id"
