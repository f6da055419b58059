"""MatterSim family (mattersim). Weights are a local checkpoint in MOFSIM_WEIGHTS_DIR; nothing is downloaded.

MOFSimBench `get_calculator()` for `mattersim_prod`: `MatterSimCalculator(load_path="MatterSim-v1.0.0-5M.pth",
device)` + D3. mattersim resolves that bare name to ~/.local/mattersim/pretrained_models/ and downloads it when
missing; we pass the full local path instead, which `Potential.from_checkpoint` loads as it is (the checkpoint
holds its own `model_args`, so any M3GNet size loads).

Install: workers/engine/requirements-mattersim.txt, then `pip install --no-deps mattersim==1.2.3` (mattersim
declares torchvision/torchaudio/wandb/atomate2/mp-api as dependencies; resolving them replaces torch with another
build, and the force field needs none of them). 1.2.3 is the newest release for Python 3.11.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .weights import LocalWeightsAdapter

_elements_cache: dict[tuple, list[str]] = {}
_elements_lock = threading.Lock()


def mattersim_elements(path: Path) -> list[str]:
    """Z = 1..max_z of the checkpoint's M3GNet (its atom embedding), from `model_args` only; cached."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _elements_lock:
        if key not in _elements_cache:
            import torch
            from ase.data import chemical_symbols

            cp = torch.load(str(path), map_location="cpu", weights_only=False, mmap=True)
            max_z = int(cp.get("model_args", {}).get("max_z", 94))
            _elements_cache[key] = list(chemical_symbols[1:max_z + 1])
        return list(_elements_cache[key])


@dataclass
class MatterSimAdapter(LocalWeightsAdapter):
    packages: tuple[str, ...] = ("torch", "torch_geometric", "torch_runstats", "loguru", "mattersim")
    extra: str = "requirements-mattersim.txt"
    dtypes: tuple[str, ...] = ("float32",)

    def _read_elements(self, path: Path) -> list[str]:
        return mattersim_elements(path)

    def _build(self, path: Path, device: str, dtype: str):
        from mattersim.forcefield import MatterSimCalculator

        return MatterSimCalculator(load_path=str(path), device=device)


ADAPTERS = [
    MatterSimAdapter(
        id="mattersim_prod", name="MatterSim v1.0.0 5M + D3(BJ)", family="mattersim", kind="mlip",
        description="MatterSim v1.0.0 (M3GNet architecture, 5M parameters), summed with D3(BJ, PBE, 40 Bohr, no ATM) "
                    "as in MOFSimBench's mattersim_prod.",
        with_d3=True, memory_per_atom_MB=2.0, model_memory_MB=60.0,
        citation="Yang et al., arXiv:2405.04967 (2024), MatterSim", weights_file="MatterSim-v1.0.0-5M.pth"),
]
