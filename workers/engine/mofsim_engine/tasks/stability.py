"""MD stability: MOFSimBench `stability/stability.py` + its three yamls (PROTOCOLS.md §1.2, metrics §2.2).

Stages (each MD stage builds a fresh integrator, as the benchmark does):
- ambient (`stability_prod_mtk.yaml`): opt (LBFGS, positions only, fmax 0.001, 1000 steps) -> Langevin NVT 1000
  steps, 1 fs, 300 K, friction 0.01 fs⁻¹, Maxwell–Boltzmann velocities (seed 0) + Stationary + ZeroRotation ->
  IsotropicMTKNPT 50 000 steps, 300 K, 1 bar, tdamp 100 fs, pdamp 1000 fs, tchain = pchain = 3 (velocities carried).
- copper (`stability_prod_copper_mtk.yaml`): opt -> NVT 1000 -> NpT 10 000 steps at T, T+100 K, T (300/400/300 K)
  -> final opt (LBFGS, fmax 0.001, 1000 steps). Velocities are not re-drawn.
- temperature_ramp (`stability_prod_temp_mtk.yaml`): opt -> NVT 1000 with friction 0.002 -> NpT 20 000 steps at
  each of T, T+100, ..., 1000 K (300..1000 K: 8 stages), velocities re-drawn (MB, seed) at the start of each.
Frames (volume, V/V0, T, E) every `trajectory_interval` MD steps, counted within each stage from its step 0 (as
ASE's observer interval in the benchmark), plus the last step of each stage; written to `stability.extxyz`.

Metrics (benchmark §2.2): V/V0 with V0 = frame 0 = the input structure (the first opt is fixed-cell), relative
volume change at the last frame, COM drift |COM(t) − COM(0)|, weighted CrystalNN metal coordination numbers per
element at the input, after the first opt and at the last frame. `stable` = completed without explosion and
|ΔV| ≤ volume_threshold_percent (the paper's ±10 %). Server additions, defined here:
- `max_displacement_A`: max over atoms of |r_i(end) − r_i(0)| (unwrapped Cartesian positions; no atom is wrapped
  during the run);
- `temperature_drift_K`: mean temperature of the last MD stage's frames (its step 0 excluded) − that stage's target;
- `energy_drift_eV`: drift of the MTK conserved quantity H = E_pot + E_kin + chain energies + p_eps²/2W + P·V,
  summed over the NpT stages (end − start of each); a large value means the integration is not trustworthy;
- explosion checks every MD step: |E| > 1e5 eV (the benchmark's threshold), NaN, T > 10× the stage target,
  an atom moving more than 2 Å in one step, or the cell volume leaving [0.2, 5]·V0.

Deviation from the benchmark (deliberate, for reproducible resume): the Langevin noise is drawn from
`np.random.default_rng([seed, stage_index])` instead of numpy's unseeded global generator. Langevin keeps ASE's
default `fixcm=True`, as the benchmark ran it.

Checkpoints: every `checkpoint_interval` MD steps (counted over all MD stages) and at the end of the first opt,
`checkpoint_<global step>.json` holds positions, momenta, cell, stage index and step, the Langevin generator state
or the MTK thermostat/barostat variables, and every metric accumulated so far; `ctx.resume_from` continues exactly.
A cancel that asks for a checkpoint (a hand-back: pause, drain, preemption) stopping an MD stage writes one at the
step where it stops, whatever the interval (also with checkpoint_interval 0); one stopping an opt stage does not
(an opt stage restarts from its start geometry on resume), so it resumes from the last periodic checkpoint.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms, units

from ..errors import InvalidParameter, StructureError
from .context import JobContext
from .coordination import safe_metal_coordination
from .md_checkpoint import (
    Params,
    atoms_state,
    mtk_conserved_energy,
    mtk_state,
    read_json,
    restore_atoms_state,
    restore_mtk,
    restore_rng,
    rng_state,
    write_json_atomic,
)
from .relax import relax

VARIANTS = ("ambient", "copper", "temperature_ramp")
NPT_STEPS_DEFAULT = {"ambient": 50_000, "copper": 10_000, "temperature_ramp": 20_000}
FRICTION_DEFAULT = {"ambient": 0.01, "copper": 0.01, "temperature_ramp": 0.002}
RAMP_END_K = 1000.0
RAMP_STEP_K = 100.0
COPPER_STEP_K = 100.0

EXPLODED_ENERGY_EV = 1e5
EXPLODED_TEMPERATURE_FACTOR = 10.0
EXPLODED_STEP_DISPLACEMENT_A = 2.0
EXPLODED_VOLUME_RATIO = (0.2, 5.0)

CHECKPOINT_KIND = "stability"
CHECKPOINT_VERSION = 1
CHECKPOINTS_KEPT = 2
TRAJECTORY_NAME = "stability.extxyz"

# Parameters that may differ between the run that wrote a checkpoint and the run that resumes from it.
RESUME_MAY_CHANGE = {"checkpoint_interval"}

ALLOWED = (
    "variant", "opt_fmax", "opt_steps", "nvt_steps", "npt_steps", "timestep_fs", "temperature_K", "pressure_bar",
    "tdamp_fs", "pdamp_fs", "friction_per_fs", "trajectory_interval", "checkpoint_interval", "seed",
    "volume_threshold_percent",
)


def validate(params: dict | None) -> dict:
    p = Params(params, ALLOWED)
    variant = p.choice("variant", "ambient", VARIANTS)
    eff = {
        "variant": variant,
        "opt_fmax": p.float("opt_fmax", 0.001, minimum=0.0, exclusive_minimum=True),
        "opt_steps": p.int("opt_steps", 1000, minimum=0),
        "nvt_steps": p.int("nvt_steps", 1000, minimum=0),
        "npt_steps": p.int("npt_steps", NPT_STEPS_DEFAULT[variant], minimum=0),
        "timestep_fs": p.float("timestep_fs", 1.0, minimum=0.0, exclusive_minimum=True, maximum=50.0),
        "temperature_K": p.float("temperature_K", 300.0, minimum=0.0, exclusive_minimum=True, maximum=5000.0),
        "pressure_bar": p.float("pressure_bar", 1.0, minimum=-1e5, maximum=1e6),
        "tdamp_fs": p.float("tdamp_fs", 100.0, minimum=0.0, exclusive_minimum=True),
        "pdamp_fs": p.float("pdamp_fs", 1000.0, minimum=0.0, exclusive_minimum=True),
        "friction_per_fs": p.float("friction_per_fs", FRICTION_DEFAULT[variant], minimum=0.0),
        "trajectory_interval": p.int("trajectory_interval", 100, minimum=1),
        "checkpoint_interval": p.int("checkpoint_interval", 1000, minimum=0),  # 0: no checkpoints
        "seed": p.int("seed", 0, minimum=0, maximum=2**32 - 1),
        "volume_threshold_percent": p.float("volume_threshold_percent", 10.0, minimum=0.0, exclusive_minimum=True),
    }
    if variant == "temperature_ramp" and eff["temperature_K"] > RAMP_END_K:
        raise InvalidParameter("temperature_K", f"temperature_ramp runs from temperature_K up to {RAMP_END_K:g} K; "
                                                f"temperature_K must be ≤ {RAMP_END_K:g} (got {eff['temperature_K']:g})")
    return eff


def build_stages(eff: dict) -> list[dict]:
    """The stage list of the variant, in benchmark order."""
    T = eff["temperature_K"]
    opt = {"name": "opt", "kind": "opt", "steps": eff["opt_steps"], "fmax": eff["opt_fmax"]}
    nvt = {"name": "nvt", "kind": "nvt", "steps": eff["nvt_steps"], "temperature_K": T,
           "friction_per_fs": eff["friction_per_fs"], "initial_temperature_K": T}
    variant = eff["variant"]
    if variant == "ambient":
        temps, redraw = [T], False
    elif variant == "copper":
        temps, redraw = [T, T + COPPER_STEP_K, T], False
    else:
        n = int(math.floor((RAMP_END_K - T) / RAMP_STEP_K + 1e-9)) + 1
        temps, redraw = [T + RAMP_STEP_K * i for i in range(n)], True
    stages = [opt, nvt]
    for t in temps:
        stages.append({"name": "npt" if variant == "ambient" else f"npt_{t:g}K", "kind": "npt",
                       "steps": eff["npt_steps"], "temperature_K": t,
                       "initial_temperature_K": t if redraw else None})
    if variant == "copper":
        stages.append({"name": "final_opt", "kind": "opt", "steps": eff["opt_steps"], "fmax": eff["opt_fmax"]})
    return stages


def _final_pressure_GPa(atoms) -> float | None:
    """Instantaneous pressure of the last frame, GPa: −tr(σ)/3 with the kinetic (ideal-gas) part, as a barostat sees it."""
    try:
        stress = atoms.get_stress(voigt=True, include_ideal_gas=True)
    except Exception:  # noqa: BLE001 - a model without stress, or a failed call: no pressure to report
        return None
    return _finite(-float(np.mean(stress[:3])) / units.GPa)


def _finite(x):
    """float or None (results must be valid JSON: no NaN/inf)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


