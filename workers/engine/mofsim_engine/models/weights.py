"""Local weights for model families whose weights do not ship inside a PyPI package.

Every such adapter names one file (or directory, for GRACE) that must exist in `MOFSIM_WEIGHTS_DIR`; nothing is
ever downloaded at run time (this server runs offline). The expected names are listed in `workers/engine/MODELS.md`.
The directory is read from the environment at call time so that tests and operators can point it elsewhere
without restarting anything but the engine.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .base import ModelAdapter, make_d3_calculator

DEFAULT_WEIGHTS_DIR = "~/.cache/mofsim/weights"


def weights_dir() -> Path:
    """`MOFSIM_WEIGHTS_DIR`, or ~/.cache/mofsim/weights when unset."""
    return Path(os.path.expanduser(os.environ.get("MOFSIM_WEIGHTS_DIR") or DEFAULT_WEIGHTS_DIR))


def missing_packages(packages: tuple[str, ...]) -> list[str]:
    """Top-level import names that cannot be found (find_spec only: nothing is imported)."""
    out = []
    for p in packages:
        try:
            if importlib.util.find_spec(p) is None:
                out.append(p)
        except (ImportError, ValueError):  # a parent package that fails to import counts as missing
            out.append(p)
    return out


@dataclass
class LocalWeightsAdapter(ModelAdapter):
    """An adapter whose weights are one file (or directory) `weights_file` in MOFSIM_WEIGHTS_DIR.

    Subclasses set `packages` (import names that must be present), `extra` (the requirements file that installs
    them) and implement `_build(path, device, dtype)` returning the bare MLIP ASE calculator; D3 wrapping, dtype
    and availability checks are done here, identically for every family.
    """

    weights_file: str = ""
    packages: tuple[str, ...] = ()
    extra: str = ""  # e.g. "requirements-mace.txt"
    elements_override: tuple[str, ...] | None = None

    @property
    def weights_path(self) -> Path | None:
        return weights_dir() / self.weights_file

    @property
    def weights_sha256(self) -> str | None:
        p = self.weights_path
        if p is None or not p.is_file():  # a directory (GRACE saved model) has no single-file hash
            return None
        return super().weights_sha256

    def available(self) -> tuple[bool, str | None]:
        needed = self.packages + (("torch_dftd",) if self.with_d3 else ())
        missing = missing_packages(needed)
        if missing:
            hint = f" (install workers/engine/{self.extra})" if self.extra else ""
            return False, f"python package(s) {', '.join(repr(m) for m in missing)} not installed{hint}"
        p = self.weights_path
        if p is None or not p.exists():
            return False, (f"weights file {self.weights_file!r} not found in MOFSIM_WEIGHTS_DIR ({weights_dir()}); "
                           "this server does not download weights, see workers/engine/MODELS.md")
        return True, None

    @property
    def elements(self) -> list[str]:
        if self.elements_override is not None:
            return list(self.elements_override)
        p = self.weights_path
        if p is None or not p.exists():
            return []
        return self._read_elements(p)

    def _read_elements(self, path: Path) -> list[str]:
        raise NotImplementedError

    def _build(self, path: Path, device: str, dtype: str):
        raise NotImplementedError

    def load(self, device: str, dtype: str):
        self.require_loadable(dtype)
        calc = self._build(self.weights_path, device, dtype)
        if not self.with_d3:
            return calc
        from ase.calculators.mixing import SumCalculator

        # Same composition as MOFSimBench get_calculator(): SumCalculator([mlip, D3]).
        return SumCalculator([calc, make_d3_calculator(device)])


def symbols_from_numbers(numbers) -> list[str]:
    from ase.data import chemical_symbols

    zs = sorted({int(z) for z in numbers})
    return [chemical_symbols[z] for z in zs if 0 < z < len(chemical_symbols)]

