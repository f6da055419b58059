"""Request-level batching: concurrent model calls of one loaded model merged into one batched forward pass.

Every job thread that needs energy/forces/stress calls `Batcher.submit(atoms)` (through its JobCalculator) and
blocks. One worker thread per loaded model collects the waiting requests and runs them as one `predict(list)`:

- Bounded wait: the first waiting request is held at most `max_wait_s` (default 5 ms) for company. The batch goes
  out earlier when every registered client is already waiting (nothing more can arrive) or when the atom budget
  is full. A single job therefore pays no waiting at all: it is the only client, so its request goes at once.
- Atom budget: a batch takes requests in arrival order while their atoms fit in `max_batch_atoms` (derived from
  the model's memory per atom and the device memory, see `max_batch_atoms`); a structure larger than the budget
  still runs, alone.
- Errors: if the batched call raises, each structure of the batch is retried alone (`predict_one`), so one bad
  structure fails only its own caller; the exception is re-raised in that caller's thread.
- `enabled=False` is the previous behaviour (and the baseline of bench/engine_throughput.py): each caller runs
  `predict_one` itself, serialised by the model lock.

Clients: a JobCalculator registers while it is alive, and a job that hands its work to sibling calculators (the
bulk-modulus volume points, the phonon displacements) parks its own for the duration, so "every client is
waiting" is an accurate early-dispatch signal. Unregistered callers (scripts) simply count as one client.

The worker thread starts on the first request and exits after `IDLE_EXIT_S` without work (a later request starts
it again), so an unloaded model leaves no thread behind.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from typing import Callable

from ..errors import is_out_of_memory

log = logging.getLogger("mofsim_engine.batching")

DEFAULT_MAX_WAIT_MS = 5.0
IDLE_EXIT_S = 10.0
# Activation memory the batcher may plan for on a GPU when nothing says otherwise: half of the device memory (the
# rest holds weights, the D3 edge lists and fragmentation).
GPU_BATCH_MEMORY_FRACTION = 0.5
# On CPU a batched forward pass costs more CPU time per structure than separate ones once the batch outgrows the
# caches (SevenNet-0 + D3 on calf: ~0.42 s/structure alone, ~0.6 s/structure in batches of 4-8; bench/README.md),
# so by default only small structures are merged there (13-atom phonon displacements: 4 per batch). GPUs are the
# opposite case and get the memory-derived budget.
CPU_BATCH_MAX_ATOMS = 64
MAX_BATCH_ATOMS_CAP = 1_000_000


def batching_enabled_from_env() -> bool:
    """MOFSIM_BATCHING=0 turns batching off (per-model lock, one structure per call). Default on."""
    return os.environ.get("MOFSIM_BATCHING", "1").strip().lower() not in ("0", "false", "no", "off")


def max_wait_s_from_env() -> float:
    """MOFSIM_BATCH_MAX_WAIT_MS: how long the first request of a batch waits for company (default 5 ms)."""
    raw = os.environ.get("MOFSIM_BATCH_MAX_WAIT_MS")
    try:
        v = float(raw) if raw else DEFAULT_MAX_WAIT_MS
    except ValueError:
        log.warning("ignoring invalid MOFSIM_BATCH_MAX_WAIT_MS=%r", raw)
        v = DEFAULT_MAX_WAIT_MS
    return max(0.0, v) / 1000.0


def max_batch_atoms(memory_per_atom_MB: float, device: str) -> int:
    """Atom budget of one batch: MOFSIM_BATCH_MAX_ATOMS if set; else batch memory / memory per atom, where batch
    memory is MOFSIM_BATCH_MEMORY_MB or half the GPU's memory; on CPU without either variable, CPU_BATCH_MAX_ATOMS."""
    raw = os.environ.get("MOFSIM_BATCH_MAX_ATOMS")
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            log.warning("ignoring invalid MOFSIM_BATCH_MAX_ATOMS=%r", raw)
    budget_MB = None
    raw = os.environ.get("MOFSIM_BATCH_MEMORY_MB")
    if raw:
        try:
            budget_MB = float(raw)
        except ValueError:
            log.warning("ignoring invalid MOFSIM_BATCH_MEMORY_MB=%r", raw)
    if budget_MB is None and device.startswith("cuda"):
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            total = torch.cuda.get_device_properties(torch.device(device)).total_memory
            budget_MB = GPU_BATCH_MEMORY_FRACTION * total / 2**20
    if budget_MB is None:
        return CPU_BATCH_MAX_ATOMS
    per_atom = max(float(memory_per_atom_MB), 1e-3)
    return int(min(MAX_BATCH_ATOMS_CAP, max(1, budget_MB / per_atom)))


