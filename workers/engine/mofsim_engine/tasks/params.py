"""Parameter validation helpers shared by the task modules.

`validate(params)` in each task builds the effective parameters from MOFSimBench defaults; these helpers check
one value each and raise InvalidParameter naming the field and the bad value ("fmax must be > 0 (got 0)").
JSON booleans are not accepted as numbers (True would otherwise pass as 1).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from ..errors import InvalidParameter


def reject_unknown(params: dict, allowed: Iterable[str]) -> None:
    if params is None:
        return
    if not isinstance(params, dict):
        raise InvalidParameter("params", f"params must be an object (got {type(params).__name__})")
    allowed = set(allowed)
    for key in params:
        if key not in allowed:
            raise InvalidParameter(key, f"unknown parameter {key!r} (allowed: {', '.join(sorted(allowed))})")


def number(params: dict, name: str, default: float, *, gt: float | None = None, ge: float | None = None,
           le: float | None = None) -> float:
    v = params.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InvalidParameter(name, f"{name} must be a finite number (got {v!r})")
    if gt is not None and not v > gt:
        raise InvalidParameter(name, f"{name} must be > {gt:g} (got {v!r})")
    if ge is not None and not v >= ge:
        raise InvalidParameter(name, f"{name} must be >= {ge:g} (got {v!r})")
    if le is not None and not v <= le:
        raise InvalidParameter(name, f"{name} must be <= {le:g} (got {v!r})")
    return float(v)


def integer(params: dict, name: str, default: int, *, ge: int | None = None, le: int | None = None) -> int:
    v = params.get(name, default)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidParameter(name, f"{name} must be an integer (got {v!r})")
    if ge is not None and v < ge:
        raise InvalidParameter(name, f"{name} must be >= {ge} (got {v!r})")
    if le is not None and v > le:
        raise InvalidParameter(name, f"{name} must be <= {le} (got {v!r})")
    return v


def boolean(params: dict, name: str, default: bool) -> bool:
    v = params.get(name, default)
    if not isinstance(v, bool):
        raise InvalidParameter(name, f"{name} must be true or false (got {v!r})")
    return v


def choice(params: dict, name: str, default: Any, choices: Iterable[Any], *, case_insensitive: bool = True) -> Any:
    """Returns the canonical spelling from `choices` (e.g. "lbfgs" -> "LBFGS")."""
    v = params.get(name, default)
    choices = list(choices)
    for c in choices:
        if v == c or (case_insensitive and isinstance(v, str) and isinstance(c, str) and v.lower() == c.lower()):
            return c
    raise InvalidParameter(name, f"{name} must be one of {choices} (got {v!r})")
