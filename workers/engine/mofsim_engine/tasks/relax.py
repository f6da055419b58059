"""The shared optimizer loop (MOFSimBench `common/optimization.py` `run()`), used by every task that relaxes.

What it reproduces from MOFSimBench:
- the optimizer is built on `filter(atoms)` when a cell filter is given, otherwise on the bare atoms, and runs
  with criterion {fmax, steps}; ASE defaults apply to everything else (LBFGS maxstep 0.2 Å, memory 100, ...);
- `check_exploded` every 10 steps: |E| > 1e5 eV stops the run (here: status "exploded" instead of an exception);
- convergence is what ASE's `run()` returns (we drive `irun()`, whose last yielded value is exactly that).

What it adds for a server:
- NaN energy/forces -> status "nan" (checked every step, before the optimizer can step on NaN);
- cancellation checked every step (JobCancelled propagates: it is an error response, not a physics result);
- rate-limited progress events, optional trajectory and checkpoints (see `write_checkpoint`).

Not reproduced: MOFSimBench's `execution_too_slow` observer (>50 s per 10 steps raises) — a wall-clock limit
depends on the hardware, and the server's timeouts/cancellation cover it.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter
from .context import JobContext

EXPLODED_ENERGY_EV = 1e5  # MOFSimBench check_exploded threshold
EXPLODED_CHECK_INTERVAL = 10  # MOFSimBench checks every 10 steps

# MOFSimBench's list of available optimizers (lower-case key -> ase.optimize class name).
OPTIMIZERS = {
    "mdmin": "MDMin",
    "fire": "FIRE",
    "lbfgs": "LBFGS",
    "lbfgslinesearch": "LBFGSLineSearch",
    "bfgs": "BFGS",
    "bfgslinesearch": "BFGSLineSearch",
    "quasinewton": "QuasiNewton",
    "gpmin": "GPMin",
    "cellawarebfgs": "CellAwareBFGS",
    "ode12r": "ODE12r",
}

# Cell filters by short name; None = positions only.
CELL_FILTERS = {
    "frechet": "FrechetCellFilter",
    "frechetcellfilter": "FrechetCellFilter",
    "unitcell": "UnitCellFilter",
    "unitcellfilter": "UnitCellFilter",
}


@dataclass
class RelaxOutcome:
    converged: bool
    steps: int  # optimizer steps taken in this call (step_offset not included)
    energies: list[float] = field(default_factory=list)  # eV, one per evaluated geometry incl. the initial one
    fmax_final: float = float("nan")  # eV/Å, max norm of the optimised DOFs' forces (incl. cell DOFs with a filter)
    status: str = "ok"  # "ok" | "not_converged" | "exploded" | "nan"


def optimizer_class(name: str):
    """ase.optimize class for a (case-insensitive) optimizer name; InvalidParameter('optimizer') if unknown."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise InvalidParameter("optimizer", f"unknown optimizer {name!r} (one of {sorted(set(OPTIMIZERS.values()))})")
    import ase.optimize

    if key == "cellawarebfgs":
        from ase.optimize.cellawarebfgs import CellAwareBFGS

        return CellAwareBFGS
    return getattr(ase.optimize, OPTIMIZERS[key])


def cell_filter_class(name: str | None):
    """ase.filters class for a cell-filter name, or None for positions-only relaxation."""
    if name is None or str(name).lower() in ("", "none"):
        return None
    key = str(name).lower()
    if key not in CELL_FILTERS:
        raise InvalidParameter("cell_filter", f"unknown cell_filter {name!r} (one of 'frechet', 'unitcell', null)")
    import ase.filters

    return getattr(ase.filters, CELL_FILTERS[key])


def _max_force_norm(gradient: np.ndarray) -> float:
    g = np.asarray(gradient, dtype=float).reshape(-1, 3)
    return float(np.sqrt((g * g).sum(axis=1).max())) if len(g) else 0.0


