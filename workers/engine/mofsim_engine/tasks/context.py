"""JobContext: what a task sees of the engine while it runs.

A task never touches stdout or the protocol directly; it reports through the context, which turns calls into
protocol events (`progress`, `checkpoint`, `log`) for its request id. Cancellation is cooperative: the server
sets `cancel_event`, and the task's loop calls `check_cancelled()` every step.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import JobCancelled

# Progress events are rate-limited per job (PROTOCOL.md: at most ~2 per second, plus first and last step).
PROGRESS_MIN_INTERVAL_S = 0.5

EmitFn = Callable[[str, dict], None]


def _no_emit(event: str, data: dict) -> None:  # default for tests and direct library use
    pass


@dataclass
class JobContext:
    job_id: str
    work_dir: Path
    calculator: Any  # the ASE calculator reserved for this job (not shared with other jobs)
    model_id: str
    structure_name: str | None = None
    resume_from: Path | None = None
    # Wiring to the server; defaults make a context usable without one (tests, scripts).
    emit: EmitFn = field(default=_no_emit, repr=False)
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _last_progress_s: float = field(default=float("-inf"), repr=False)

    def progress(self, *, force: bool = False, **fields: Any) -> bool:
        """Emit a progress event unless one went out less than PROGRESS_MIN_INTERVAL_S ago.
        `force=True` for the first and last step. Returns whether an event was emitted."""
        now = time.monotonic()
        if not force and now - self._last_progress_s < PROGRESS_MIN_INTERVAL_S:
            return False
        self._last_progress_s = now
        self.emit("progress", {k: _jsonable(v) for k, v in fields.items()})
        return True

    def checkpoint(self, path: Path, step: int) -> None:
        """Announce a checkpoint file already written (atomically) by the task; the worker records the path so
        a retry can pass it back as `resume_from`."""
        self.emit("checkpoint", {"path": str(Path(path).resolve()), "step": int(step)})

    def log(self, level: str, message: str) -> None:
        self.emit("log", {"level": level.upper(), "message": message})

    def check_cancelled(self) -> None:
        """Raise JobCancelled (error code CANCELLED) once a `cancel` for this job arrived. Call every step."""
        if self.cancel_event.is_set():
            raise JobCancelled(self.job_id)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


def _jsonable(v: Any) -> Any:
    """numpy scalars and arrays -> plain Python so json.dumps never fails inside a job."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if hasattr(v, "item"):
        return v.item()
    return v
