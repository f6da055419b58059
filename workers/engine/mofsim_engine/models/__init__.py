"""Model registry: MOFSimBench calculator keys -> adapters, plus friendly aliases.

Ids are the MOFSimBench `calculators.yaml` keys (PROTOCOLS.md §6); `chgnet_prod` (weights in the chgnet wheel) and
`lj_test` (classical, tests only) are ours. Families whose package is an optional extra (MACE, ORB, MatterSim,
fairchem, GRACE, CHGNet) are always listed; `available` is false, with `unavailable_reason`, when the package or
the weights file in MOFSIM_WEIGHTS_DIR is missing (workers/engine/MODELS.md lists the expected files).

Aliases: `resolve_model_id` maps a friendly name (case-insensitive, `_` and `-` interchangeable, e.g. `7net-0`,
`mace-mpa-0`, `orb-v3`) to the canonical id; `get_adapter` accepts either. Results, provenance and cache keys
should carry the canonical id (`get_adapter(x).id`).
"""
from __future__ import annotations

from ..errors import EngineError
from .base import ModelAdapter
from .chgnet import ADAPTERS as _CHGNET
from .classical import ADAPTERS as _CLASSICAL
from .fairchem import ADAPTERS as _FAIRCHEM
from .grace import ADAPTERS as _GRACE
from .mace import ADAPTERS as _MACE
from .mattersim import ADAPTERS as _MATTERSIM
from .orb import ADAPTERS as _ORB
from .sevennet import ADAPTERS as _SEVENNET

REGISTRY: dict[str, ModelAdapter] = {
    a.id: a for a in [*_SEVENNET, *_MACE, *_ORB, *_MATTERSIM, *_FAIRCHEM, *_GRACE, *_CHGNET, *_CLASSICAL]}

# canonical id -> friendly aliases (model names as their authors write them).
ALIASES: dict[str, tuple[str, ...]] = {
    "sevennet_prod": ("sevennet", "7net-0", "sevennet-0"),
    "sevennet_prod_l3i5": ("7net-l3i5", "sevennet-l3i5"),
    "mace_prod": ("mace", "mace-mpa-0", "mace-mpa-0-medium"),
    "mace_prod_b3": ("mace-mp-0b3", "mace-mp-0b3-medium"),
    "mace_prod_0a": ("mace-mp-0", "mace-mp-0a", "mace-mp-0-medium"),
    "mace_prod_mof": ("mace-mof", "mace-mp-mof0", "mace-mof0"),
    "mace_prod_omat": ("mace-omat", "mace-omat-0", "mace-omat-0-medium"),
    "mace_prod_matpes": ("mace-matpes", "mace-matpes-r2scan"),
    "orb_prod": ("orb", "orb-v2", "orb-d3-v2"),
    "orb_prod_mp": ("orb-mptraj-only-v2", "orb-v2-mp"),
    "orb3": ("orb-v3-direct", "orb-v3-direct-20-omat"),
    "orb_prod_v3": ("orb-v3", "orb-v3-conservative-inf-omat"),
    "orb_prod_v3_mp": ("orb-v3-mp", "orb-v3-conservative-inf-mpa"),
    "mattersim_prod": ("mattersim", "mattersim-5m", "mattersim-v1.0.0-5m"),
    "omat24_prod": ("eqv2", "eqv2-omsa", "eqv2-86m-omat-mp-salex"),
    "omat24_prod_mp": ("eqv2-mp", "eqv2-dens-86m-mp"),
    "omat24_prod_esen": ("esen", "esen-oam", "esen-30m-oam"),
    "omat24_prod_esen_mp": ("esen-mp", "esen-30m-mp", "esen-30m-mptrj"),
    "grace_prod": ("grace", "grace-2l-mp-r6"),
    "grace_prod_oam": ("grace-oam", "grace-2l-oam"),
    "grace_prod_omat": ("grace-omat", "grace-2l-omat"),
    "chgnet_prod": ("chgnet", "chgnet-0.3.0"),
    "lj_test": ("lennard-jones-test",),
}


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


_ALIAS_INDEX: dict[str, str] = {}
for _id in REGISTRY:
    _ALIAS_INDEX[_norm(_id)] = _id
for _id, _names in ALIASES.items():
    if _id in REGISTRY:
        for _n in _names:
            _ALIAS_INDEX.setdefault(_norm(_n), _id)


def resolve_model_id(name: str) -> str:
    """Canonical model id for an id or alias; raises UNKNOWN_MODEL."""
    if isinstance(name, str):
        if name in REGISTRY:
            return name
        hit = _ALIAS_INDEX.get(_norm(name))
        if hit is not None:
            return hit
    raise EngineError("UNKNOWN_MODEL", f"unknown model {name!r} (one of {sorted(REGISTRY)}, or an alias listed by "
                      "the models op)", field="model")


def get_adapter(model_id: str) -> ModelAdapter:
    return REGISTRY[resolve_model_id(model_id)]


def aliases_of(model_id: str) -> list[str]:
    return [n for n in ALIASES.get(model_id, ())]


def list_models() -> list[dict]:
    out = []
    for a in REGISTRY.values():
        d = a.describe()
        d["aliases"] = aliases_of(a.id)
        wf = getattr(a, "weights_file", None)
        if wf:
            d["weights_file"] = wf  # expected name in MOFSIM_WEIGHTS_DIR
        out.append(d)
    return out
