"""Structure files: read with ASE, validate, describe.

The format comes from the original file name (extension, or the VASP names POSCAR/CONTCAR), never from
sniffing, so a mislabelled file fails with a clear PARSE_ERROR instead of being read as something else.
CIF symmetry operations are expanded by ase.io.read (8 MOFSimBench zeolites are not P1). Multi-frame files
(xyz, multi-block CIF) give the last frame, as ase.io.read does by default (and as MOFSimBench reads them).
"""
from __future__ import annotations

import re
import threading
import warnings
from pathlib import Path

import numpy as np

from .errors import StructureError

MAX_ATOMS_DEFAULT = 10_000
MIN_DISTANCE_A = 0.5  # closer pairs are duplicated atoms (e.g. a badly expanded CIF), not chemistry

# extension -> (protocol format name, ase.io format)
_EXTENSIONS = {
    ".cif": ("cif", "cif"),
    ".vasp": ("vasp", "vasp"),
    ".poscar": ("vasp", "vasp"),
    ".xyz": ("xyz", "extxyz"),  # ASE's extxyz reader also reads plain xyz
    ".extxyz": ("extxyz", "extxyz"),
    ".json": ("json", "json"),
    ".pdb": ("pdb", "proteindatabank"),
}
_VASP_NAMES = re.compile(r"^(POSCAR|CONTCAR)([._-].*)?$", re.IGNORECASE)

AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660  # 1 amu/Å^3 = 1.66054 g/cm^3

# warnings.catch_warnings() swaps process-global state, so concurrent parses must not interleave.
_parse_lock = threading.Lock()


def detect_format(filename: str) -> tuple[str, str]:
    """(format, ase format) from a file name; UNSUPPORTED_FORMAT otherwise."""
    name = Path(filename or "").name
    if _VASP_NAMES.match(name) and Path(name).suffix.lower() not in _EXTENSIONS:
        return "vasp", "vasp"
    suffix = Path(name).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    raise StructureError(
        "UNSUPPORTED_FORMAT",
        f"unsupported structure format for file {name!r}: use .cif, .vasp/.poscar (or POSCAR/CONTCAR), "
        f".xyz/.extxyz, .json (ASE) or .pdb",
    )


def _read(path: str, ase_format: str):
    """ase.io.read with every failure turned into a typed StructureError; returns (atoms, warnings)."""
    import ase.io

    if not Path(path).is_file():
        raise StructureError("PARSE_ERROR", f"structure file not found: {path}")
    with _parse_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            atoms = ase.io.read(path, format=ase_format)
        except StopIteration:  # ASE's readers signal "no frame / no atoms" this way
            raise StructureError("EMPTY_STRUCTURE", "the file contains no atoms") from None
        except KeyError as exc:  # unknown chemical symbol: ASE looks it up in atomic_numbers
            sym = exc.args[0] if exc.args else ""
            if isinstance(sym, str) and re.fullmatch(r"[A-Za-z]{1,3}", sym):
                raise StructureError("UNKNOWN_ELEMENT", f"unknown element symbol {sym!r}") from None
            raise StructureError("PARSE_ERROR", f"cannot parse the file as {ase_format}: missing key {sym!r}") \
                from None
        except UnicodeDecodeError:
            raise StructureError("PARSE_ERROR", f"cannot parse the file as {ase_format}: not a text file") \
                from None
        except Exception as exc:  # noqa: BLE001 - ASE raises anything (AssertionError, ValueError, IndexError...)
            detail = str(exc).strip() or type(exc).__name__
            raise StructureError("PARSE_ERROR", f"cannot parse the file as {ase_format}: {detail[:300]}") \
                from None
    messages = []
    for w in caught:
        msg = str(w.message).strip()
        if msg and msg not in messages:
            messages.append(msg)
    if isinstance(atoms, list):  # defensive: read() with the default index returns one Atoms
        atoms = atoms[-1]
    return atoms, messages