def relax(
    atoms,
    ctx: JobContext,
    *,
    optimizer: str,
    cell_filter: str | None,
    fmax: float,
    max_steps: int,
    stage: str,
    trajectory_path: Path | None = None,
    progress_offset: float = 0.0,
    progress_span: float = 100.0,
    # Optional extras (keyword-only, defaults keep the base signature's behaviour):
    trajectory_interval: int = 1,
    checkpoint_interval: int = 0,
    checkpoint_path: Path | None = None,
    step_offset: int = 0,
    checkpoint_extra: dict | None = None,
) -> RelaxOutcome:
    """Relax `atoms` in place with `ctx.calculator` (attached if `atoms.calc` is None).

    - `stage` labels progress events and checkpoints (e.g. "opt", "pre_md", "eos_0.98").
    - progress = progress_offset + progress_span * step / max_steps (percent of the whole job).
    - trajectory: every `trajectory_interval` steps to `trajectory_path` (ASE .traj; appended when step_offset > 0).
    - checkpoints: every `checkpoint_interval` steps (counted in total steps, step_offset + n) to `checkpoint_path`,
      then a `checkpoint` event. `step_offset` is the number of steps done before a resume: reported step numbers
      are step_offset + n, while `max_steps` is the budget of this call. Each checkpoint's "extra" holds
      `checkpoint_extra` plus "energies_eV" (this call's energies so far) so a resume can rebuild the history.
    """
    if atoms.calc is None:
        atoms.calc = ctx.calculator
    if not (fmax > 0):
        raise InvalidParameter("fmax", f"fmax must be > 0 (got {fmax})")
    if int(max_steps) < 0:
        raise InvalidParameter("max_steps", f"max_steps must be >= 0 (got {max_steps})")
    opt_cls = optimizer_class(optimizer)
    filt_cls = cell_filter_class(cell_filter)
    target = filt_cls(atoms) if filt_cls is not None else atoms
    # logfile=None: ASE's default "-" would print to stdout, which is the protocol channel.
    opt = opt_cls(target, logfile=None)

    traj = None
    if trajectory_path is not None and trajectory_interval > 0:
        from ase.io.trajectory import Trajectory

        mode = "a" if step_offset > 0 and Path(trajectory_path).exists() else "w"
        traj = Trajectory(str(trajectory_path), mode=mode)

    energies: list[float] = []
    status = "not_converged"
    converged = False
    fmax_now = float("nan")
    n = 0
    total_max = step_offset + int(max_steps)

    def emit_progress(force: bool, energy: float) -> None:
        frac = (n / max_steps) if max_steps else 1.0
        ctx.progress(
            force=force,
            stage=stage,
            step=step_offset + n,
            max_steps=total_max,
            energy_eV=energy if math.isfinite(energy) else None,
            fmax_eV_A=fmax_now if math.isfinite(fmax_now) else None,
            volume_A3=float(atoms.get_volume()) if atoms.pbc.all() else None,
            progress=round(progress_offset + progress_span * min(frac, 1.0), 3),
        )

    def save_now() -> tuple[Path, int]:
        # A hand-back's checkpoint at the geometry reached (after opt.nsteps steps), in the periodic format: the
        # energies include this geometry's (the calculator has it already, from the gradient irun just computed).
        energy = float(atoms.get_potential_energy())
        write_checkpoint(atoms, checkpoint_path, step=step_offset + n, stage=stage,
                         extra={**(checkpoint_extra or {}), "energies_eV": [*energies, energy]})
        return checkpoint_path, step_offset + n

    try:
        for converged in opt.irun(fmax=fmax, steps=int(max_steps)):
            n = opt.nsteps
            # Saved only past the start (n > 0: a checkpoint at the resume point would add nothing).
            ctx.check_cancelled(save=save_now if checkpoint_path is not None and n > 0 else None)
            energy = float(atoms.get_potential_energy())
            gradient = opt.optimizable.get_gradient()
            fmax_now = _max_force_norm(gradient)
            energies.append(energy)
            if not (math.isfinite(energy) and np.all(np.isfinite(gradient))):
                status = "nan"
                converged = False
                emit_progress(True, energy)
                break
            if (step_offset + n) % EXPLODED_CHECK_INTERVAL == 0 and abs(energy) > EXPLODED_ENERGY_EV:
                status = "exploded"
                converged = False
                emit_progress(True, energy)
                break
            if traj is not None and (step_offset + n) % trajectory_interval == 0:
                traj.write(atoms)
            last = converged or n >= max_steps
            if checkpoint_interval > 0 and checkpoint_path is not None and n > 0 \
                    and (step_offset + n) % checkpoint_interval == 0 and not last:
                write_checkpoint(atoms, checkpoint_path, step=step_offset + n, stage=stage,
                                 extra={**(checkpoint_extra or {}), "energies_eV": list(energies)})
                ctx.checkpoint(checkpoint_path, step_offset + n)
            emit_progress(n == 0 or last, energy)
        else:
            status = "ok" if converged else "not_converged"
    finally:
        if traj is not None:
            traj.close()
    return RelaxOutcome(converged=bool(converged), steps=int(n), energies=energies, fmax_final=fmax_now,
                        status=status)


# --- checkpoints -----------------------------------------------------------------------------------------------
# A checkpoint is the geometry only (numbers, positions, cell, pbc) plus the step count, as JSON. Optimizer memory
# (LBFGS history, FIRE velocities) is not saved: a resumed optimisation restarts the optimizer from the saved
# geometry, which costs a few extra steps but never changes the converged result's criterion.

CHECKPOINT_VERSION = 1


def write_checkpoint(atoms, path: Path, *, step: int, stage: str, extra: dict | None = None) -> Path:
    """Write atomically (tmp file + rename) so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    data = {
        "version": CHECKPOINT_VERSION,
        "step": int(step),
        "stage": stage,
        "numbers": atoms.numbers.tolist(),
        "positions_A": atoms.positions.tolist(),
        "cell_A": np.asarray(atoms.cell).tolist(),
        "pbc": [bool(x) for x in atoms.pbc],
        "extra": extra or {},
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_checkpoint(path: Path):
    """-> (atoms, meta) where meta has "step", "stage", "extra". Raises InvalidParameter('resume_from') if unusable."""
    from ase import Atoms

    try:
        with open(path) as f:
            data = json.load(f)
        atoms = Atoms(numbers=data["numbers"], positions=data["positions_A"], cell=data["cell_A"], pbc=data["pbc"])
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is the same input error
        raise InvalidParameter("resume_from", f"cannot read checkpoint {path}: {exc}") from exc
    return atoms, {"step": int(data.get("step", 0)), "stage": data.get("stage"), "extra": data.get("extra", {})}
