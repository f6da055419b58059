"""JSON-lines framing (PROTOCOL.md): one JSON object per line on stdin (requests) and stdout (everything the
engine says). stdout belongs to the protocol only: `claim_stdout()` moves the real stdout to a private file
descriptor and points fd 1 (and sys.stdout) at stderr, so stray prints — from ASE optimizers, sevenn, C
extensions — can never corrupt the stream. Logs are JSON objects on stderr.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
from typing import IO, Any


def sanitize(obj: Any) -> Any:
    """JSON-safe copy: NaN/Inf -> null (JSON has no NaN; JavaScript's JSON.parse rejects it), numpy -> Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return sanitize(obj.tolist())
    if hasattr(obj, "__fspath__"):
        return os.fspath(obj)
    return str(obj)


class Writer:
    """Thread-safe line writer: one lock so lines from concurrent jobs never interleave; flush every line."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict) -> None:
        line = json.dumps(sanitize(message), allow_nan=False, separators=(",", ":"))
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):  # the worker went away; nothing left to tell
                pass

    def response_ok(self, req_id: Any, data: dict) -> None:
        self.send({"type": "response", "id": req_id, "ok": True, "data": data})

    def response_error(self, req_id: Any, error: dict) -> None:
        self.send({"type": "response", "id": req_id, "ok": False, "error": error})

    def event(self, req_id: Any, event: str, data: dict) -> None:
        self.send({"type": "event", "id": req_id, "event": event, "data": data})


def claim_stdout() -> IO[str]:
    """Return a private text stream on the original stdout; redirect fd 1 and sys.stdout to stderr."""
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "w", encoding="utf-8", buffering=1)


def read_requests(stream=None):
    """Yield (request dict | None, error message | None) per non-empty line until EOF."""
    stream = stream if stream is not None else sys.stdin.buffer
    for raw in stream:
        line = raw.decode("utf-8", errors="replace").strip() if isinstance(raw, bytes) else raw.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except json.JSONDecodeError as exc:
            yield None, f"request is not valid JSON: {exc}"
            continue
        if not isinstance(req, dict):
            yield None, "request must be a JSON object"
            continue
        yield req, None


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        d = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
             "level": record.levelname, "logger": record.name, "msg": record.getMessage(), "pid": os.getpid()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            d.update(fields)
        if record.exc_info:
            d["exc"] = self.formatException(record.exc_info)
        return json.dumps(sanitize(d))


def setup_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # The Node side uses debug|info|warn|error (common/config.ts); logging wants DEBUG|INFO|WARNING|ERROR.
    name = (level or os.environ.get("MOFSIM_LOG_LEVEL") or "INFO").upper()
    root.setLevel({"WARN": "WARNING"}.get(name, name) if name in ("DEBUG", "INFO", "WARN", "WARNING", "ERROR") else "INFO")
    logging.captureWarnings(True)  # warnings.warn -> logging (stderr), never stdout
    # FrechetCellFilter calls scipy's logm every step; its accuracy note (err ~1e-13) is noise, not a problem.
    import warnings

    warnings.filterwarnings("ignore", message="logm result may be inaccurate")
