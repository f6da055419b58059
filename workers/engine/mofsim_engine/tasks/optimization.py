"""Geometry optimization, MOFSimBench §1.1: LBFGS + FrechetCellFilter (full cell and positions, scalar pressure 0),
fmax 0.001 eV/Å (bounding the cell DOFs too), at most 5000 steps; metric V_final / V_DFT − 1 (success |…| ≤ 10%).

Checkpoints: every `checkpoint_interval` steps the geometry is written to `<work_dir>/checkpoint.json`. A run
with `resume_from` restarts from that geometry and keeps counting steps from the checkpoint's step. The
optimizer's memory (LBFGS history) is NOT restored: the optimizer restarts fresh from the saved geometry, so a
resumed run may take a few more steps than an uninterrupted one; the convergence criterion is unchanged.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidParameter
from ..reference import volume_reference
from ..structures import cell_dict
from .context import JobContext
from .params import choice, integer, number, reject_unknown
from .relax import OPTIMIZERS, read_checkpoint, relax

DEFAULTS = {
    "optimizer": "LBFGS",
    "cell_filter": "frechet",
    "fmax": 0.001,
    "max_steps": 5000,
    "trajectory_interval": 1,
    "checkpoint_interval": 50,
}
OPTIMIZER_NAMES = sorted(set(OPTIMIZERS.values()))
CELL_FILTER_NAMES = ["frechet", "unitcell", None]

CHECKPOINT_FILE = "checkpoint.json"
FINAL_FILE = "final.cif"
TRAJECTORY_FILE = "optimization.traj"


def validate(params: dict) -> dict:
    params = params or {}
    reject_unknown(params, DEFAULTS)
    return {
        "optimizer": choice(params, "optimizer", DEFAULTS["optimizer"], OPTIMIZER_NAMES),
        "cell_filter": choice(params, "cell_filter", DEFAULTS["cell_filter"], CELL_FILTER_NAMES),
        "fmax": number(params, "fmax", DEFAULTS["fmax"], gt=0),
        "max_steps": integer(params, "max_steps", DEFAULTS["max_steps"], ge=1, le=1_000_000),
        "trajectory_interval": integer(params, "trajectory_interval", DEFAULTS["trajectory_interval"], ge=0),
        "checkpoint_interval": integer(params, "checkpoint_interval", DEFAULTS["checkpoint_interval"], ge=0),
    }


def run(atoms, params: dict, ctx: JobContext) -> dict:
    initial_volume = float(atoms.get_volume())
    history_prefix: list[float] = []  # energies recorded before the resumed geometry (resume only)
    step_offset = 0
    resumed_from_step = None
    if ctx.resume_from is not None:
        ck_atoms, meta = read_checkpoint(ctx.resume_from)
        if len(ck_atoms) != len(atoms) or not np.array_equal(ck_atoms.numbers, atoms.numbers):
            raise InvalidParameter("resume_from", "checkpoint atoms do not match the structure")
        atoms.set_cell(ck_atoms.cell, scale_atoms=False)
        atoms.positions = ck_atoms.positions
        step_offset = resumed_from_step = meta["step"]
        extra = meta.get("extra") or {}
        history_prefix = list(extra.get("energy_history_prefix", [])) + list(extra.get("energies_eV", []))
        initial_volume = float(extra.get("initial_volume_A3", initial_volume))
        ctx.log("INFO", f"resuming optimization from step {step_offset} ({ctx.resume_from})")
    # The resumed geometry's energy is the last one recorded before the checkpoint: drop it from the prefix,
    # relax() records it again as its first energy.
    prefix_for_relax = history_prefix[:-1] if history_prefix else []

    remaining = params["max_steps"] - step_offset
    if remaining < 0:
        remaining = 0
    atoms.calc = ctx.calculator
    traj_path = ctx.work_dir / TRAJECTORY_FILE if params["trajectory_interval"] > 0 else None
    ck_path = ctx.work_dir / CHECKPOINT_FILE
    outcome = relax(
        atoms, ctx,
        optimizer=params["optimizer"], cell_filter=params["cell_filter"], fmax=params["fmax"],
        max_steps=remaining, stage="opt", trajectory_path=traj_path,
        progress_offset=100.0 * step_offset / params["max_steps"],
        progress_span=100.0 * remaining / params["max_steps"],
        trajectory_interval=params["trajectory_interval"],
        checkpoint_interval=params["checkpoint_interval"], checkpoint_path=ck_path, step_offset=step_offset,
        checkpoint_extra={"energy_history_prefix": prefix_for_relax, "initial_volume_A3": initial_volume},
    )
    history = prefix_for_relax + outcome.energies
    final_volume = float(atoms.get_volume())
    final_ok = bool(np.all(np.isfinite(atoms.positions))) and bool(np.all(np.isfinite(np.asarray(atoms.cell))))
    final_path = None
    if final_ok:
        import ase.io

        final_path = ctx.work_dir / FINAL_FILE
        ase.io.write(str(final_path), atoms, format="cif")
    name = ctx.structure_name
    result = {
        "converged": outcome.converged,
        "steps": step_offset + outcome.steps,
        "initial_energy_eV": history[0] if history else None,
        "final_energy_eV": history[-1] if history else None,
        "max_force_eV_A": outcome.fmax_final,  # optimised DOFs: atoms and, with a cell filter, the cell
        "energy_history": history,
        "initial_volume_A3": initial_volume,
        "final_volume_A3": final_volume,
        "volume_change_percent": (final_volume / initial_volume - 1.0) * 100.0,
        "cell": cell_dict(atoms),
        "final_structure_path": str(final_path) if final_path else None,
        "status": outcome.status,
    }
    if traj_path is not None and traj_path.exists():
        result["trajectory_path"] = str(traj_path)
    if resumed_from_step is not None:
        result["resumed_from_step"] = resumed_from_step
    ref = volume_reference(name, final_volume) if math.isfinite(final_volume) else None
    if ref is not None:
        result["reference"] = ref
    return result