def validate(atoms, *, max_atoms: int = MAX_ATOMS_DEFAULT, min_distance_A: float = MIN_DISTANCE_A) -> None:
    """Reject structures no task can use. Raises StructureError with a protocol code."""
    from ase.data import chemical_symbols

    n = len(atoms)
    if n == 0:
        raise StructureError("EMPTY_STRUCTURE", "the file contains no atoms")
    bad = sorted({int(z) for z in atoms.numbers if z <= 0 or z >= len(chemical_symbols)})
    if bad:
        raise StructureError("UNKNOWN_ELEMENT", f"unknown element (atomic number {bad[0]})")
    if n > max_atoms:
        raise StructureError("TOO_MANY_ATOMS", f"{n} atoms exceeds the limit of {max_atoms}")
    if not atoms.pbc.all() or atoms.cell.rank < 3 or abs(atoms.cell.volume) < 1e-6:
        raise StructureError(
            "NO_CELL",
            "the structure has no 3D periodic cell (pbc="
            f"{[bool(x) for x in atoms.pbc]}, volume={abs(atoms.cell.volume):.3g} Å³); "
            "periodic frameworks need a cell (CIF, POSCAR, or extxyz with Lattice=)",
        )
    if not np.all(np.isfinite(atoms.positions)):
        raise StructureError("PARSE_ERROR", "non-finite atomic positions")
    # Neighbour list (linear in N) rather than get_all_distances (N^2 memory for 10k atoms).
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, min_distance_A, self_interaction=False)
    if len(d):
        k = int(np.argmin(d))
        raise StructureError(
            "OVERLAPPING_ATOMS",
            f"atoms {int(i[k])} ({atoms[int(i[k])].symbol}) and {int(j[k])} ({atoms[int(j[k])].symbol}) are "
            f"{d[k]:.3f} Å apart (minimum {min_distance_A} Å, periodic images included); "
            f"{len(d) // 2 or 1} overlapping pair(s)",
        )


def load(path: str, filename: str | None = None, *, max_atoms: int = MAX_ATOMS_DEFAULT):
    """Read + validate. Returns (atoms, format, warnings)."""
    fmt, ase_fmt = detect_format(filename or Path(path).name)
    atoms, messages = _read(path, ase_fmt)
    validate(atoms, max_atoms=max_atoms)
    atoms.calc = None  # extxyz/json may carry stored results; a task must compute its own
    return atoms, fmt, messages


def cell_dict(atoms) -> dict:
    a, b, c, alpha, beta, gamma = (float(x) for x in atoms.cell.cellpar())
    return {"a": a, "b": b, "c": c, "alpha": alpha, "beta": beta, "gamma": gamma,
            "matrix": np.asarray(atoms.cell).tolist()}


def density_g_cm3(atoms) -> float:
    return float(atoms.get_masses().sum() / atoms.get_volume() * AMU_PER_A3_TO_G_PER_CM3)


def describe(atoms, fmt: str, messages: list[str]) -> dict:
    """The `parse` op's data dict (PROTOCOL.md)."""
    formula = atoms.symbols.formula
    reduced, _ = formula.reduce()
    elements = sorted(set(atoms.get_chemical_symbols()), key=lambda s: (s != "C", s != "H", s))
    return {
        "format": fmt,
        "n_atoms": len(atoms),
        "formula": atoms.get_chemical_formula(mode="hill"),
        "reduced_formula": reduced.format("hill"),
        "elements": elements,
        "cell": cell_dict(atoms),
        "volume_A3": float(atoms.get_volume()),
        "density_g_cm3": density_g_cm3(atoms),
        "pbc": [bool(x) for x in atoms.pbc],
        "warnings": list(messages),
    }


def parse(path: str, filename: str | None = None, *, max_atoms: int = MAX_ATOMS_DEFAULT) -> dict:
    atoms, fmt, messages = load(path, filename, max_atoms=max_atoms)
    return describe(atoms, fmt, messages)
