"""Typed engine errors.

Every failure that reaches the TypeScript worker carries a stable `code` (see PROTOCOL.md), a human message,
an optional `field` (which request field or parameter was bad) and `retryable` (infrastructure vs bad input).
Physics failures (NaN, exploded, not converged) are NOT errors: tasks return them as result `status` values.
"""
from __future__ import annotations

# Codes the API may retry (infrastructure trouble); everything else is the caller's input.
RETRYABLE_CODES = frozenset({"OUT_OF_MEMORY", "ENGINE_ERROR"})


class EngineError(Exception):
    """An error with a protocol error code."""

    def __init__(self, code: str, message: str, field: str | None = None, retryable: bool | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retryable = code in RETRYABLE_CODES if retryable is None else retryable
        self.details = details

    def to_dict(self) -> dict:
        d = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.field is not None:
            d["field"] = self.field
        if self.details:
            d["details"] = self.details
        return d


class StructureError(EngineError):
    """The structure file cannot be used (PARSE_ERROR, NO_CELL, OVERLAPPING_ATOMS, ...). `details` names what
    was found (the atom pair and its distance, the bad cell parameter, the line), machine-readable."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(code, message, field="file", details=details)


class InvalidParameter(EngineError):
    """A task parameter is missing, of the wrong type, out of range or unknown. `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__("INVALID_PARAMETER", message, field=field)


class JobCancelled(EngineError):
    """Raised inside a job (from JobContext.check_cancelled) once `cancel` arrived for it. `checkpoint`
    ({path, step}) when the cancel asked for one and the task wrote it at the step where it stopped."""

    def __init__(self, job_id: str, checkpoint: dict | None = None):
        msg = f"job {job_id} was cancelled"
        if checkpoint is not None:
            msg += f" (checkpoint written at step {checkpoint['step']})"
        super().__init__("CANCELLED", msg)
        self.checkpoint = checkpoint

    def to_dict(self) -> dict:
        d = super().to_dict()
        if self.checkpoint is not None:
            d["checkpoint"] = self.checkpoint
        return d


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch CUDA/CPU out-of-memory errors (without importing torch if it isn't loaded)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
        if oom_type is not None and isinstance(exc, oom_type):
            return True
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "CUDA error: out of memory" in text)


def to_engine_error(exc: BaseException) -> EngineError:
    """Map any exception to the error sent back: typed errors pass through, OOM becomes OUT_OF_MEMORY,
    anything else ENGINE_ERROR (retryable: a bug or infrastructure fault, not the user's input)."""
    if isinstance(exc, EngineError):
        return exc
    if is_out_of_memory(exc):
        return EngineError("OUT_OF_MEMORY", f"out of memory: {exc}")
    return EngineError("ENGINE_ERROR", f"{type(exc).__name__}: {exc}")
