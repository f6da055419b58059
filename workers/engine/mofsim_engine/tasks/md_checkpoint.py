"""Helpers shared by the MOFSimBench task modules (stability, bulk_modulus, heat_capacity, interaction_energy):

- parameter checking (`Params`): defaults filled, unknown keys and bad values -> InvalidParameter naming the value;
- DFT reference look-up in `data/mofsimbench/dft/*.csv`;
- exact MD state capture/restore for checkpoints: positions, momenta, cell, the Langevin generator state and the
  internal variables of `ase.md.nose_hoover_chain.IsotropicMTKNPT` (thermostat and barostat chains, eps, p_eps,
  reference cell), written as JSON. Python's float repr round-trips exactly, so a restored state is bit-identical.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import InvalidParameter

# --- parameters ------------------------------------------------------------------------------------------------


class Params:
    """Reads a user's params dict against defaults; every accessor checks type and range and names the value."""

    def __init__(self, params: dict | None, allowed: Iterable[str]):
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidParameter("params", f"params must be an object (got {type(params).__name__})")
        self.raw = dict(params)
        allowed = set(allowed)
        unknown = sorted(k for k in self.raw if k not in allowed)
        if unknown:
            raise InvalidParameter(unknown[0], f"unknown parameter {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")

    def has(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def int(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        v = self.raw.get(name, default)
        if v is None:
            v = default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            raise InvalidParameter(name, f"{name} must be an integer (got {v!r})")
        v = int(v)
        if minimum is not None and v < minimum:
            raise InvalidParameter(name, f"{name} must be ≥ {minimum} (got {v})")
        if maximum is not None and v > maximum:
            raise InvalidParameter(name, f"{name} must be ≤ {maximum} (got {v})")
        return v

    def float(self, name: str, default: float, *, minimum: float | None = None, maximum: float | None = None,
              exclusive_minimum: bool = False) -> float:
        v = self.raw.get(name, default)
        if v is None:
            v = default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise InvalidParameter(name, f"{name} must be a finite number (got {v!r})")
        v = float(v)
        if minimum is not None:
            if exclusive_minimum and not v > minimum:
                raise InvalidParameter(name, f"{name} must be > {minimum:g} (got {v:g})")
            if not exclusive_minimum and v < minimum:
                raise InvalidParameter(name, f"{name} must be ≥ {minimum:g} (got {v:g})")
        if maximum is not None and v > maximum:
            raise InvalidParameter(name, f"{name} must be ≤ {maximum:g} (got {v:g})")
        return v

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        v = self.raw.get(name, default)
        if v is None:
            v = default
        choices = list(choices)
        if not isinstance(v, str) or v not in choices:
            raise InvalidParameter(name, f"{name} must be one of {', '.join(choices)} (got {v!r})")
        return v

    def int_list(self, name: str, default: list[int], *, length: int | None = None, minimum: int | None = None) -> list[int]:
        v = self.raw.get(name, default)
        if v is None:
            v = default
        if not isinstance(v, (list, tuple)) or (length is not None and len(v) != length):
            n = f" of {length}" if length is not None else ""
            raise InvalidParameter(name, f"{name} must be a list{n} integers (got {v!r})")
        out = []
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or (isinstance(x, float) and not x.is_integer()):
                raise InvalidParameter(name, f"{name} must contain integers (got {v!r})")
            if minimum is not None and x < minimum:
                raise InvalidParameter(name, f"{name} entries must be ≥ {minimum} (got {v!r})")
            out.append(int(x))
        return out


# --- DFT reference data ----------------------------------------------------------------------------------------


def data_dir() -> Path:
    """`data/mofsimbench` of the repository (override with MOFSIM_DATA_DIR, pointing at that folder)."""
    env = os.environ.get("MOFSIM_DATA_DIR")
    if env:
        return Path(env)
    # mofsim_engine/tasks/md_checkpoint.py -> parents[4] is the repository root
    return Path(__file__).resolve().parents[4] / "data" / "mofsimbench"


def benchmark_name(structure_name: str | None) -> str | None:
    """MOFSimBench matches reference rows on `name.replace("_primitive", "")` (file stem, no extension)."""
    if not structure_name:
        return None
    name = Path(str(structure_name)).name
    for ext in (".cif", ".xyz", ".extxyz", ".vasp", ".traj", ".json"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return name.replace("_primitive", "")


def lookup_reference(csv_name: str, key_column: str, value_column: str, structure_name: str | None) -> float | None:
    """The float in `value_column` of the first row of data/mofsimbench/dft/<csv_name> whose `key_column` equals
    benchmark_name(structure_name); None when absent or unreadable."""
    key = benchmark_name(structure_name)
    if key is None:
        return None
    path = data_dir() / "dft" / csv_name
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get(key_column) == key:
                    v = float(row[value_column])
                    return v if math.isfinite(v) else None
    except (OSError, ValueError, KeyError):
        return None
    return None


# --- JSON checkpoints ------------------------------------------------------------------------------------------


def write_json_atomic(path: Path, data: dict) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_json(path: Path, field: str = "resume_from") -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is the same input error
        raise InvalidParameter(field, f"cannot read checkpoint {path}: {exc}") from exc


def arr(a) -> list:
    return np.asarray(a, dtype=float).tolist()


def atoms_state(atoms) -> dict:
    return {
        "numbers": atoms.numbers.tolist(),
        "positions": arr(atoms.get_positions()),
        "momenta": arr(atoms.get_momenta()),
        "cell": arr(atoms.get_cell()),
        "pbc": [bool(x) for x in atoms.pbc],
    }


def restore_atoms_state(atoms, state: dict) -> None:
    """Put a saved state back into `atoms` (same atoms, same order: checked)."""
    if list(state["numbers"]) != atoms.numbers.tolist():
        raise InvalidParameter("resume_from", "checkpoint does not belong to this structure (atoms differ)")
    atoms.set_cell(np.array(state["cell"], dtype=float), scale_atoms=False)
    atoms.set_pbc(state["pbc"])
    atoms.set_positions(np.array(state["positions"], dtype=float))
    atoms.set_momenta(np.array(state["momenta"], dtype=float))


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state  # plain dict of ints/strings: JSON-safe (Python ints are arbitrary precision)


def restore_rng(state: dict) -> np.random.Generator:
    name = state["bit_generator"]
    bitgen = getattr(np.random, name)()
    bitgen.state = state
    return np.random.Generator(bitgen)


def mtk_state(dyn) -> dict:
    """Internal variables of ase.md.nose_hoover_chain.IsotropicMTKNPT (ASE 3.29) that `step()` carries."""
    return {
        "eps": float(dyn._eps),
        "p_eps": float(dyn._p_eps),
        "cell0": arr(dyn._cell0),
        "volume0": float(dyn._volume0),
        "q": arr(dyn._q),
        "p": arr(dyn._p),
        "thermostat": {"eta": arr(dyn._thermostat._eta), "p_eta": arr(dyn._thermostat._p_eta)},
        "barostat": {"xi": arr(dyn._barostat._xi), "p_xi": arr(dyn._barostat._p_xi)},
        "nsteps": int(dyn.nsteps),
    }


def restore_mtk(dyn, state: dict) -> None:
    dyn._eps = float(state["eps"])
    dyn._p_eps = float(state["p_eps"])
    dyn._cell0 = np.array(state["cell0"], dtype=float)
    dyn._volume0 = float(state["volume0"])
    dyn._q = np.array(state["q"], dtype=float)
    dyn._p = np.array(state["p"], dtype=float)
    dyn._thermostat._eta = np.array(state["thermostat"]["eta"], dtype=float)
    dyn._thermostat._p_eta = np.array(state["thermostat"]["p_eta"], dtype=float)
    dyn._barostat._xi = np.array(state["barostat"]["xi"], dtype=float)
    dyn._barostat._p_xi = np.array(state["barostat"]["p_xi"], dtype=float)
    dyn.nsteps = int(state.get("nsteps", 0))
    dyn._update_atoms()


def mtk_conserved_energy(dyn) -> float:
    """IsotropicMTKNPT.get_conserved_energy() without `force_consistent=True` (not every MLIP calculator provides
    `free_energy`): E_pot + E_kin + thermostat + barostat + p_eps²/2W + P·V, in eV."""
    atoms = dyn.atoms
    return float(
        atoms.get_potential_energy()
        + atoms.get_kinetic_energy()
        + dyn._thermostat.get_thermostat_energy()
        + dyn._barostat.get_barostat_energy()
        + dyn._p_eps * dyn._p_eps / (2 * dyn._barostat.W)
        + dyn._pressure_au * dyn._get_volume()
    )


def attach_reference(result: dict, ref: float | None, *, value_key: str, ref_key: str, error_key: str) -> dict:
    """Adds the `reference` block (DFT value, signed error, error %) to a result when the structure has a DFT value."""
    if ref is not None:
        r = {"source": "MOFSimBench DFT", ref_key: ref}
        value = result.get(value_key)
        if value is not None:
            r[error_key] = value - ref
            r["error_percent"] = (value - ref) / ref * 100.0 if ref else None
        result["reference"] = r
    return result