class _Run:
    """One stability run; all mutable state lives here so it can be checkpointed as a whole."""

    def __init__(self, atoms: Atoms, eff: dict, ctx: JobContext):
        self.atoms = atoms
        self.eff = eff
        self.ctx = ctx
        self.stages = build_stages(eff)
        self.work_dir = Path(ctx.work_dir)
        self.traj_path = self.work_dir / TRAJECTORY_NAME
        self.total_budget = max(1, sum(s["steps"] for s in self.stages))
        # metrics / progress (all checkpointed)
        self.frames: list[dict] = []
        self.global_step = 0  # opt steps taken + MD steps done
        self.md_steps = 0
        self.budget_done = 0  # full budgets of finished stages + steps of the current one (progress only)
        self.stage_index = 0
        self.stage_step = 0
        self.V0 = float(atoms.get_volume())
        self.com0 = atoms.get_center_of_mass().tolist()
        self.positions0 = atoms.get_positions().tolist()
        self.coordination: dict = {"initial": None, "opt": None, "final": None}
        self.optimizations: list[dict] = []
        self.npt_drifts: list[float] = []
        self.npt_H_start: float | None = None
        self.failure: dict | None = None  # {"status", "reason", "step"}
        self.checkpoints: list[str] = []
        self.resumed_from_step: int | None = None
        self.traj_file = None

    # --- frames ------------------------------------------------------------------------------------------------

    def record_frame(self, stage: dict, *, energy: float | None = None) -> None:
        a = self.atoms
        if energy is None:
            energy = float(a.get_potential_energy())
        volume = float(a.get_volume())
        com = a.get_center_of_mass()
        entry = {
            "step": self.global_step,
            "stage": stage["name"],
            "stage_index": self.stage_index,
            "stage_step": self.stage_step,
            "volume_A3": _finite(volume),
            "V_rel": _finite(volume / self.V0),
            "temperature_K": _finite(a.get_temperature()),
            "energy_eV": _finite(energy),
            "com_drift_A": _finite(np.linalg.norm(com - np.asarray(self.com0))),
        }
        self.frames.append(entry)
        if np.all(np.isfinite(a.positions)) and np.all(np.isfinite(a.cell.array)):
            frame = Atoms(numbers=a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)
            frame.set_momenta(a.get_momenta())
            frame.info = {k: v for k, v in entry.items() if v is not None}
            from ase.io import write

            write(self.traj_file, frame, format="extxyz")
            self.traj_file.flush()

    # --- checkpoints -------------------------------------------------------------------------------------------

    def write_checkpoint(self, integrator: dict | None, *, force: bool = False) -> Path | None:
        """`force`: written even with checkpoint_interval 0 (a hand-back's checkpoint at the step it stops); the
        caller then announces it. Otherwise the `checkpoint` event goes out here."""
        if self.eff["checkpoint_interval"] <= 0 and not force:
            return None
        path = self.work_dir / f"checkpoint_{self.global_step}.json"
        data = {
            "kind": CHECKPOINT_KIND,
            "version": CHECKPOINT_VERSION,
            "params": self.eff,
            "global_step": self.global_step,
            "md_steps": self.md_steps,
            "budget_done": self.budget_done,
            "stage_index": self.stage_index,
            "stage_step": self.stage_step,
            "atoms": atoms_state(self.atoms),
            "integrator": integrator,
            "metrics": {
                "frames": self.frames,
                "V0": self.V0,
                "com0": self.com0,
                "positions0": self.positions0,
                "coordination": self.coordination,
                "optimizations": self.optimizations,
                "npt_drifts": self.npt_drifts,
                "npt_H_start": self.npt_H_start,
            },
            "trajectory": {"path": str(self.traj_path), "offset": self.traj_file.tell()},
        }
        write_json_atomic(path, data)
        if not force:
            self.ctx.checkpoint(path, self.global_step)
        self.checkpoints.append(str(path))
        while len(self.checkpoints) > CHECKPOINTS_KEPT:
            old = self.checkpoints.pop(0)
            if old != str(path):
                try:
                    os.remove(old)
                except OSError:
                    pass
        return path

    def load_checkpoint(self, path: Path) -> dict | None:
        data = read_json(path)
        if data.get("kind") != CHECKPOINT_KIND or data.get("version") != CHECKPOINT_VERSION:
            raise InvalidParameter("resume_from", f"{path} is not a stability checkpoint (version {CHECKPOINT_VERSION})")
        saved = data.get("params", {})
        diff = sorted(k for k in set(saved) | set(self.eff)
                      if k not in RESUME_MAY_CHANGE and saved.get(k) != self.eff.get(k))
        if diff:
            k = diff[0]
            raise InvalidParameter(k, f"checkpoint {path} was written with {k}={saved.get(k)!r}, "
                                      f"this run has {k}={self.eff.get(k)!r}; resume needs the same parameters")
        restore_atoms_state(self.atoms, data["atoms"])
        m = data["metrics"]
        self.frames = m["frames"]
        self.V0 = float(m["V0"])
        self.com0 = m["com0"]
        self.positions0 = m["positions0"]
        self.coordination = m["coordination"]
        self.optimizations = m["optimizations"]
        self.npt_drifts = m["npt_drifts"]
        self.npt_H_start = m["npt_H_start"]
        self.global_step = int(data["global_step"])
        self.md_steps = int(data["md_steps"])
        self.budget_done = int(data["budget_done"])
        self.stage_index = int(data["stage_index"])
        self.stage_step = int(data["stage_step"])
        self.resumed_from_step = self.global_step
        # Trajectory: keep exactly the frames written up to the checkpoint.
        old = Path(data["trajectory"]["path"])
        offset = int(data["trajectory"]["offset"])
        if old.exists() and old.stat().st_size >= offset:
            if old.resolve() != self.traj_path.resolve():
                with open(old, "rb") as src, open(self.traj_path, "wb") as dst:
                    dst.write(src.read(offset))
            else:
                os.truncate(self.traj_path, offset)
        else:
            self.ctx.log("WARNING", f"trajectory {old} of the checkpoint is missing or short; "
                                    f"frames before step {self.global_step} are only in volume_trace")
            open(self.traj_path, "w").close()
        return data.get("integrator")

    # --- failure checks ----------------------------------------------------------------------------------------

    def check_md(self, stage: dict, prev_positions: np.ndarray) -> dict | None:
        a = self.atoms
        step = self.global_step
        try:
            energy = float(a.get_potential_energy())
        except Exception as exc:  # noqa: BLE001 - a calculator that fails on a broken geometry
            if not np.all(np.isfinite(a.positions)):
                return {"status": "nan", "reason": f"NaN positions at step {step}", "step": step}
            raise exc
        pos = a.positions
        if not (math.isfinite(energy) and np.all(np.isfinite(pos)) and np.all(np.isfinite(a.get_momenta()))):
            return {"status": "nan", "reason": f"NaN energy or positions at step {step}", "step": step}
        if abs(energy) > EXPLODED_ENERGY_EV:
            return {"status": "exploded",
                    "reason": f"exploded at step {step}: |E| = {abs(energy):.3g} eV > {EXPLODED_ENERGY_EV:g} eV",
                    "step": step}
        T = float(a.get_temperature())
        target = stage["temperature_K"]
        if T > EXPLODED_TEMPERATURE_FACTOR * target:
            return {"status": "exploded",
                    "reason": f"exploded at step {step}: T = {T:.4g} K > {EXPLODED_TEMPERATURE_FACTOR:g}× the "
                              f"{target:g} K target", "step": step}
        jump = float(np.sqrt(((pos - prev_positions) ** 2).sum(axis=1)).max()) if len(pos) else 0.0
        if jump > EXPLODED_STEP_DISPLACEMENT_A:
            return {"status": "exploded",
                    "reason": f"exploded at step {step}: atoms flying apart (an atom moved {jump:.3g} Å in one step)",
                    "step": step}
        ratio = float(a.get_volume()) / self.V0
        if not (EXPLODED_VOLUME_RATIO[0] <= ratio <= EXPLODED_VOLUME_RATIO[1]):
            return {"status": "exploded", "reason": f"exploded at step {step}: cell volume ratio V/V0 = {ratio:.3g}",
                    "step": step}
        return None

    # --- stages --------------------------------------------------------------------------------------------------

    def progress(self, stage: dict, *, force: bool = False, **fields) -> None:
        done = self.budget_done
        self.ctx.progress(force=force, stage=stage["name"], step=self.global_step,
                          max_steps=self.total_budget, progress=round(100.0 * min(done / self.total_budget, 1.0), 3),
                          **{k: _finite(v) for k, v in fields.items()})

    def run_opt(self, stage: dict) -> None:
        a = self.atoms
        if self.global_step == 0 and self.stage_index == 0:
            self.record_frame(stage)  # frame 0: the input structure
        offset = 100.0 * self.budget_done / self.total_budget
        span = 100.0 * stage["steps"] / self.total_budget
        outcome = relax(a, self.ctx, optimizer="LBFGS", cell_filter=None, fmax=stage["fmax"],
                        max_steps=stage["steps"], stage=stage["name"], progress_offset=offset, progress_span=span)
        self.global_step += outcome.steps
        self.stage_step = outcome.steps
        self.budget_done += stage["steps"]
        self.optimizations.append({
            "stage": stage["name"], "converged": outcome.converged, "steps": outcome.steps,
            "fmax_final_eV_A": _finite(outcome.fmax_final), "status": outcome.status,
        })
        if outcome.status in ("exploded", "nan"):
            what = "NaN energy or forces" if outcome.status == "nan" else "exploded"
            self.failure = {"status": outcome.status, "step": self.global_step,
                            "reason": f"{what} during {stage['name']} at step {self.global_step}"}
            return
        self.record_frame(stage, energy=outcome.energies[-1] if outcome.energies else None)
        if self.stage_index == 0:
            self.coordination["opt"] = safe_metal_coordination(a)

    def make_dyn(self, stage: dict, integrator: dict | None):
        """The stage's integrator: fresh (stage step 0, velocities drawn when the stage asks) or restored."""
        a = self.atoms
        eff = self.eff
        dt = eff["timestep_fs"] * units.fs
        if integrator is None and stage.get("initial_temperature_K") is not None:
            from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

            with warnings.catch_warnings():
                # MaxwellBoltzmannDistribution is deprecated in ASE 3.29 (thermalize_momenta) but is what the
                # benchmark calls; ZeroRotation warns that PBC are ignored for the inertia tensor (as benchmark).
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                MaxwellBoltzmannDistribution(a, temperature_K=stage["initial_temperature_K"],
                                             rng=np.random.default_rng(seed=eff["seed"]))
                Stationary(a)
                ZeroRotation(a)
        if stage["kind"] == "nvt":
            from ase.md.langevin import Langevin

            if integrator is not None:
                rng = restore_rng(integrator["rng"])
            else:
                rng = np.random.default_rng([eff["seed"], self.stage_index])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # fixcm=True deprecation: kept as the benchmark ran
                dyn = Langevin(a, timestep=dt, temperature_K=stage["temperature_K"],
                               friction=stage["friction_per_fs"] / units.fs, fixcm=True, rng=rng, logfile=None)
            return dyn
        from ase.md.nose_hoover_chain import IsotropicMTKNPT

        dyn = IsotropicMTKNPT(a, timestep=dt, temperature_K=stage["temperature_K"],
                              pressure_au=eff["pressure_bar"] * units.bar, tdamp=eff["tdamp_fs"] * units.fs,
                              pdamp=eff["pdamp_fs"] * units.fs, tchain=3, pchain=3, logfile=None)
        if integrator is not None:
            restore_mtk(dyn, integrator["mtk"])
        else:
            self.npt_H_start = mtk_conserved_energy(dyn)
        return dyn

    def integrator_state(self, stage: dict, dyn) -> dict:
        if stage["kind"] == "nvt":
            return {"type": "langevin", "rng": rng_state(dyn.rng)}
        return {"type": "isotropic_mtk_npt", "mtk": mtk_state(dyn)}

    def run_md(self, stage: dict, integrator: dict | None) -> None:
        a = self.atoms
        if stage["steps"] == 0:
            return
        dyn = self.make_dyn(stage, integrator)
        interval = self.eff["trajectory_interval"]
        ckpt = self.eff["checkpoint_interval"]
        if integrator is None:
            self.record_frame(stage)  # the stage's step 0 (ASE observers fire at nsteps == 0)
        def save_now() -> tuple[Path, int]:
            # At the top of the loop: a step boundary (stage_step < steps, so the integrator is live), the same
            # state a periodic checkpoint at this step would hold.
            return self.write_checkpoint(self.integrator_state(stage, dyn), force=True), self.global_step

        while self.stage_step < stage["steps"]:
            self.ctx.check_cancelled(save=save_now)
            prev = a.get_positions()
            dyn.step()
            dyn.nsteps += 1
            self.stage_step += 1
            self.global_step += 1
            self.md_steps += 1
            self.budget_done += 1
            bad = self.check_md(stage, prev)
            if bad is not None:
                self.failure = bad
                if bad["status"] != "nan":
                    self.record_frame(stage)
                self.progress(stage, force=True, temperature_K=a.get_temperature())
                return
            last = self.stage_step == stage["steps"]
            if self.stage_step % interval == 0 or last:
                self.record_frame(stage)
            if last and stage["kind"] == "npt" and self.npt_H_start is not None:
                self.npt_drifts.append(mtk_conserved_energy(dyn) - self.npt_H_start)
                self.npt_H_start = None
            self.progress(stage, force=last, energy_eV=a.get_potential_energy(), temperature_K=a.get_temperature(),
                          volume_A3=a.get_volume())
            if ckpt > 0 and self.md_steps % ckpt == 0:
                self.write_checkpoint(None if last else self.integrator_state(stage, dyn))

    # --- driver --------------------------------------------------------------------------------------------------

    def run(self) -> dict:
        ctx = self.ctx
        a = self.atoms
        integrator = None
        if ctx.resume_from is not None:
            integrator = self.load_checkpoint(Path(ctx.resume_from))
            ctx.log("INFO", f"resuming stability from step {self.global_step} "
                            f"(stage {self.stages[self.stage_index]['name']}, stage step {self.stage_step})")
        else:
            open(self.traj_path, "w").close()
            self.coordination["initial"] = safe_metal_coordination(a)
        with open(self.traj_path, "a") as self.traj_file:
            while self.stage_index < len(self.stages) and self.failure is None:
                stage = self.stages[self.stage_index]
                if stage["kind"] == "opt":
                    self.run_opt(stage)
                elif self.stage_step < stage["steps"]:  # == steps only when resumed from a stage's last step
                    self.run_md(stage, integrator)
                integrator = None
                if self.failure is not None:
                    break
                self.stage_index += 1
                self.stage_step = 0
                if self.stage_index == 1:  # the first opt is done: a checkpoint spares redoing it
                    self.write_checkpoint(None)
        return self.result()

    def result(self) -> dict:
        a = self.atoms
        eff = self.eff
        failed = self.failure is not None
        final_volume = float(a.get_volume())
        dv = (final_volume / self.V0 - 1.0) * 100.0
        if not failed:
            self.coordination["final"] = safe_metal_coordination(a)
        pos = a.get_positions()
        disp = np.sqrt(((pos - np.asarray(self.positions0)) ** 2).sum(axis=1))
        md_stages = [i for i, s in enumerate(self.stages) if s["kind"] != "opt" and s["steps"] > 0]
        temperature_drift = None
        if md_stages:
            last_md = md_stages[-1]
            temps = [f["temperature_K"] for f in self.frames
                     if f["stage_index"] == last_md and f["stage_step"] > 0 and f["temperature_K"] is not None]
            if temps:
                temperature_drift = float(np.mean(temps)) - self.stages[last_md]["temperature_K"]
        threshold = eff["volume_threshold_percent"]
        if failed:
            stable, reason, status = False, self.failure["reason"], self.failure["status"]
        elif not math.isfinite(dv):
            stable, reason, status = False, "non-finite final volume", "nan"
        elif abs(dv) > threshold:
            stable, reason, status = False, f"volume change {dv:+.2f}% exceeds ±{threshold:g}%", "ok"
        else:
            stable, reason, status = True, None, "ok"
        result = {
            "status": status,
            "stable": stable,
            "instability_reason": reason,
            "variant": eff["variant"],
            "volume_change_percent": _finite(dv),
            "volume_threshold_percent": threshold,
            "initial_volume_A3": _finite(self.V0),
            "final_volume_A3": _finite(final_volume),
            "max_displacement_A": _finite(disp.max()) if len(disp) else 0.0,
            "com_drift_A": _finite(np.linalg.norm(a.get_center_of_mass() - np.asarray(self.com0))),
            "final_temperature_K": _finite(a.get_temperature()),
            "final_pressure_GPa": None if failed else _final_pressure_GPa(a),
            "temperature_drift_K": _finite(temperature_drift),
            "energy_drift_eV": _finite(sum(self.npt_drifts)) if self.npt_drifts else None,
            "coordination": self.coordination,
            "optimizations": self.optimizations,
            "volume_trace": self.frames,
            "stages": [{k: s[k] for k in ("name", "kind", "steps") if k in s}
                       | ({"temperature_K": s["temperature_K"]} if "temperature_K" in s else {})
                       | ({"pressure_bar": eff["pressure_bar"]} if s["kind"] == "npt" else {})
                       for s in self.stages],
            "steps_completed": self.global_step,
            "md_steps_completed": self.md_steps,
            "trajectory_path": str(self.traj_path),
        }
        if failed:
            result["failed_at_step"] = self.failure["step"]
        if self.resumed_from_step is not None:
            result["resumed_from_step"] = self.resumed_from_step
        if eff["variant"] == "copper":
            ini = (self.coordination.get("initial") or {}).get("Cu")
            fin = (self.coordination.get("final") or {}).get("Cu")
            result["cu_cn_change"] = _finite(fin - ini) if ini is not None and fin is not None else None
        return result


def run(atoms: Atoms, params: dict, ctx: JobContext) -> dict:
    eff = validate(params)  # idempotent: the caller may pass raw or already effective parameters
    if not all(atoms.pbc) or atoms.cell.rank < 3:
        raise StructureError("NO_CELL", "stability needs a periodic structure with a 3D cell (NpT changes the volume)")
    if atoms.calc is None:
        atoms.calc = ctx.calculator
    Path(ctx.work_dir).mkdir(parents=True, exist_ok=True)
    return _Run(atoms, eff, ctx).run()
