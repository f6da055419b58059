"""CHGNet family (chgnet). The chgnet wheel ships its pretrained weights (0.3.0, 0.2.0 and r2SCAN, 14 MB under
chgnet/pretrained/), so CHGNet works offline without MOFSIM_WEIGHTS_DIR.

MOFSimBench has no CHGNet key; `chgnet_prod` follows its convention for MPtrj-trained models: CHGNet 0.3.0
summed with D3(BJ, PBE, 40 Bohr, no ATM). `CHGNet.load(model_name)` only reads the packaged file (no download).

Installed by the base requirements.txt (small: chgnet, Cython, nvidia-ml-py3; pymatgen was already there);
requirements-chgnet.txt adds it to an older venv.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .base import ELEMENTS_1_TO_94, ModelAdapter, make_d3_calculator
from .weights import missing_packages

# As in chgnet.model.model.CHGNet.load.
_CHECKPOINT_RELPATHS = {
    "0.3.0": "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
    "0.2.0": "pretrained/0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
    "r2scan": "pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
}


def _chgnet_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("chgnet")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@dataclass
class ChgnetAdapter(ModelAdapter):
    version: str = "0.3.0"

    @property
    def weights_path(self) -> Path | None:
        pkg = _chgnet_dir()
        return None if pkg is None else pkg / _CHECKPOINT_RELPATHS[self.version]

    def available(self) -> tuple[bool, str | None]:
        missing = missing_packages(("torch", "pymatgen", "chgnet") + (("torch_dftd",) if self.with_d3 else ()))
        if missing:
            return False, (f"python package(s) {', '.join(repr(m) for m in missing)} not installed "
                           "(install workers/engine/requirements-chgnet.txt)")
        p = self.weights_path
        if p is None or not p.exists():
            return False, f"CHGNet {self.version} weights not found in the chgnet package (looked for {p})"
        return True, None

    @property
    def elements(self) -> list[str]:
        return list(ELEMENTS_1_TO_94)  # CHGNet's atom embedding covers Z = 1..94

    def load(self, device: str, dtype: str):
        self.require_loadable(dtype)
        from chgnet.model import CHGNet, CHGNetCalculator

        model = CHGNet.load(model_name=self.version, use_device=device, verbose=False)
        calc = CHGNetCalculator(model=model, use_device=device)
        if not self.with_d3:
            return calc
        from ase.calculators.mixing import SumCalculator

        return SumCalculator([calc, make_d3_calculator(device)])


ADAPTERS = [
    ChgnetAdapter(
        id="chgnet_prod", name="CHGNet 0.3.0 + D3(BJ)", family="chgnet", kind="mlip",
        description="CHGNet 0.3.0 (MPtrj; weights ship inside the chgnet package), summed with D3(BJ, PBE, 40 Bohr, "
                    "no ATM) like MOFSimBench's other MPtrj models. Not a MOFSimBench key.",
        with_d3=True, memory_per_atom_MB=1.0, model_memory_MB=20.0,
        citation="Deng et al., Nat. Mach. Intell. 5, 1031 (2023), doi 10.1038/s42256-023-00716-3",
        version="0.3.0"),
]
