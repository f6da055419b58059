"""MACE family (mace-torch). Weights are local `.model` files in MOFSIM_WEIGHTS_DIR (torch-pickled MACE modules, as
distributed by the MACE foundation-model releases); nothing is downloaded.

MOFSimBench `get_calculator()` for a `mace*` key: `mace_mp(model=<local file>, device, default_dtype="float32")`,
which for a path that exists is exactly `MACECalculator(model_paths=path, device, default_dtype)` (we call that
directly: mace_mp prints to stdout). D3 is MOFSimBench's own torch-dftd wrapper (SumCalculator), not mace_mp's
`dispersion=True`, and is added by LocalWeightsAdapter.load.

Install: workers/engine/requirements-mace.txt, then `pip install --no-deps mace-torch==0.3.16` (mace-torch pins
e3nn==0.4.4, which cannot even be imported under torch >= 2.6; it runs on the e3nn 0.6.0 that sevenn needs).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .weights import LocalWeightsAdapter, symbols_from_numbers

_elements_cache: dict[tuple, list[str]] = {}
_elements_lock = threading.Lock()


def mace_model_elements(path: Path) -> list[str]:
    """Elements of a saved MACE model (its `atomic_numbers` buffer). Unpickling a MACE module needs the full file
    (no separate config), so this costs one torch.load per file and process; cached by (path, mtime, size)."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _elements_lock:
        if key not in _elements_cache:
            import torch

            model = torch.load(str(path), map_location="cpu", weights_only=False)
            _elements_cache[key] = symbols_from_numbers(model.atomic_numbers.tolist())
        return list(_elements_cache[key])


@dataclass
class MaceAdapter(LocalWeightsAdapter):
    packages: tuple[str, ...] = ("torch", "e3nn", "mace")
    extra: str = "requirements-mace.txt"
    dtypes: tuple[str, ...] = ("float32", "float64")

    def _read_elements(self, path: Path) -> list[str]:
        return mace_model_elements(path)

    def _build(self, path: Path, device: str, dtype: str):
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=str(path), device=device, default_dtype=dtype)


MACE_CITATION = "Batatia et al., arXiv:2401.00096 (2023), A foundation model for atomistic materials chemistry"

_D3 = " summed with D3(BJ, PBE, 40 Bohr, no ATM) as in MOFSimBench's {key}."


def _mace(key: str, name: str, file: str, desc: str, d3: bool = True, mem: float = 2.0, size: float = 100.0):
    return MaceAdapter(
        id=key, name=name + (" + D3(BJ)" if d3 else ""), family="mace", kind="mlip",
        description=desc + (_D3.format(key=key) if d3 else f" No D3 (MOFSimBench's {key} runs it without)."),
        with_d3=d3, memory_per_atom_MB=mem, model_memory_MB=size, citation=MACE_CITATION, weights_file=file)


ADAPTERS = [
    _mace("mace_prod", "MACE-MPA-0 medium", "mace-mpa-0-medium.model",
          "MACE-MPA-0 medium (MPtrj + sAlex),"),
    _mace("mace_prod_b3", "MACE-MP-0b3 medium", "mace-mp-0b3-medium.model",
          "MACE-MP-0b3 medium (MPtrj),"),
    _mace("mace_prod_0a", "MACE-MP-0a medium", "2023-12-03-mace-128-L1_epoch-199.model",
          "MACE-MP-0a medium (MPtrj; 2023-12-03-mace-128-L1_epoch-199),", mem=1.5),
    _mace("mace_prod_mof", "MACE-MP-MOF0", "mofs_v1.model",
          "MACE-MP-MOF0 (MACE-MP-0 fine-tuned on MOF data computed with PBE-D3; mofs_v1.model).", d3=False),
    _mace("mace_prod_omat", "MACE-OMAT-0 medium", "mace-omat-0-medium.model",
          "MACE-OMAT-0 medium (OMat24),"),
    _mace("mace_prod_matpes", "MACE-MATPES-r2SCAN (OMat fine-tuned)", "MACE-matpes-r2scan-omat-ft.model",
          "MACE-MATPES-r2SCAN fine-tuned from MACE-OMAT, still with PBE D3 parameters:"),
]
