"""The engine's request loop (PROTOCOL.md).

- The hello line goes out before anything heavy is imported (torch, sevenn, ASE calculators load lazily on the
  first op that needs them), so the TS supervisor sees a live engine in well under 2 s.
- The main thread only reads stdin and dispatches. Quick ops (ping, status, cancel, shutdown) answer inline;
  everything that may import or compute (parse, models, load, unload, run) runs in its own thread, so a long
  job never blocks a ping or a cancel, and several runs proceed at once.
- Exactly one response per request: every handler thread ends in exactly one response, errors included. A crash
  inside a job becomes ENGINE_ERROR (retryable), torch OOM becomes OUT_OF_MEMORY; the process survives.
- EOF on stdin (the worker died or closed the pipe) cancels running jobs and exits 0.
"""
from __future__ import annotations

import logging
import os
import platform
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import EngineError, InvalidParameter, to_engine_error
from .protocol import Writer, claim_stdout, read_requests, setup_logging
from .structure_cache import StructureCache

PROTOCOL_VERSION = 1
SHUTDOWN_GRACE_S = 10.0  # how long shutdown/EOF waits for cancelled jobs to answer CANCELLED

log = logging.getLogger("mofsim_engine.server")


def resolve_device() -> str:
    """MOFSIM_DEVICE, else cuda when an NVIDIA device node exists (checked without importing torch, to keep
    start-up fast; the cache falls back to cpu if torch then finds no CUDA, as MOFSimBench does)."""
    env = os.environ.get("MOFSIM_DEVICE")
    if env:
        return env
    return "cuda" if os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl") else "cpu"


def max_atoms_from_env() -> int:
    try:
        return int(os.environ.get("MOFSIM_MAX_ATOMS", "10000"))
    except ValueError:
        return 10000


@dataclass
class Job:
    job_id: str
    req_id: Any
    cancel_event: threading.Event = field(default_factory=threading.Event)
    checkpoint_event: threading.Event = field(default_factory=threading.Event)  # cancel asked for a checkpoint
    thread: threading.Thread | None = None
    started: float = field(default_factory=time.time)


