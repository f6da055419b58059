"""Speed: MOFSimBench `speed/speed.py` (PROTOCOLS.md §1.7).

FIRE on FrechetCellFilter(atoms) with default settings, one warm-up step (`run(fmax=0, steps=1)`, so a model that
compiles or allocates on first use does not count it), then `run(fmax=0, steps=1000)` timed by wall clock on the
same optimizer; `time_per_step = total / (nsteps − 1)` with nsteps the optimizer's step count over both runs, exactly
as the benchmark divides. The benchmark's structure is the conventional MOF-5 cell (424 atoms, built-in `MOF-5`);
atoms·steps/s = atoms / time_per_step. fmax = 0 never converges, so every step is taken.

A cancel is checked between steps (an observer); progress goes out at most every few seconds. Both cost
microseconds against a model call, so the timing is the benchmark's. A run that produces NaN is a `nan` result.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .context import JobContext
from .params import integer, reject_unknown

DEFAULTS = {"steps": 1000, "warmup_steps": 1}


def validate(params: dict | None) -> dict:
    params = params or {}
    reject_unknown(params, DEFAULTS)
    return {
        "steps": integer(params, "steps", DEFAULTS["steps"], ge=2, le=100_000),
        "warmup_steps": integer(params, "warmup_steps", DEFAULTS["warmup_steps"], ge=0, le=1000),
    }


def run(atoms, params: dict, ctx: JobContext) -> dict:
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    eff = validate(params)
    atoms.calc = ctx.calculator
    dyn = FIRE(FrechetCellFilter(atoms), logfile=None)
    total_steps = eff["warmup_steps"] + eff["steps"]

    def observe() -> None:
        ctx.check_cancelled()
        ctx.progress(stage="speed", step=dyn.nsteps, max_steps=total_steps,
                     progress=round(100.0 * dyn.nsteps / total_steps, 3))

    dyn.attach(observe, interval=1)
    if eff["warmup_steps"]:
        dyn.run(fmax=0, steps=eff["warmup_steps"])
    start = time.perf_counter()
    dyn.run(fmax=0, steps=eff["steps"])
    total = time.perf_counter() - start
    # The benchmark divides by nsteps − 1 of the optimizer (warm-up included): with one warm-up step that is the
    # number of timed steps.
    per_step = total / max(1, dyn.nsteps - 1)
    n = len(atoms)
    energy = float(atoms.get_potential_energy())
    finite = math.isfinite(energy) and bool(np.all(np.isfinite(atoms.positions)))
    ctx.progress(force=True, stage="speed", step=dyn.nsteps, max_steps=total_steps, progress=100.0)
    return {
        "status": "ok" if finite else "nan",
        "n_atoms": n,
        "steps": eff["steps"],
        "warmup_steps": eff["warmup_steps"],
        "optimizer_steps": int(dyn.nsteps),
        "total_time_s": total,
        "time_per_step_s": per_step,
        "time_per_step_ms": per_step * 1000.0,
        "atoms_steps_per_s": n / per_step if per_step > 0 else None,
        "final_energy_eV": energy if finite else None,
    }