class _Request:
    __slots__ = ("atoms", "n_atoms", "t_submit", "done", "result", "error")

    def __init__(self, atoms):
        self.atoms = atoms
        self.n_atoms = len(atoms)
        self.t_submit = time.monotonic()
        self.done = threading.Event()
        self.result = None
        self.error: BaseException | None = None

    def finish(self, result=None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


def atoms_bin(n_atoms: int) -> int:
    """The power-of-two bin of a batch's atom count: the least 2**k >= n_atoms (1 for an empty batch)."""
    return 1 << max(0, int(n_atoms) - 1).bit_length()


class Batcher:
    """Merges concurrent `submit` calls for one loaded model into batched `predict` calls.

    predict: list[Atoms] -> list[Prediction] (one batched forward pass); predict_one: Atoms -> Prediction (the
    unbatched path, used for the fallback and when batching is disabled). Both run under `lock` (the model lock).
    """

    def __init__(self, predict: Callable, predict_one: Callable, *, lock: threading.Lock | None = None,
                 max_wait_s: float | None = None, max_batch_atoms: int = 100_000, enabled: bool = True,
                 name: str = "model"):
        self._predict = predict
        self._predict_one = predict_one
        self._model_lock = lock or threading.Lock()
        self.max_wait_s = max_wait_s_from_env() if max_wait_s is None else float(max_wait_s)
        self.max_batch_atoms = int(max_batch_atoms)
        self.enabled = bool(enabled)
        self.name = name
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._thread: threading.Thread | None = None
        self._clients = 0
        self._parked = 0
        # statistics (guarded by _cond)
        self._sizes: Counter[int] = Counter()
        # atoms per batch in power-of-two bins: upper bound -> [batches, atoms] (exported as a Prometheus histogram)
        self._atoms_bins: dict[int, list[int]] = {}
        self._n_batches = 0
        self._n_requests = 0
        self._n_atoms = 0
        self._max_atoms_seen = 0
        self._fallbacks = 0
        self._failed = 0
        # model calls (batched or single) that ran out of memory, counted where torch raises it: a batch split after
        # an OOM counts too, although its structures then succeed one by one
        self._ooms = 0
        self._wait_s = 0.0
        self._busy_s = 0.0

    # --- clients ----------------------------------------------------------------------------------------------
    def register_client(self) -> None:
        with self._cond:
            self._clients += 1

    def unregister_client(self) -> None:
        with self._cond:
            self._clients = max(0, self._clients - 1)
            self._cond.notify_all()  # fewer clients may mean everyone left is already waiting

    @contextmanager
    def parked(self):
        """A registered client that will not submit for a while (it waits on sibling calculators)."""
        with self._cond:
            self._parked += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._parked -= 1

    def _active_clients(self) -> int:
        return max(1, self._clients - self._parked)

    # --- requests ---------------------------------------------------------------------------------------------
    def submit(self, atoms):
        """Evaluate one structure (blocks until its batch ran). Returns a Prediction; re-raises its own error."""
        if not self.enabled:
            t0 = time.monotonic()
            try:
                with self._model_lock:
                    t1 = time.monotonic()
                    result = self._predict_one(atoms)
            except Exception as exc:
                with self._cond:
                    self._failed += 1
                    self._ooms += int(is_out_of_memory(exc))
                raise
            with self._cond:
                self._record([len(atoms)], wait_s=t1 - t0, busy_s=time.monotonic() - t1)
            return result
        req = _Request(atoms)
        with self._cond:
            self._pending.append(req)
            if self._thread is None:
                self._thread = threading.Thread(target=self._worker, name=f"batcher-{self.name}", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        req.done.wait()
        if req.error is not None:
            raise req.error
        return req.result

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    if not self._cond.wait(timeout=IDLE_EXIT_S) and not self._pending:
                        self._thread = None
                        return
                deadline = self._pending[0].t_submit + self.max_wait_s
                while True:
                    if len(self._pending) >= self._active_clients():
                        break
                    if sum(r.n_atoms for r in self._pending) >= self.max_batch_atoms:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(timeout=remaining)
                take: list[_Request] = [self._pending.popleft()]
                total = take[0].n_atoms
                while self._pending and total + self._pending[0].n_atoms <= self.max_batch_atoms:
                    r = self._pending.popleft()
                    take.append(r)
                    total += r.n_atoms
            self._run(take)

    def _run(self, take: list[_Request]) -> None:
        t0 = time.monotonic()
        fallback = False
        ooms = 0
        try:
            try:
                with self._model_lock:
                    results = self._predict([r.atoms for r in take])
                if len(results) != len(take):
                    raise RuntimeError(f"predict returned {len(results)} results for {len(take)} structures")
                for r, res in zip(take, results):
                    r.finish(result=res)
            except Exception as exc:  # noqa: BLE001 - isolate the structure at fault
                ooms += int(is_out_of_memory(exc))
                if len(take) == 1:
                    take[0].finish(error=exc)
                else:
                    fallback = True
                    log.warning("batched call failed; retrying structure by structure",
                                extra={"fields": {"model": self.name, "batch": len(take),
                                                  "error": f"{type(exc).__name__}: {exc}"}})
                    for r in take:
                        try:
                            with self._model_lock:
                                r.finish(result=self._predict_one(r.atoms))
                        except Exception as exc1:  # noqa: BLE001 - this caller's own error
                            ooms += int(is_out_of_memory(exc1))
                            r.finish(error=exc1)
        finally:
            for r in take:  # never leave a caller waiting, whatever happened above
                if not r.done.is_set():
                    r.finish(error=RuntimeError("batcher: request was not evaluated"))
            with self._cond:
                self._record([r.n_atoms for r in take], wait_s=sum(t0 - r.t_submit for r in take),
                             busy_s=time.monotonic() - t0)
                self._fallbacks += int(fallback)
                self._failed += sum(r.error is not None for r in take)
                self._ooms += ooms

    def _record(self, atoms_per_request: list[int], *, wait_s: float, busy_s: float) -> None:
        n = len(atoms_per_request)
        self._sizes[n] += 1
        self._n_batches += 1
        self._n_requests += n
        atoms = sum(atoms_per_request)
        self._n_atoms += atoms
        self._max_atoms_seen = max(self._max_atoms_seen, atoms)
        b = self._atoms_bins.setdefault(atoms_bin(atoms), [0, 0])
        b[0] += 1
        b[1] += atoms
        self._wait_s += wait_s
        self._busy_s += busy_s

    # --- reporting --------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Batch-size statistics since the model was loaded (reported by the `status` op)."""
        with self._cond:
            nb = self._n_batches
            return {
                "enabled": self.enabled,
                "max_wait_ms": round(self.max_wait_s * 1000.0, 3),
                "max_batch_atoms": self.max_batch_atoms,
                "clients": self._clients,
                "batches": nb,
                "requests": self._n_requests,
                "mean_batch_size": round(self._n_requests / nb, 3) if nb else None,
                "max_batch_size": max(self._sizes) if self._sizes else 0,
                "batch_size_histogram": {str(k): v for k, v in sorted(self._sizes.items())},
                "mean_batch_atoms": round(self._n_atoms / nb, 1) if nb else None,
                "batch_atoms_histogram": {str(k): list(v) for k, v in sorted(self._atoms_bins.items())},
                "max_batch_atoms_seen": self._max_atoms_seen,
                "fallbacks": self._fallbacks,
                "failed_requests": self._failed,
                "out_of_memory": self._ooms,
                "mean_queue_wait_ms": round(1000.0 * self._wait_s / self._n_requests, 3) if self._n_requests else None,
                "busy_s": round(self._busy_s, 3),
            }
