"""The model adapter contract: small on purpose (an ASE calculator factory, a batched predict, plus metadata).

An adapter describes one registry entry (a MOFSimBench calculator key such as `sevennet_prod`) and knows how to
build an ASE calculator on a device (`load`) and how to evaluate a list of structures with it (`predict`).
Everything else — D3 wrapping is decided by the adapter's `with_d3`, the cache, locking/batching, units — lives
outside. `elements` and `available()` must not load weights: the `models` op calls them for every entry.

`predict` has a default that loops over the loaded ASE calculator one structure at a time (`predict_one`), so a
family whose loader only provides a calculator still works behind the batcher; families with a native batched
forward pass (SevenNet + D3) override it.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from ase.calculators.calculator import all_changes
from ase.data import chemical_symbols

# MOFSimBench get_calculator(): D3(BJ) with PBE parameters, 40 Bohr cutoff, no three-body term (abc=False).
D3_SETTINGS = {"damping": "bj", "xc": "pbe", "cutoff_bohr": 40.0, "cnthr_bohr": 40.0, "abc": False}

ELEMENTS_1_TO_94 = list(chemical_symbols[1:95])

_sha_cache: dict[str, str] = {}
_sha_lock = threading.Lock()


def file_sha256(path: str | Path) -> str:
    """sha256 of a weights file, computed once per process (files are tens of MB)."""
    key = str(Path(path).resolve())
    with _sha_lock:
        if key not in _sha_cache:
            h = hashlib.sha256()
            with open(key, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            _sha_cache[key] = h.hexdigest()
        return _sha_cache[key]


class Prediction(NamedTuple):
    """One structure's model output. `stress_eV_A3` is Voigt (xx yy zz yz xz xy), ASE sign convention, and None
    unless the structure is periodic in all three directions (ASE's stress is undefined otherwise)."""

    energy_eV: float
    forces_eV_A: np.ndarray  # (N, 3)
    stress_eV_A3: np.ndarray | None  # (6,)


def wants_stress(calculator, atoms) -> bool:
    """Stress is computed for 3D-periodic cells only, and only when the calculator implements it."""
    return bool(atoms.pbc.all()) and "stress" in getattr(calculator, "implemented_properties", ())


def predict_one(calculator, atoms) -> Prediction:
    """Energy, forces and (3D-periodic cells) stress of one structure in one call of an ASE calculator.

    The calculator is shared: the caller serialises calls (the batcher's model lock). `atoms` is evaluated as
    given (pass a copy if the caller keeps mutating it). "forces" is asked first: torch-dftd computes only the
    energy when asked for "energy" alone, so a SumCalculator mixer, asking property by property, would otherwise
    run D3 twice per geometry.
    """
    stress = wants_stress(calculator, atoms)
    order = ["forces"] + (["stress"] if stress else []) + ["energy"]
    calculator.calculate(atoms, order, all_changes)
    r = calculator.results
    return Prediction(
        energy_eV=float(r["energy"]),
        forces_eV_A=np.array(r["forces"], dtype=float).reshape(len(atoms), 3),
        stress_eV_A3=np.array(r["stress"], dtype=float).reshape(6) if stress else None,
    )


@dataclass
class ModelAdapter:
    """Base adapter. Subclasses set the metadata and implement `load`, `elements`, `available`."""

    id: str
    name: str
    family: str
    kind: str  # "mlip" | "classical"
    description: str
    with_d3: bool = False
    memory_per_atom_MB: float = 0.0  # activation memory estimate per atom in a forward+backward pass
    model_memory_MB: float = 0.0  # resident memory of the loaded weights (for the cache budget)
    dtypes: tuple[str, ...] = ("float32",)
    citation: str | None = None

    @property
    def elements(self) -> list[str]:
        raise NotImplementedError

    @property
    def weights_path(self) -> Path | None:
        return None

    @property
    def weights_sha256(self) -> str | None:
        p = self.weights_path
        return file_sha256(p) if p is not None and p.exists() else None

    def available(self) -> tuple[bool, str | None]:
        """(available, reason if not). Cheap: package presence and weights-file existence only."""
        return True, None

    def load(self, device: str, dtype: str):
        """Build the ASE calculator (the expensive part: weights onto the device)."""
        raise NotImplementedError

    def require_loadable(self, dtype: str) -> None:
        """Raise MODEL_UNAVAILABLE (not retryable) when `load` cannot succeed here: packages or weights missing, or
        a dtype the family does not run in."""
        from ..errors import EngineError

        ok, reason = self.available()
        if not ok:
            raise EngineError("MODEL_UNAVAILABLE", f"{self.id}: {reason}", field="model")
        if dtype not in self.dtypes:
            raise EngineError("MODEL_UNAVAILABLE", f"{self.id} runs in {self.dtypes} only (requested {dtype})",
                              field="model")

    def predict(self, calculator, batch: list) -> list[Prediction]:
        """Energy, forces, stress of every structure in `batch` (list of ase.Atoms), in order, with the calculator
        `load` returned. One call may evaluate structures of different sizes and compositions. The caller holds
        the model lock; a raised exception fails the whole batch (the batcher then retries structure by
        structure with `predict_one`, so one bad structure does not fail the others).

        Default: a loop over `predict_one` — correct for any ASE calculator, no speed-up. Override with a real
        batched forward pass where the family has one.
        """
        return [predict_one(calculator, a) for a in batch]

    @property
    def d3(self) -> dict | None:
        return dict(D3_SETTINGS) if self.with_d3 else None

    def describe(self) -> dict:
        ok, reason = self.available()
        try:
            elements = self.elements if ok else []
        except Exception as exc:  # noqa: BLE001 - a broken weights file makes the model unavailable, not the op fail
            ok, reason, elements = False, f"cannot read element coverage: {exc}", []
        d = {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "kind": self.kind,
            "description": self.description,
            "elements": elements,
            "with_d3": self.with_d3,
            "d3": self.d3,
            "available": ok,
            "memory_per_atom_MB": self.memory_per_atom_MB,
            "model_memory_MB": self.model_memory_MB,
            "dtypes": list(self.dtypes),
        }
        if not ok:
            d["unavailable_reason"] = reason
        if self.citation:
            d["citation"] = self.citation
        return d


def make_d3_calculator(device: str):
    """MOFSimBench's D3: TorchDFTD3Calculator(device, damping="bj", xc="pbe", cutoff=40 Bohr); torch-dftd defaults
    for the rest (cnthr 40 Bohr, abc=False, float32, no cutoff smoothing)."""
    from ase.units import Bohr
    from torch_dftd.torch_dftd3_calculator import TorchDFTD3Calculator

    return TorchDFTD3Calculator(device=device, damping=D3_SETTINGS["damping"], xc=D3_SETTINGS["xc"],
                                cutoff=D3_SETTINGS["cutoff_bohr"] * Bohr)
