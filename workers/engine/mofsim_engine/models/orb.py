"""ORB family (orb-models). Weights are local `.ckpt` state dicts in MOFSIM_WEIGHTS_DIR, named as orb-models'
release URLs name them; nothing is downloaded.

MOFSimBench `get_calculator()` for an `orb*` key: `ORB_PRETRAINED_MODELS[model_name](**model_kwargs)` then
`ORBCalculator(model, device)`. Each pretrained function builds its architecture (with its SystemConfig) and loads
`weights_path` through cached_path, which returns a local path that exists as it is — so we call the same function
with `weights_path=<local file>`. Differences, on purpose: `compile=False` (MOFSimBench left orb's default, which
torch.compiles on CUDA/CPU; compiling needs a C++ toolchain and recompiles per system size); results agree to
float tolerance.

Note: orb's `precision` sets process-wide torch state (`torch.set_default_dtype(float32)` and
`torch.set_float32_matmul_precision("high"|"highest")`); "float32-high" lets CUDA matmuls use TF32 for every
model in the engine process, as it did in MOFSimBench's one-model-per-process runs.

Install: workers/engine/requirements-orb.txt (orb-models 0.5.5 is the newest release for Python 3.11; 0.6+ needs
Python >= 3.12; the orb-v2 and orb-v3 model names MOFSimBench uses all exist in 0.5.5).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .base import ELEMENTS_1_TO_94
from .weights import LocalWeightsAdapter


@dataclass
class OrbAdapter(LocalWeightsAdapter):
    pretrained: str = ""  # key of orb_models.forcefield.pretrained.ORB_PRETRAINED_MODELS
    precision: str = "float32-high"
    # Tests only: build this architecture instead of the pretrained one (a tiny random model); the weights are
    # still loaded from weights_file by orb's own load_model, exactly as for a pretrained name.
    architecture: Callable | None = None
    packages: tuple[str, ...] = ("torch", "orb_models", "cached_path")
    extra: str = "requirements-orb.txt"
    dtypes: tuple[str, ...] = ("float32",)
    # ORB checkpoints carry no element list; the atom embedding covers Z = 1..118 and training data (MPtrj,
    # Alexandria, OMat24) the elements up to Pu.
    elements_override: tuple[str, ...] | None = tuple(ELEMENTS_1_TO_94)

    def _build(self, path: Path, device: str, dtype: str):
        from orb_models.forcefield import pretrained
        from orb_models.forcefield.calculator import ORBCalculator

        if self.architecture is not None:
            model = pretrained.load_model(self.architecture(device=device), str(path), device,
                                          precision=self.precision, compile=False)
        else:
            model = pretrained.ORB_PRETRAINED_MODELS[self.pretrained](
                weights_path=str(path), device=device, precision=self.precision, compile=False)
        return ORBCalculator(model, device=device)


ORB_CITATION = ("Neumann et al., arXiv:2410.22570 (2024) (orb-v2); Rhodes et al., arXiv:2504.06231 (2025) "
                "(orb-v3)")


def _orb(key: str, pretrained: str, file: str, desc: str, d3: bool = True, precision: str = "float32-high",
         mem: float = 2.0, size: float = 100.0):
    d3_text = (f" Summed with D3(BJ, PBE, 40 Bohr, no ATM) as in MOFSimBench's {key}." if d3 else
               f" No external D3 (MOFSimBench's {key} runs it without).")
    return OrbAdapter(
        id=key, name=pretrained + (" + D3(BJ)" if d3 else ""), family="orb", kind="mlip",
        description=f"{desc} Precision {precision}.{d3_text}", with_d3=d3, memory_per_atom_MB=mem,
        model_memory_MB=size, citation=ORB_CITATION, weights_file=file, pretrained=pretrained,
        precision=precision)


ADAPTERS = [
    _orb("orb_prod", "orb-d3-v2", "orb-d3-v2-20241011.ckpt",
         "ORB v2 direct (MPtrj + Alexandria) trained with D3 built in.", d3=False),
    _orb("orb_prod_mp", "orb-mptraj-only-v2", "orb-mptraj-only-v2-20241014.ckpt",
         "ORB v2 direct trained on MPtrj only."),
    _orb("orb3", "orb-v3-direct-20-omat", "orb-v3-direct-20-omat-20250404.ckpt",
         "ORB v3 direct, 20 neighbours (OMat24).", d3=False, mem=1.0),
    _orb("orb_prod_v3", "orb-v3-conservative-inf-omat", "orb-v3-conservative-inf-omat-20250404.ckpt",
         "ORB v3 conservative, unlimited neighbours (OMat24).", precision="float32-highest", mem=4.0),
    _orb("orb_prod_v3_mp", "orb-v3-conservative-inf-mpa", "orb-v3-conservative-inf-mpa-20250404.ckpt",
         "ORB v3 conservative, unlimited neighbours (MPtrj + Alexandria).", precision="float32-highest",
         mem=4.0),
]
