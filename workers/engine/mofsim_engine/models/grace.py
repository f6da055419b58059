"""GRACE family (tensorpotential, TensorFlow). Weights are local saved-model *directories* in MOFSIM_WEIGHTS_DIR,
named as tensorpotential names its foundation models (the directory `grace_fm` would unpack into
~/.cache/grace/); nothing is downloaded.

MOFSimBench `get_calculator()` for a `grace*` key: `tensorpotential.calculator.grace_fm(model_name)` + D3. grace_fm
downloads the model when missing and then builds `TPCalculator(model=<dir>, pad_neighbors_fraction=0.05,
pad_atoms_number=10, max_number_reduction_recompilation=2, min_dist=None)`; we build the same TPCalculator on our
local directory.

Install: workers/engine/requirements-grace.txt — TensorFlow (CPU build `tensorflow-cpu`, ~0.6 GB installed; plain
`tensorpotential` pulls `tensorflow[and-cuda]`, several GB of CUDA wheels). TensorFlow and torch then share the
process; on a GPU restrict TensorFlow's memory growth (TF_FORCE_GPU_ALLOW_GROWTH=true) so it does not take the
whole device. Not installed in CI or the default install.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import ELEMENTS_1_TO_94
from .weights import LocalWeightsAdapter

# tensorpotential grace_fm() defaults (tensorpotential 0.5/0.6).
TP_KWARGS = {"pad_neighbors_fraction": 0.05, "pad_atoms_number": 10, "max_number_reduction_recompilation": 2,
             "min_dist": None}


@dataclass
class GraceAdapter(LocalWeightsAdapter):
    packages: tuple[str, ...] = ("tensorflow", "tensorpotential")
    extra: str = "requirements-grace.txt"
    # The saved model fixes its own precision (the GRACE foundation models compute in float64); the engine dtype
    # does not change it.
    dtypes: tuple[str, ...] = ("float32", "float64")
    # GRACE foundation models are fitted to 89 elements (H..Pu); the saved model is opaque to a cheap read.
    elements_override: tuple[str, ...] | None = tuple(ELEMENTS_1_TO_94)

    def _build(self, path: Path, device: str, dtype: str):
        from tensorpotential.calculator.asecalculator import TPCalculator

        return TPCalculator(model=str(path), **TP_KWARGS)


GRACE_CITATION = "Bochkarev, Lysogorskiy, Drautz, Phys. Rev. X 14, 021036 (2024), GRACE"


def _grace(key: str, model: str, desc: str, mem: float = 2.0):
    return GraceAdapter(
        id=key, name=f"{model} + D3(BJ)", family="grace", kind="mlip",
        description=f"{desc}, summed with D3(BJ, PBE, 40 Bohr, no ATM) as in MOFSimBench's {key}.",
        with_d3=True, memory_per_atom_MB=mem, model_memory_MB=150.0, citation=GRACE_CITATION, weights_file=model)


ADAPTERS = [
    _grace("grace_prod", "GRACE-2L-MP-r6", "GRACE 2-layer, MPtrj, 6 Å cutoff"),
    _grace("grace_prod_oam", "GRACE-2L-OAM", "GRACE 2-layer, OMat24 fine-tuned on sAlex + MPtrj"),
    _grace("grace_prod_omat", "GRACE-2L-OMAT", "GRACE 2-layer, OMat24"),
]
