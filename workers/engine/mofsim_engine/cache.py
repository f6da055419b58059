"""Model cache: loaded models stay resident between jobs.

- Keyed by (model id, device, dtype); a model is loaded once even when several jobs ask for it at the same time
  (a per-key load lock; the second job waits for the first load instead of loading a copy).
- LRU eviction when the estimated resident size passes MOFSIM_MODEL_MEMORY_BUDGET_MB; models in use by a
  running job are never evicted (the job holds a reference; we would free nothing anyway). An explicit `unload`
  of a model in use is refused (ModelInUse) for the same reason.
- Jobs never share an ASE calculator object (ASE calculators keep per-geometry state and are not thread-safe).
  Each job gets a `JobCalculator`: its own results cache in front of the one shared loaded model.
  `JobCalculator.calculate` is the single place where model calls happen: it submits the geometry to the model's
  `Batcher` (batching/batcher.py), which merges concurrent requests of all jobs into one batched `predict` and
  serialises everything that touches the shared calculator under the model lock. With batching off
  (MOFSIM_BATCHING=0, or `ModelCache(batching=False)`) the caller runs its own call under that lock, as before.
- A job that evaluates many independent geometries at once (bulk-modulus volume points, phonon displacements)
  takes sibling calculators with `JobCalculator.spawn()`, one per thread, so their requests meet in the batcher.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .batching import Batcher, batching_enabled_from_env, max_batch_atoms
from .models import ModelAdapter, get_adapter
from .models.base import predict_one

log = logging.getLogger("mofsim_engine.cache")

DEFAULT_BUDGET_MB = 64_000.0  # generous: the budget is for evicting many large models, not a tight limit


def budget_mb_from_env() -> float:
    raw = os.environ.get("MOFSIM_MODEL_MEMORY_BUDGET_MB")
    try:
        return float(raw) if raw else DEFAULT_BUDGET_MB
    except ValueError:
        log.warning("ignoring invalid MOFSIM_MODEL_MEMORY_BUDGET_MB=%r", raw)
        return DEFAULT_BUDGET_MB


@dataclass
class LoadedModel:
    adapter: ModelAdapter
    device: str
    dtype: str
    calculator: Calculator  # the shared loaded calculator; only the batcher calls it, under `lock`
    memory_MB: float
    load_seconds: float
    loaded_at: float = field(default_factory=time.time)  # epoch seconds, when this copy finished loading
    last_used: float = field(default_factory=time.time)
    use_count: int = 0  # jobs served by this copy since it loaded (a job's spawned siblings are the same job)
    in_use: int = 0  # number of job calculators alive on it
    lock: threading.Lock = field(default_factory=threading.Lock)
    batcher: Batcher | None = None  # set by ModelCache.get; all model calls go through it


class JobCalculator(Calculator):
    """A job's private ASE calculator in front of a shared loaded model.

    Always computes energy, forces and (for 3D-periodic cells) stress in one model call: FrechetCellFilter asks
    for forces then stress separately, and the second request is then served from this object's cache.
    """

    def __init__(self, loaded: LoadedModel, cache: "ModelCache"):
        super().__init__()
        self._loaded = loaded
        self._cache = cache
        shared = loaded.calculator.implemented_properties
        self.implemented_properties = [p for p in ("energy", "free_energy", "forces", "stress") if p in shared]
        self._released = False
        loaded.batcher.register_client()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        # The one place where model calls happen: the batcher merges this with other jobs' concurrent calls.
        pred = self._loaded.batcher.submit(self.atoms.copy())
        self._loaded.last_used = time.time()
        self.results = {"energy": pred.energy_eV, "free_energy": pred.energy_eV,
                        "forces": np.array(pred.forces_eV_A, dtype=float)}
        if pred.stress_eV_A3 is not None and "stress" in self.implemented_properties:
            self.results["stress"] = np.array(pred.stress_eV_A3, dtype=float)

    def spawn(self) -> "JobCalculator":
        """Another calculator on the same loaded model, for a sibling thread of the same job (release it too)."""
        if self._released:
            raise RuntimeError("spawn() on a released JobCalculator")
        return self._cache._job_calculator_for(self._loaded)

    def parked(self):
        """Context manager: this calculator will not submit while its job waits on spawned siblings, so the
        batcher need not wait for it before sending a batch out."""
        return self._loaded.batcher.parked()

    @property
    def batcher(self) -> Batcher:
        return self._loaded.batcher

    def release(self) -> None:
        """Give the model back to the cache (the job finished); idempotent."""
        if not self._released:
            self._released = True
            self._loaded.batcher.unregister_client()
            self._cache._release(self._loaded)


def _iso(t: float) -> str:
    """Epoch seconds → ISO 8601 UTC with milliseconds (`2026-11-22T10:00:00.123Z`)."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ModelInUse(Exception):
    """`ModelCache.unload` refused: running jobs hold the model."""

    def __init__(self, model_id: str, in_use: int):
        super().__init__(f"{model_id} is in use by {in_use} running job(s)")
        self.model_id = model_id
        self.in_use = in_use


