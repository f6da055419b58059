"""Task registry: task_type -> module implementing it.

Each module exposes `validate(params) -> effective params` and `run(atoms, params, ctx) -> result dict`.
Modules are imported lazily (importlib) so the engine starts fast and a task whose module is absent or broken
only affects that task type.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import EngineError

TASK_MODULES: dict[str, str] = {
    "single_point": "mofsim_engine.tasks.single_point",
    "optimization": "mofsim_engine.tasks.optimization",
    "stability": "mofsim_engine.tasks.stability",
    "bulk_modulus": "mofsim_engine.tasks.bulk_modulus",
    "heat_capacity": "mofsim_engine.tasks.heat_capacity",
    "interaction_energy": "mofsim_engine.tasks.interaction_energy",
    "speed": "mofsim_engine.tasks.speed",
}


def get_task(task_type: str) -> ModuleType:
    """The task module for `task_type`; UNKNOWN_TASK_TYPE when unregistered or its module does not exist."""
    module_name = TASK_MODULES.get(task_type)
    if module_name is None:
        raise EngineError("UNKNOWN_TASK_TYPE", f"unknown task_type {task_type!r} (one of {sorted(TASK_MODULES)})",
                          field="task_type")
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the module exists but one of its imports is missing: a real bug
            raise
        raise EngineError("UNKNOWN_TASK_TYPE", f"task_type {task_type!r} is not implemented in this engine",
                          field="task_type") from exc
