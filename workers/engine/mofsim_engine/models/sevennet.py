"""SevenNet family (sevenn package). 7net-0 and 7net-l3i5 weights ship inside the wheel, so they work offline.

MOFSimBench keys: `sevennet_prod` = 7net-0 + D3, `sevennet_prod_l3i5` = 7net-l3i5 + D3 (calculators.yaml).
We never call sevenn's `pretrained_name_to_path` for availability: it downloads missing checkpoints.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError
from .base import ModelAdapter, make_d3_calculator

# Checkpoint file inside the sevenn package (and sevenn's own fallback cache dir) per pretrained name.
_CHECKPOINT_RELPATHS = {
    "7net-0": "SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
    "7net-l3i5": "SevenNet_l3i5/checkpoint_l3i5.pth",
}

_species_cache: dict[str, list[str]] = {}
_species_lock = threading.Lock()


def _sevenn_dir() -> Path | None:
    spec = importlib.util.find_spec("sevenn")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def checkpoint_species(path: Path) -> list[str]:
    """Chemical species from the checkpoint's config, without building the model. torch.load(mmap=True) maps the
    tensors lazily, so this reads the small config pickle only; cached per process."""
    key = str(path)
    with _species_lock:
        if key not in _species_cache:
            import torch

            cp = torch.load(key, map_location="cpu", weights_only=False, mmap=True)
            species = cp["config"]["chemical_species"]
            from ase.data import atomic_numbers

            _species_cache[key] = sorted(species, key=lambda s: atomic_numbers.get(s, 999))
        return list(_species_cache[key])


@dataclass
class SevenNetAdapter(ModelAdapter):
    pretrained: str = "7net-0"
    modal: str | None = None

    @property
    def weights_path(self) -> Path | None:
        rel = _CHECKPOINT_RELPATHS[self.pretrained]
        candidates = []
        pkg = _sevenn_dir()
        if pkg is not None:
            candidates.append(pkg / "pretrained_potentials" / rel)
        candidates.append(Path(os.path.expanduser("~/.cache/sevennet")) / rel)
        for c in candidates:
            if c.exists():
                return c
        return candidates[0] if candidates else None

    def available(self) -> tuple[bool, str | None]:
        for pkg in ("torch", "sevenn") + (("torch_dftd",) if self.with_d3 else ()):
            if importlib.util.find_spec(pkg) is None:
                return False, f"python package {pkg!r} is not installed"
        p = self.weights_path
        if p is None or not p.exists():
            return False, f"weights file not found for {self.pretrained} (looked for {p})"
        return True, None

    @property
    def elements(self) -> list[str]:
        p = self.weights_path
        if p is None or not p.exists():
            return []
        return checkpoint_species(p)

    def load(self, device: str, dtype: str):
        ok, reason = self.available()
        if not ok:
            raise EngineError("MODEL_UNAVAILABLE", f"{self.id}: {reason}", field="model")
        if dtype not in self.dtypes:
            raise EngineError("MODEL_UNAVAILABLE", f"{self.id} runs in {self.dtypes} only (requested {dtype})",
                              field="model")
        from sevenn.calculator import SevenNetCalculator

        kwargs = {"modal": self.modal} if self.modal else {}
        # Load from our resolved path (not the pretrained name) so nothing is ever downloaded.
        calc = SevenNetCalculator(model=str(self.weights_path), device=device, **kwargs)
        if not self.with_d3:
            return calc
        from ase.calculators.mixing import SumCalculator

        # Same composition as MOFSimBench get_calculator(): SumCalculator([mlip, D3]).
        return SumCalculator([calc, make_d3_calculator(device)])


SEVENNET_CITATION = "Park et al., J. Chem. Theory Comput. 20, 4857 (2024), doi 10.1021/acs.jctc.4c00190"

ADAPTERS = [
    SevenNetAdapter(
        id="sevennet_prod", name="SevenNet-0 (11Jul2024) + D3(BJ)", family="sevennet", kind="mlip",
        description="SevenNet-0 trained on MPtrj (PBE/PBE+U), summed with D3(BJ, PBE, 40 Bohr, no ATM) as in "
                    "MOFSimBench's sevennet_prod.",
        with_d3=True, memory_per_atom_MB=1.0, model_memory_MB=60.0, citation=SEVENNET_CITATION,
        pretrained="7net-0"),
    SevenNetAdapter(
        id="sevennet_prod_l3i5", name="SevenNet-l3i5 + D3(BJ)", family="sevennet", kind="mlip",
        description="SevenNet-l3i5 (lmax 3, 5 layers; MPtrj), summed with D3(BJ, PBE, 40 Bohr, no ATM) as in "
                    "MOFSimBench's sevennet_prod_l3i5.",
        with_d3=True, memory_per_atom_MB=2.0, model_memory_MB=80.0, citation=SEVENNET_CITATION,
        pretrained="7net-l3i5"),
]
