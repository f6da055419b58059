"""fairchem family (fairchem-core): eqV2 / eSEN checkpoints, local files in MOFSIM_WEIGHTS_DIR; nothing is
downloaded.

MOFSimBench `get_calculator()` for an `omat24*` key uses the fairchem **v1** API:
`fairchem.core.OCPCalculator(checkpoint_path=<local .pt>, local_cache="pretrained_models", cpu=..., seed=0)`.
Its checkpoints (eqV2_86M_omat_mp_salex.pt, esen_30m_oam.pt, ...) are v1 training checkpoints — a dict with
"config" and "state_dict". fairchem-core 2.x removed OCPCalculator and the eqV2/eSEN v1 model code, and loads
only v2 *inference* checkpoints (`MLIPInferenceCheckpoint`) through `load_predict_unit` + `FAIRChemCalculator`.

So this adapter looks at the checkpoint (one mmap'd torch.load, cached per file) and uses:
- v1 checkpoint: the v1 OCPCalculator, exactly MOFSimBench's call. Needs fairchem-core 1.x, which pins
  torch~=2.4 and numpy<2: it cannot share this engine's venv (torch 2.13, numpy 2.x), so in our install a v1
  checkpoint is reported unavailable with that reason; a separate engine venv with fairchem-core 1.10 can run it.
- v2 inference checkpoint (e.g. a UMA/eSEN model re-exported by fairchem 2.x): `load_predict_unit(path,
  inference_settings="batch", device=...)` and `FAIRChemCalculator(unit, task_name="omat")` — fairchem-core 2.24
  installs next to torch 2.13.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .base import ELEMENTS_1_TO_94
from .weights import LocalWeightsAdapter

_format_cache: dict[tuple, str] = {}
_format_lock = threading.Lock()


def fairchem_major() -> int | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("fairchem-core").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return None


def checkpoint_format(path: Path) -> str:
    """"v1" (dict with config + state_dict), "v2" (fairchem 2.x MLIPInferenceCheckpoint) or "unknown"; cached by
    (path, mtime, size). Unpickling a v2 checkpoint imports fairchem (its dataclass)."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _format_lock:
        if key not in _format_cache:
            import torch

            try:
                cp = torch.load(str(path), map_location="cpu", weights_only=False, mmap=True)
            except Exception:  # noqa: BLE001 - e.g. a v2 checkpoint without fairchem 2.x installed
                cp = None
            if isinstance(cp, dict) and "state_dict" in cp and "config" in cp:
                fmt = "v1"
            elif cp is not None and type(cp).__name__ == "MLIPInferenceCheckpoint":
                fmt = "v2"
            else:
                fmt = "unknown"
            _format_cache[key] = fmt
        return _format_cache[key]


@dataclass
class FairchemAdapter(LocalWeightsAdapter):
    task_name: str = "omat"  # v2 checkpoints: the FAIRChemCalculator task (UMA heads); ignored for v1
    # v2 checkpoints: fairchem's "batch" preset — full FP32, no torch.compile, no MOLE merging: the stable mode for
    # inputs that change size and composition from call to call, as the engine's jobs do.
    inference_settings: str = "batch"
    packages: tuple[str, ...] = ("torch", "fairchem.core")
    extra: str = "requirements-fairchem.txt"
    dtypes: tuple[str, ...] = ("float32",)
    # eqV2/eSEN embed Z up to 100; OMat24/MPtrj/sAlex training data covers the elements up to Pu.
    elements_override: tuple[str, ...] | None = tuple(ELEMENTS_1_TO_94)

    def available(self) -> tuple[bool, str | None]:
        ok, reason = super().available()
        if not ok:
            return ok, reason
        major = fairchem_major()
        fmt = checkpoint_format(self.weights_path)
        if fmt == "v1" and (major is None or major >= 2):
            return False, (f"{self.weights_file} is a fairchem v1 checkpoint (MOFSimBench's OCPCalculator API); "
                           f"installed fairchem-core {major}.x cannot load it, and fairchem-core 1.x needs torch "
                           "2.4 / numpy < 2 (a separate engine venv). A fairchem 2.x inference checkpoint under "
                           "this name would load.")
        if fmt == "v2" and (major is None or major < 2):
            return False, f"{self.weights_file} is a fairchem 2.x inference checkpoint; install fairchem-core 2.x"
        if fmt == "unknown":
            return False, f"{self.weights_file} is not a fairchem checkpoint this engine can read"
        return True, None

    def _build(self, path: Path, device: str, dtype: str):
        if checkpoint_format(path) == "v1":  # fairchem-core 1.x only (see the module docstring)
            from fairchem.core import OCPCalculator

            return OCPCalculator(checkpoint_path=str(path), local_cache="pretrained_models",
                                 cpu=not str(device).startswith("cuda"), seed=0)
        from fairchem.core import FAIRChemCalculator
        from fairchem.core.calculate.pretrained_mlip import load_predict_unit

        dev = "cuda" if str(device).startswith("cuda") else "cpu"
        unit = load_predict_unit(str(path), inference_settings=self.inference_settings, device=dev)
        return FAIRChemCalculator(unit, task_name=self.task_name)


FAIRCHEM_CITATION = ("Barroso-Luque et al., arXiv:2410.12771 (2024), OMat24; Fu et al., arXiv:2502.12147 (2025), "
                     "eSEN")


def _fc(key: str, name: str, file: str, desc: str, mem: float = 4.0, size: float = 350.0):
    return FairchemAdapter(
        id=key, name=f"{name} + D3(BJ)", family="fairchem", kind="mlip",
        description=f"{desc}, summed with D3(BJ, PBE, 40 Bohr, no ATM) as in MOFSimBench's {key}.",
        with_d3=True, memory_per_atom_MB=mem, model_memory_MB=size, citation=FAIRCHEM_CITATION, weights_file=file)


ADAPTERS = [
    _fc("omat24_prod", "eqV2-M OMat-MP-sAlex", "eqV2_86M_omat_mp_salex.pt",
        "EquiformerV2 86M trained on OMat24, fine-tuned on MPtrj + sAlex (eqV2-OMsA)"),
    _fc("omat24_prod_mp", "eqV2-M DeNS MPtrj", "eqV2_dens_86M_mp.pt", "EquiformerV2 86M with DeNS, MPtrj only"),
    _fc("omat24_prod_esen", "eSEN-30M-OAM", "esen_30m_oam.pt",
        "eSEN 30M (OMat24, fine-tuned on sAlex + MPtrj); weights reported research-use only", mem=3.0,
        size=130.0),
    _fc("omat24_prod_esen_mp", "eSEN-30M-MP", "esen_30m_mptrj.pt", "eSEN 30M trained on MPtrj", mem=3.0,
        size=130.0),
]
