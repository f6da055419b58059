"""JobContext: what a task sees of the engine while it runs.

A task never touches stdout or the protocol directly; it reports through the context, which turns calls into
protocol events (`progress`, `checkpoint`, `log`) for its request id. Cancellation is cooperative: the server
sets `cancel_event`, and the task's loop calls `check_cancelled()` every step.

`map_parallel` runs independent pieces of one job (bulk-modulus volume points, phonon displacements) in threads,
each with its own calculator spawned from the job's, so their model calls meet in the model's batcher and run as
one batched forward pass. `parallel=False` (or a calculator that cannot spawn, e.g. a bare ASE calculator in a
test) keeps the sequential path.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import JobCancelled

# Upper bound on threads of one job's map_parallel (each holds a spawned calculator; the batcher's atom budget
# decides how many structures actually share a forward pass).
MAX_PARALLEL = 64

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
    # Set (before cancel_event) by a `cancel` with checkpoint: true: the job is being handed back (pause, drain,
    # preemption) and should save its state at the step where it stops, if it can resume from one.
    checkpoint_event: threading.Event = field(default_factory=threading.Event, repr=False)
    # Submit independent pieces of the job together (map_parallel); False = one after the other (tests).
    parallel: bool = True
    # Set on the children of map_parallel: a sibling failed, stop at the next step.
    abort_event: threading.Event | None = field(default=None, repr=False)
    # Set on the children of map_parallel: progress goes to the parent's aggregate instead of out.
    progress_hook: Callable[[bool, dict], None] | None = field(default=None, repr=False)
    _last_progress_s: float = field(default=float("-inf"), repr=False)
    _progress_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, *, force: bool = False, **fields: Any) -> bool:
        """Emit a progress event unless one went out less than PROGRESS_MIN_INTERVAL_S ago.
        `force=True` for the first and last step. Returns whether an event was emitted."""
        if self.progress_hook is not None:
            self.progress_hook(force, fields)
            return False
        with self._progress_lock:
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

    def check_cancelled(self, save: Callable[[], tuple[Path, int]] | None = None) -> None:
        """Raise JobCancelled (error code CANCELLED) once a `cancel` for this job arrived. Call every step.

        `save`: how this task writes a checkpoint of its current state (it must be called at a step boundary,
        where the state is consistent, and write the format its resume reads); returns (path, step). When the
        cancel asked for a checkpoint, `save` runs, the checkpoint is announced (the usual `checkpoint` event) and
        the error carries {path, step}. Tasks that cannot resume pass nothing and just stop."""
        if self.cancel_event.is_set():
            if save is not None and self.checkpoint_event.is_set():
                path, step = save()
                self.checkpoint(path, step)
                raise JobCancelled(self.job_id, {"path": str(Path(path).resolve()), "step": int(step)})
            raise JobCancelled(self.job_id)
        if self.abort_event is not None and self.abort_event.is_set():
            raise _SiblingFailed()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def can_parallel(self) -> bool:
        """Whether map_parallel will really run in threads (parallel on and a calculator that can spawn)."""
        return self.parallel and callable(getattr(self.calculator, "spawn", None))

    def map_parallel(self, fn: Callable[["JobContext", Any], Any], items: list, *,
                     on_progress: Callable[[int, bool, dict], None] | None = None,
                     max_workers: int = MAX_PARALLEL) -> list:
        """[fn(child_ctx, item) for item in items], run in up to `max_workers` threads, results in order.

        Each thread gets a child context with its own calculator (spawned from this job's; released at the end)
        and this job's cancellation; this job's own calculator is parked meanwhile. A child's progress calls go to
        `on_progress(item_index, force, fields)` (not out: the caller aggregates them). The first exception of any
        item stops the others at their next `check_cancelled()` and is re-raised here (a cancellation wins).
        Without `can_parallel()` the items run one after the other in this thread with child contexts that share
        this job's calculator.
        """
        n = len(items)
        if n == 0:
            return []
        abort = threading.Event()
        results: list = [None] * n
        errors: list[BaseException] = []
        next_item = iter(range(n))
        item_lock = threading.Lock()

        def child(calculator, index_box: list) -> "JobContext":
            def hook(force: bool, fields: dict) -> None:
                if on_progress is not None:
                    on_progress(index_box[0], force, fields)

            return JobContext(job_id=self.job_id, work_dir=self.work_dir, calculator=calculator,
                              model_id=self.model_id, structure_name=self.structure_name, emit=self.emit,
                              cancel_event=self.cancel_event, parallel=False, abort_event=abort,
                              progress_hook=hook)

        if not self.can_parallel() or n == 1:
            box = [0]
            ctx = child(self.calculator, box)
            for i, item in enumerate(items):
                box[0] = i
                results[i] = fn(ctx, item)
            return results

        def worker(calculator) -> None:
            box = [0]
            ctx = child(calculator, box)
            try:
                while not abort.is_set():
                    with item_lock:
                        i = next(next_item, None)
                    if i is None:
                        return
                    box[0] = i
                    results[i] = fn(ctx, items[i])
            except BaseException as exc:  # noqa: BLE001 - handed to the job's thread below
                with item_lock:
                    errors.append(exc)
                abort.set()
            finally:
                calculator.release()

        k = max(1, min(n, int(max_workers)))
        calculators = [self.calculator.spawn() for _ in range(k)]
        threads = [threading.Thread(target=worker, args=(c,), name=f"{self.job_id}-part{j}", daemon=True)
                   for j, c in enumerate(calculators)]
        with self.calculator.parked():
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        real = [e for e in errors if not isinstance(e, _SiblingFailed)]
        if real:
            cancelled = [e for e in real if isinstance(e, JobCancelled)]
            raise (cancelled or real)[0]
        self.check_cancelled()
        return results


class _SiblingFailed(Exception):
    """Raised in a map_parallel child after a sibling failed (never escapes map_parallel)."""


def _jsonable(v: Any) -> Any:
    """numpy scalars and arrays -> plain Python so json.dumps never fails inside a job."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if hasattr(v, "item"):
        return v.item()
    return v