class Engine:
    def __init__(self, writer: Writer):
        self.writer = writer
        self.device = resolve_device()
        self.dtype = os.environ.get("MOFSIM_DTYPE", "float32")
        self.max_atoms = max_atoms_from_env()
        self.structures = StructureCache()
        self._cache = None
        self._cache_lock = threading.Lock()
        self._parse_pool = None
        self.jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.handlers: dict[str, tuple[Callable[[dict], dict], bool]] = {
            # op -> (handler, runs in its own thread)
            "ping": (self.op_ping, False),
            "status": (self.op_status, False),
            "cancel": (self.op_cancel, False),
            "parse": (self.op_parse, True),
            "models": (self.op_models, True),
            "load": (self.op_load, True),
            "unload": (self.op_unload, True),
            "run": (self.op_run, True),
            "resolve": (self.op_resolve, True),
            "validate": (self.op_validate, True),
        }

    # --- start-up -------------------------------------------------------------------------------------------
    def hello(self) -> dict:
        from .provenance import package_versions

        return {"type": "hello", "protocol": PROTOCOL_VERSION, "engine_version": __version__, "pid": os.getpid(),
                "device": self.device, "dtype": self.dtype, "python": platform.python_version(),
                "packages": package_versions()}

    @property
    def cache(self):
        """Created on first use: importing it pulls in ASE calculators, and checking CUDA imports torch."""
        with self._cache_lock:
            if self._cache is None:
                if self.device.startswith("cuda"):
                    import torch

                    if not torch.cuda.is_available():
                        log.warning("CUDA requested but not available; falling back to cpu",
                                    extra={"fields": {"requested": self.device}})
                        self.device = "cpu"
                from .cache import ModelCache

                self._cache = ModelCache(self.device, self.dtype)
            return self._cache

    # --- dispatch -------------------------------------------------------------------------------------------
    def dispatch(self, req: dict) -> None:
        req_id = req.get("id")
        op = req.get("op")
        if req_id is None:
            self.writer.response_error(None, EngineError("INVALID_REQUEST", "request has no id", field="id").to_dict())
            return
        if op == "shutdown":
            self.shutdown(req_id)
            return
        entry = self.handlers.get(op)
        if entry is None:
            self.writer.response_error(req_id, EngineError(
                "UNKNOWN_OP", f"unknown op {op!r} (one of {sorted([*self.handlers, 'shutdown'])})",
                field="op").to_dict())
            return
        handler, threaded = entry
        if not threaded:
            self._answer(req_id, handler, req)
            return
        t = threading.Thread(target=self._answer, args=(req_id, handler, req), name=f"{op}-{req_id}", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _answer(self, req_id: Any, handler: Callable[[dict], dict], req: dict) -> None:
        """Run one handler and send exactly one response, whatever happens."""
        try:
            data = handler(req)
        except BaseException as exc:  # noqa: BLE001 - the process must survive any job failure
            err = to_engine_error(exc)
            if err.code in ("ENGINE_ERROR", "OUT_OF_MEMORY"):
                log.error("request failed", exc_info=exc,
                          extra={"fields": {"id": req_id, "op": req.get("op"), "code": err.code}})
            self.writer.response_error(req_id, err.to_dict())
            if err.code == "OUT_OF_MEMORY":
                self._free_memory()
            return
        self.writer.response_ok(req_id, data)

    def _free_memory(self) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    # --- ops ------------------------------------------------------------------------------------------------
    def op_ping(self, req: dict) -> dict:
        return {}

    def op_status(self, req: dict) -> dict:
        with self._jobs_lock:
            running = list(self.jobs)
        loaded = self._cache.status() if self._cache is not None else []
        return {"device": self.device, "dtype": self.dtype, "loaded_models": loaded, "running_jobs": running,
                "engine_version": __version__, "pid": os.getpid()}

    def op_cancel(self, req: dict) -> dict:
        job_id = _require_str(req, "job_id")
        with self._jobs_lock:
            job = self.jobs.get(job_id)
        checkpoint = req.get("checkpoint", False)
        if not isinstance(checkpoint, bool):
            raise InvalidParameter("checkpoint", "checkpoint must be a boolean")
        if job is None:
            return {"cancelled": False}
        if checkpoint:
            job.checkpoint_event.set()  # before cancel_event: the job's check reads them in the other order
        job.cancel_event.set()
        return {"cancelled": True}

    @property
    def parse_pool(self):
        """Child processes for `parse` (parse_pool.py), started on the first parse: engines that only run jobs
        never start them."""
        with self._cache_lock:
            if self._parse_pool is None:
                from .parse_pool import ParsePool

                self._parse_pool = ParsePool()
            return self._parse_pool

    def op_parse(self, req: dict) -> dict:
        path = _require_str(req, "path")
        filename = req.get("filename") or Path(path).name
        return self.parse_pool.parse(path, filename, max_atoms=int(req.get("max_atoms") or self.max_atoms))

    def op_validate(self, req: dict) -> dict:
        """The effective parameters of a task, or the InvalidParameter a run would raise (checked at submission)."""
        from .tasks import get_task

        params_in = req.get("params") or {}
        if not isinstance(params_in, dict):
            raise InvalidParameter("params", "params must be an object")
        return {"params": get_task(_require_str(req, "task_type")).validate(params_in)}

    def op_models(self, req: dict) -> dict:
        from .models import list_models

        return {"models": list_models()}

    def op_resolve(self, req: dict) -> dict:
        """What a run of (task_type, model, params) would record in its provenance, without running it: the
        effective parameters, the canonical model id, its weights hash and the engine version (the inputs of the
        result-cache key besides the structure)."""
        from .models import get_adapter
        from .tasks import get_task

        task_type = _require_str(req, "task_type")
        params_in = req.get("params") or {}
        if not isinstance(params_in, dict):
            raise InvalidParameter("params", "params must be an object")
        params = get_task(task_type).validate(params_in)
        adapter = get_adapter(_require_str(req, "model"))
        return {"model": adapter.id, "weights_sha256": adapter.weights_sha256, "parameters": params,
                "engine_version": __version__}

    def op_load(self, req: dict) -> dict:
        from .models import get_adapter

        # Aliases resolve to the canonical id so the cache never holds one model twice under two names.
        adapter = get_adapter(_require_str(req, "model"))
        model = adapter.id
        ok, reason = adapter.available()
        if not ok:
            raise EngineError("MODEL_UNAVAILABLE", f"{model}: {reason}", field="model")
        already = self.cache.is_loaded(model)
        with model_loading(model):
            lm = self.cache.get(model)
        return {"model": model, "loaded": True, "already_loaded": already, "device": self.device,
                "load_seconds": round(lm.load_seconds, 3)}

    def op_unload(self, req: dict) -> dict:
        from .cache import ModelInUse
        from .models import get_adapter

        model = get_adapter(_require_str(req, "model")).id
        try:
            was_loaded = self.cache.unload(model)
        except ModelInUse as exc:
            # A refusal is an answer, not a failure: the caller reports it and may ask again once the jobs end.
            return {"model": model, "loaded": True, "was_loaded": True, "in_use": exc.in_use, "reason": str(exc)}
        return {"model": model, "loaded": False, "was_loaded": was_loaded}

    def op_run(self, req: dict) -> dict:
        job_id = _require_str(req, "job_id")
        job = Job(job_id=job_id, req_id=req.get("id"), thread=threading.current_thread())
        with self._jobs_lock:
            if job_id in self.jobs:
                raise InvalidParameter("job_id", f"job {job_id!r} is already running in this engine")
            self.jobs[job_id] = job
        try:
            return self._run_job(job, req)
        finally:
            with self._jobs_lock:
                self.jobs.pop(job_id, None)

    def _run_job(self, job: Job, req: dict) -> dict:
        from . import provenance
        from .client_fields import add_client_fields
        from .models import get_adapter
        from .tasks import get_task
        from .tasks.context import JobContext

        t0 = time.perf_counter()
        task_type = _require_str(req, "task_type")
        model_id = _require_str(req, "model")
        structure_path = _require_str(req, "structure_path")
        work_dir = Path(_require_str(req, "work_dir"))
        if not work_dir.is_dir():
            raise InvalidParameter("work_dir", f"work_dir does not exist or is not a directory: {work_dir}")
        resume_from = req.get("resume_from")
        if resume_from is not None:
            resume_from = Path(resume_from)
            if not resume_from.is_file():
                raise InvalidParameter("resume_from", f"checkpoint not found: {resume_from}")
        params_in = req.get("params") or {}
        if not isinstance(params_in, dict):
            raise InvalidParameter("params", "params must be an object")

        task = get_task(task_type)
        params = task.validate(params_in)
        adapter = get_adapter(model_id)
        model_id = adapter.id  # canonical id: one cache entry and one provenance name per model
        ok, reason = adapter.available()
        if not ok:
            raise EngineError("MODEL_UNAVAILABLE", f"{model_id}: {reason}", field="model")

        filename = req.get("filename") or Path(structure_path).name
        atoms, _fmt, _warnings = self.structures.load(structure_path, filename, max_atoms=self.max_atoms)
        covered = set(adapter.elements)
        missing = sorted(set(atoms.get_chemical_symbols()) - covered)
        if missing:
            raise EngineError("UNSUPPORTED_ELEMENTS",
                              f"model {model_id} does not cover element(s) {', '.join(missing)}", field="model")

        def emit(event: str, data: dict) -> None:
            self.writer.event(job.req_id, event, data)

        if job.cancel_event.is_set():
            raise EngineError("CANCELLED", f"job {job.job_id} was cancelled")
        t_load = time.perf_counter()
        with model_loading(model_id):
            calc = self.cache.job_calculator(model_id)
        load_s = time.perf_counter() - t_load
        try:
            ctx = JobContext(job_id=job.job_id, work_dir=work_dir, calculator=calc, model_id=model_id,
                             structure_name=req.get("structure_name") or Path(filename).stem,
                             resume_from=resume_from, emit=emit, cancel_event=job.cancel_event,
                             checkpoint_event=job.checkpoint_event)
            ctx.check_cancelled()
            t_task = time.perf_counter()
            result = task.run(atoms, params, ctx)
            task_s = time.perf_counter() - t_task
        finally:
            calc.release()
        result.setdefault("status", "ok")
        add_client_fields(task_type, result)
        result["provenance"] = provenance.build(adapter, device=self.device, dtype=self.dtype, parameters=params)
        result["timing_s"] = {"model_load": round(load_s, 3), "task": round(task_s, 3),
                              "total": round(time.perf_counter() - t0, 3)}
        return result

    # --- exit -----------------------------------------------------------------------------------------------
    def stop_jobs(self) -> None:
        """Cancel every running job and give them SHUTDOWN_GRACE_S to answer CANCELLED."""
        with self._jobs_lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.cancel_event.set()
        if self._parse_pool is not None:
            self._parse_pool.kill()
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for t in list(self._threads):
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def shutdown(self, req_id: Any) -> None:
        self.stop_jobs()
        self.writer.response_ok(req_id, {})
        _exit(0)


@contextmanager
def model_loading(model: str):
    """Turns a load failure that available() could not foresee into MODEL_UNAVAILABLE (not retryable)."""
    try:
        yield
    except (FileNotFoundError, ImportError) as exc:
        # A weights file that vanished or a broken install does not heal on a retry, for a load op or a job alike:
        # reported like a missing package, not as a retryable ENGINE_ERROR the task workflow would repeat.
        raise EngineError("MODEL_UNAVAILABLE", f"{model}: {type(exc).__name__}: {exc}", field="model") from exc


def _require_str(req: dict, name: str) -> str:
    v = req.get(name)
    if not isinstance(v, str) or not v:
        raise InvalidParameter(name, f"{name} is required (a non-empty string)")
    return v


def _exit(code: int) -> None:
    """Exit without waiting for daemon threads or interpreter teardown (torch can hang there)."""
    logging.shutdown()
    sys.__stderr__.flush()
    os._exit(code)


def main() -> None:
    out = claim_stdout()
    setup_logging()
    writer = Writer(out)
    engine = Engine(writer)
    writer.send(engine.hello())
    log.info("engine started", extra={"fields": {"device": engine.device, "dtype": engine.dtype}})
    for req, error in read_requests():
        if error is not None:
            writer.response_error(None, EngineError("INVALID_REQUEST", error).to_dict())
            continue
        try:
            engine.dispatch(req)
        except BaseException as exc:  # noqa: BLE001 - never let one bad request end the loop
            log.error("dispatch failed", exc_info=exc)
            writer.response_error(req.get("id"), to_engine_error(exc).to_dict())
    log.info("stdin closed; stopping")
    engine.stop_jobs()
    _exit(0)