class ModelCache:
    def __init__(self, device: str, dtype: str, budget_MB: float | None = None, *, batching: bool | None = None,
                 max_wait_s: float | None = None, max_batch_atoms: int | None = None):
        """batching: merge concurrent calls (default: MOFSIM_BATCHING, on); max_wait_s (default
        MOFSIM_BATCH_MAX_WAIT_MS, 5 ms) and max_batch_atoms (default from the model's memory per atom) configure
        each model's Batcher."""
        self.device = device
        self.dtype = dtype
        self.budget_MB = budget_mb_from_env() if budget_MB is None else budget_MB
        self.batching = batching_enabled_from_env() if batching is None else bool(batching)
        self.max_wait_s = max_wait_s
        self.max_batch_atoms = max_batch_atoms
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()  # LRU order: oldest first
        self._lock = threading.Lock()  # guards _models and _load_locks
        self._load_locks: dict[tuple, threading.Lock] = {}

    def _key(self, model_id: str) -> tuple:
        return (model_id, self.device, self.dtype)

    def get(self, model_id: str) -> LoadedModel:
        """The loaded model, loading it (once) if needed."""
        adapter = get_adapter(model_id)
        key = self._key(model_id)
        with self._lock:
            lm = self._models.get(key)
            if lm is not None:
                self._models.move_to_end(key)
                lm.last_used = time.time()
                return lm
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:  # a second caller waits here while the first loads
            with self._lock:
                lm = self._models.get(key)
                if lm is not None:
                    self._models.move_to_end(key)
                    return lm
            t0 = time.perf_counter()
            calc = adapter.load(self.device, self.dtype)
            lm = LoadedModel(adapter=adapter, device=self.device, dtype=self.dtype, calculator=calc,
                             memory_MB=adapter.model_memory_MB, load_seconds=time.perf_counter() - t0)
            lm.batcher = Batcher(
                lambda batch, a=adapter, c=calc: a.predict(c, batch), lambda atoms, c=calc: predict_one(c, atoms),
                lock=lm.lock, max_wait_s=self.max_wait_s, enabled=self.batching, name=model_id,
                max_batch_atoms=self.max_batch_atoms or max_batch_atoms(adapter.memory_per_atom_MB, self.device))
            log.info("model loaded", extra={"fields": {"model": model_id, "device": self.device,
                                                         "load_s": round(lm.load_seconds, 3)}})
            with self._lock:
                self._models[key] = lm
                self._evict_locked()
            return lm

    def job_calculator(self, model_id: str) -> JobCalculator:
        """A job's calculator on the (cached) model; counts one use of the model."""
        lm = self.get(model_id)
        with self._lock:
            lm.use_count += 1
            lm.last_used = time.time()
        return self._job_calculator_for(lm)

    def _job_calculator_for(self, lm: LoadedModel) -> JobCalculator:
        with self._lock:
            lm.in_use += 1
        return JobCalculator(lm, self)

    def _release(self, lm: LoadedModel) -> None:
        with self._lock:
            lm.in_use = max(0, lm.in_use - 1)
            self._evict_locked()

    def _evict_locked(self) -> None:
        total = sum(m.memory_MB for m in self._models.values())
        for key in list(self._models):
            if total <= self.budget_MB:
                break
            m = self._models[key]
            if m.in_use:
                continue
            del self._models[key]
            total -= m.memory_MB
            log.info("model evicted (LRU)", extra={"fields": {"model": key[0], "memory_MB": m.memory_MB}})
        self._free_device_memory()

    def unload(self, model_id: str) -> bool:
        """Drop an idle model from the cache; False when it was not loaded. Raises ModelInUse while jobs hold it:
        dropping it then would free nothing (each job keeps its reference to the weights) and the next job would
        load a second copy beside the first."""
        key = self._key(model_id)
        with self._lock:
            lm = self._models.get(key)
            if lm is None:
                return False
            if lm.in_use:
                raise ModelInUse(model_id, lm.in_use)
            del self._models[key]
        self._free_device_memory()
        return True

    def is_loaded(self, model_id: str) -> bool:
        with self._lock:
            return self._key(model_id) in self._models

    def status(self) -> list[dict]:
        with self._lock:
            return [
                {"id": k[0], "device": k[1], "dtype": k[2], "memory_MB": m.memory_MB,
                 "loaded_at": _iso(m.loaded_at), "last_used": _iso(m.last_used), "use_count": m.use_count,
                 "in_use": m.in_use, "load_seconds": round(m.load_seconds, 3),
                 "batching": m.batcher.stats() if m.batcher is not None else None}
                for k, m in self._models.items()
            ]

    def _free_device_memory(self) -> None:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
