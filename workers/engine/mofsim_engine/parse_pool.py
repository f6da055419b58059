"""Structure parsing in child processes, with a time limit, so one big file never stalls the others.

A parse is CPU-bound Python: in the engine's own process it holds the GIL (and the warnings lock) for its whole
duration, and a 3-atom upload waited for an 1,800-atom CIF to finish. Here each parse runs in a child process
(`python -m mofsim_engine.parse_pool`, JSON lines on its stdin/stdout), in one of two lanes chosen by file size:
small files never queue behind a large one. A parse that runs past PARSE_TIMEOUT_S is killed (the child is
replaced) and answered PARSE_TIMEOUT; a child that dies on a file (out of memory under its address-space limit,
a crash) is replaced and the file answered PARSE_ERROR. Both are the file's doing, so neither is retryable.
"""
from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time

from .errors import EngineError, StructureError

SMALL_FILE_BYTES = 32 * 1024  # ~700 atoms of P1 CIF (~45 bytes a site): parses in a fraction of a second
PARSE_TIMEOUT_S = 120.0  # a 10,000-atom P1 CIF parses in a few seconds on one core
CHILD_ADDRESS_SPACE_BYTES = 8 << 30  # a runaway parse fails with MemoryError instead of waking the OOM killer

log = logging.getLogger("mofsim_engine.parse_pool")


class _Lane:
    """One child process and the lock that gives it one file at a time."""

    def __init__(self, name: str, timeout_s: float):
        self.name = name
        self.timeout_s = timeout_s
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        return subprocess.Popen([sys.executable, "-m", "mofsim_engine.parse_pool"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=None, env=env, bufsize=0)

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def parse(self, request: dict) -> dict:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            proc = self.proc
            try:
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
                line = _read_line(proc.stdout, time.monotonic() + self.timeout_s)
            except BrokenPipeError:
                line = b""
            if line is None:
                self._stop()
                raise StructureError("PARSE_TIMEOUT", f"parsing took longer than {self.timeout_s:g} s and was "
                                     f"stopped", {"timeout_s": self.timeout_s})
            if not line:
                code = proc.poll()
                self._stop()
                raise StructureError("PARSE_ERROR", f"the parser ran out of memory or crashed on this file "
                                     f"(exit {code})", {"reason": "parser_died"})
        answer = json.loads(line)
        if answer.get("ok"):
            return answer["data"]
        e = answer["error"]
        raise EngineError(e["code"], e["message"], field=e.get("field"), retryable=e.get("retryable"),
                          details=e.get("details"))

    def kill(self) -> None:
        """Without the lock: a parse in flight sees its child die and answers at once."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()


def _read_line(stream, deadline: float) -> bytes | None:
    """One line from a pipe by `deadline` (None when it passed; b"" at EOF)."""
    buf = b""
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b""
        buf += chunk
    return buf


class ParsePool:
    """Two lanes (small and large files), each a child process started on first use."""

    def __init__(self, timeout_s: float = PARSE_TIMEOUT_S):
        self.small = _Lane("small", timeout_s)
        self.large = _Lane("large", timeout_s)

    def parse(self, path: str, filename: str, max_atoms: int) -> dict:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0  # the child reports the missing file
        lane = self.small if size <= SMALL_FILE_BYTES else self.large
        return lane.parse({"path": path, "filename": filename, "max_atoms": max_atoms})

    def kill(self) -> None:
        self.small.kill()
        self.large.kill()


def _serve() -> None:
    """The child: one JSON request per line on stdin, one JSON answer per line on stdout."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE_BYTES, CHILD_ADDRESS_SPACE_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the answers
    sys.stdout = sys.stderr
    from . import structures

    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        req = json.loads(raw)
        try:
            data = structures.parse(req["path"], req.get("filename"), max_atoms=int(req["max_atoms"]))
            answer = {"ok": True, "data": data}
        except MemoryError:  # under this process's address-space limit: the file's size, not the machine
            answer = {"ok": False, "error": StructureError(
                "PARSE_ERROR", "the file needs more memory to parse than a parse may use",
                {"reason": "memory_limit"}).to_dict()}
        except EngineError as exc:
            answer = {"ok": False, "error": exc.to_dict()}
        except Exception as exc:  # noqa: BLE001 - every file gets an answer; the same file fails every time
            detail = str(exc).strip() or type(exc).__name__
            answer = {"ok": False, "error": StructureError(
                "PARSE_ERROR", f"cannot parse the file: {type(exc).__name__}: {detail[:300]}").to_dict()}
        out.write(json.dumps(answer, allow_nan=False) + "\n")


if __name__ == "__main__":
    _serve()
