"""The model adapter contract: small on purpose (an ASE calculator factory plus metadata).

An adapter describes one registry entry (a MOFSimBench calculator key such as `sevennet_prod`) and knows how to
build an ASE calculator on a device. Everything else — D3 wrapping is decided by the adapter's `with_d3`, the
cache, locking/batching, units — lives outside. `elements` and `available()` must not load weights: the
`models` op calls them for every entry.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

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
