"""Provenance attached to every result: enough to reproduce it (model + weights hash, code versions, device,
effective parameters, seeds)."""
from __future__ import annotations

import functools
import os
import subprocess
from importlib import metadata
from pathlib import Path

from . import __version__

# Distribution names as on PyPI (import names differ: torch_dftd, sevenn).
PACKAGES = ("torch", "ase", "sevenn", "torch-dftd", "phonopy", "numpy", "scipy", "pymatgen")


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    """Versions from installed metadata: no imports, so the hello line stays fast."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.lru_cache(maxsize=1)
def git_sha() -> str | None:
    env = os.environ.get("MOFSIM_GIT_SHA")
    if env:
        return env
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                           capture_output=True, text=True, timeout=2)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def seeds_from(params: dict) -> dict:
    """Every parameter whose name mentions a seed (e.g. md_velocity_seed); tasks without randomness give {}."""
    return {k: v for k, v in params.items() if "seed" in k.lower()}


def build(adapter, *, device: str, dtype: str, parameters: dict, seeds: dict | None = None) -> dict:
    return {
        "model": adapter.id,
        "model_name": adapter.name,
        "weights_sha256": adapter.weights_sha256,
        "packages": package_versions(),
        "device": device,
        "dtype": dtype,
        "d3": adapter.d3,
        "parameters": parameters,
        "seeds": seeds if seeds is not None else seeds_from(parameters),
        "engine_version": __version__,
        "git_sha": git_sha(),
    }
