"""Model cache: loaded models stay resident between jobs.

- Keyed by (model id, device, dtype); a model is loaded once even when several jobs ask for it at the same time
  (a per-key load lock; the second job waits for the first load instead of loading a copy).
- LRU eviction when the estimated resident size passes MOFSIM_MODEL_MEMORY_BUDGET_MB; models in use by a
  running job are never evicted (the job holds a reference; we would free nothing anyway).
- Jobs never share an ASE calculator object (ASE calculators keep per-geometry state and are not thread-safe).
  Each job gets a `JobCalculator`: its own results cache in front of the one shared loaded calculator, whose
  calls are serialised by a per-model lock. `JobCalculator.calculate` is the single place where model calls
  happen, so a batcher can later replace the lock without touching the tasks.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ase.calculators.calculator import Calculator, all_changes

from .models import ModelAdapter, get_adapter

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
    calculator: Calculator  # the shared loaded calculator; only JobCalculator calls it, under `lock`
    memory_MB: float
    load_seconds: float
    last_used: float = field(default_factory=time.time)
    in_use: int = 0  # number of job calculators alive on it
    lock: threading.Lock = field(default_factory=threading.Lock)


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

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        wanted = {"energy", "forces"} | set(properties)
        if self.atoms.pbc.all() and "stress" in self.implemented_properties:
            wanted.add("stress")
        wanted &= set(self.implemented_properties)
        shared = self._loaded.calculator
        with self._loaded.lock:  # the one place where model calls happen
            # "forces" first: torch-dftd computes only the energy when asked for "energy" alone, so the
            # SumCalculator mixer, asking property by property, would run D3 twice per geometry.
            order = [p for p in ("forces", "stress", "energy", "free_energy") if p in wanted]
            shared.calculate(self.atoms.copy(), order, all_changes)
            results = dict(shared.results)
        self._loaded.last_used = time.time()
        self.results = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in results.items()
                        if k in ("energy", "free_energy", "forces", "stress")}
        if "free_energy" not in self.results and "energy" in self.results:
            self.results["free_energy"] = self.results["energy"]

    def release(self) -> None:
        """Give the model back to the cache (the job finished); idempotent."""
        if not self._released:
            self._released = True
            self._cache._release(self._loaded)


class ModelCache:
    def __init__(self, device: str, dtype: str, budget_MB: float | None = None):
        self.device = device
        self.dtype = dtype
        self.budget_MB = budget_mb_from_env() if budget_MB is None else budget_MB
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
            log.info("model loaded", extra={"fields": {"model": model_id, "device": self.device,
                                                         "load_s": round(lm.load_seconds, 3)}})
            with self._lock:
                self._models[key] = lm
                self._evict_locked()
            return lm

    def job_calculator(self, model_id: str) -> JobCalculator:
        lm = self.get(model_id)
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
        """Drop the model from the cache. Running jobs keep their reference until they finish."""
        with self._lock:
            lm = self._models.pop(self._key(model_id), None)
        if lm is not None:
            self._free_device_memory()
        return lm is not None

    def is_loaded(self, model_id: str) -> bool:
        with self._lock:
            return self._key(model_id) in self._models

    def status(self) -> list[dict]:
        with self._lock:
            return [
                {"id": k[0], "device": k[1], "dtype": k[2], "memory_MB": m.memory_MB,
                 "last_used": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m.last_used)),
                 "in_use": m.in_use, "load_seconds": round(m.load_seconds, 3)}
                for k, m in self._models.items()
            ]

    def _free_device_memory(self) -> None:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
