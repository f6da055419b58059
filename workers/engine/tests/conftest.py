"""Shared fixtures. Paths come from the repo layout (workers/engine/tests -> repo root)."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ENGINE_DIR = REPO / "workers" / "engine"
DATA = REPO / "data" / "mofsimbench"
MAIN_SET = DATA / "structures" / "main_set"
CALF = MAIN_SET / "calf.cif"


@pytest.fixture(scope="session")
def cache():
    """One in-process model cache for the whole session (SevenNet loads once, ~4 s on CPU)."""
    from mofsim_engine.cache import ModelCache

    return ModelCache("cpu", "float32")


@pytest.fixture
def make_ctx(tmp_path):
    """Build a JobContext that records its events in ctx.events."""
    from mofsim_engine.tasks.context import JobContext

    def _make(calculator, model_id="lj_test", structure_name=None, resume_from=None, job_id="test-job"):
        events: list[tuple[str, dict]] = []
        lock = threading.Lock()

        def emit(event, data):
            with lock:
                events.append((event, data))

        ctx = JobContext(job_id=job_id, work_dir=tmp_path, calculator=calculator, model_id=model_id,
                         structure_name=structure_name, resume_from=resume_from, emit=emit)
        ctx.events = events
        return ctx

    return _make


def python_exe() -> str:
    return sys.executable
