"""Model registry: MOFSimBench calculator keys -> adapters.

TODO(later issue): MACE (mace_prod*, local weights via MOFSIM_WEIGHTS_DIR), ORB (orb_prod*), MatterSim
(mattersim_prod), eSEN/eqV2 (omat24_prod*), GRACE (grace_prod*). Each becomes one small module here with
ADAPTERS listed as unavailable (with a reason) when its package or weights are missing.
"""
from __future__ import annotations

from ..errors import EngineError
from .base import ModelAdapter
from .classical import ADAPTERS as _CLASSICAL
from .sevennet import ADAPTERS as _SEVENNET

REGISTRY: dict[str, ModelAdapter] = {a.id: a for a in [*_SEVENNET, *_CLASSICAL]}


def get_adapter(model_id: str) -> ModelAdapter:
    try:
        return REGISTRY[model_id]
    except KeyError:
        raise EngineError("UNKNOWN_MODEL", f"unknown model {model_id!r} (one of {sorted(REGISTRY)})",
                          field="model") from None


def list_models() -> list[dict]:
    return [a.describe() for a in REGISTRY.values()]
