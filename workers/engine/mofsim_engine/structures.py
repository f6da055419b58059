"""Structure files: read with ASE, validate, describe.

The format comes from the original file name (extension, or the VASP names POSCAR/CONTCAR), never from
sniffing, so a mislabelled file fails with a clear PARSE_ERROR instead of being read as something else.
CIF symmetry operations are expanded by cif.py (8 MOFSimBench zeolites are not P1) with ASE's tables but without
its quadratic, silent merging of sites; the other formats are read by ase.io.read. Multi-frame files (xyz,
multi-block CIF) give the last frame, as ase.io.read does by default (and as MOFSimBench reads them).

Bounded before anything is built: POSCAR and XYZ headers (atom count, species against counts) and the CIF site
count are checked against the atom limit first. Then every structure is refused (StructureError: a code, the
field `file` and `details`) for what no task can use: a cell that is missing, non-finite, negative, degenerate or
absurdly large; non-finite positions or positions many cells away; atoms closer than MIN_DISTANCE_A through
periodic images (the closest pairs and their distances reported). What is suspicious but usable (close contacts,
very low density, left-handed cells, partial occupancies) comes back as warnings.
"""
from __future__ import annotations

import math
import re
import threading
import warnings
from pathlib import Path

import numpy as np

from .errors import StructureError

MAX_ATOMS_DEFAULT = 10_000
MIN_DISTANCE_A = 0.5  # closer pairs are duplicated atoms (e.g. a badly expanded CIF), not chemistry
CLOSE_CONTACT_A = 0.7  # closer than any bond but H2's 0.74 Å: usable, but worth a warning
SPARSE_VOLUME_PER_ATOM_A3 = 500.0  # frameworks have ~10-50 Å³ per atom; far more means vacuum or a unit typo

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


def _precheck(path: str, fmt: str, max_atoms: int) -> None:
    """What the header of a POSCAR or XYZ file promises, checked before anything is built from it: the atom
    count against the limit, and species names against counts (ASE pairs them up silently: 3 species with 1
    count read as 1 atom of the first species)."""
    if fmt not in ("vasp", "xyz", "extxyz"):
        return
    try:
        with open(path, "rb") as fd:
            head = fd.read(1 << 20).decode("utf-8")
    except UnicodeDecodeError:
        raise StructureError("PARSE_ERROR", "not a text file") from None
    except OSError:
        return  # _read reports the missing file
    lines = head.splitlines()
    if fmt == "vasp":
        _precheck_poscar(lines, max_atoms)
    else:
        _precheck_xyz(lines, max_atoms)


def _floats(line: str) -> list[float] | None:
    try:
        return [float(x) for x in line.split()]
    except ValueError:
        return None


def _precheck_poscar(lines: list[str], max_atoms: int) -> None:
    if len(lines) < 7:
        return  # too short to be a POSCAR: ASE's own error says so
    scale = _floats(lines[1])
    if scale is not None and scale and (not all(math.isfinite(x) for x in scale) or any(x == 0 for x in scale)):
        raise StructureError("INVALID_CELL", f"the POSCAR scale factor must be finite and non-zero (line 2: "
                             f"{lines[1].strip()!r})", {"line": 2})
    for k in (2, 3, 4):
        v = _floats(lines[k])
        if v is None or len(v) < 3:
            raise StructureError("INVALID_CELL", f"POSCAR line {k + 1} must hold a lattice vector (3 numbers), got "
                                 f"{lines[k].strip()[:80]!r}", {"line": k + 1})
        if not all(math.isfinite(x) for x in v[:3]):
            raise StructureError("INVALID_CELL", f"POSCAR lattice vector on line {k + 1} is not finite: "
                                 f"{lines[k].strip()[:80]!r}", {"line": k + 1})
    species_line = lines[5].split()
    if species_line and _floats(lines[5]) is None:
        species, counts_index = species_line, 6
    else:
        species, counts_index = None, 5
    if counts_index >= len(lines):
        return
    try:
        counts = [int(x) for x in lines[counts_index].split()]
    except ValueError:
        raise StructureError("COUNT_MISMATCH", f"POSCAR line {counts_index + 1} must hold one atom count per "
                             f"species, got {lines[counts_index].strip()[:80]!r}", {"line": counts_index + 1}) \
            from None
    if not counts or any(c < 0 for c in counts):
        raise StructureError("COUNT_MISMATCH", f"POSCAR atom counts must be non-negative integers (line "
                             f"{counts_index + 1}: {lines[counts_index].strip()!r})", {"line": counts_index + 1})
    if species is not None and len(species) != len(counts):
        raise StructureError("COUNT_MISMATCH", f"the POSCAR names {len(species)} species ({' '.join(species)}) but "
                             f"gives {len(counts)} count(s) ({' '.join(map(str, counts))})",
                             {"species": species, "counts": counts, "line": counts_index + 1})
    total = sum(counts)
    if total > max_atoms:
        raise StructureError("TOO_MANY_ATOMS", f"the POSCAR declares {total} atoms; the limit is {max_atoms}",
                             {"n_atoms": total, "max_atoms": max_atoms})
    k = counts_index + 1
    if k < len(lines) and lines[k].strip()[:1] in ("S", "s"):
        k += 1  # Selective dynamics
    k += 1  # Direct / Cartesian
    coords = 0
    for line in lines[k:k + total]:
        v = _floats(" ".join(line.split()[:3]))
        if v is None or len(v) < 3:
            break
        coords += 1
    if coords < total:
        raise StructureError("COUNT_MISMATCH", f"the POSCAR declares {total} atoms but has {coords} coordinate "
                             f"line(s)", {"declared": total, "found": coords})


def _precheck_xyz(lines: list[str], max_atoms: int) -> None:
    first = lines[0].strip() if lines else ""
    try:
        n = int(first)
    except ValueError:
        return  # not an XYZ count line: ASE's error says so
    if n <= 0:
        raise StructureError("EMPTY_STRUCTURE", f"the XYZ header declares {n} atoms", {"declared": n})
    if n > max_atoms:
        raise StructureError("TOO_MANY_ATOMS", f"the XYZ header declares {n} atoms; the limit is {max_atoms}",
                             {"n_atoms": n, "max_atoms": max_atoms})
    found = sum(1 for line in lines[2:2 + n] if len(line.split()) >= 4)
    if found < n:
        raise StructureError("COUNT_MISMATCH", f"the XYZ header declares {n} atoms but the frame has {found} atom "
                             f"line(s)", {"declared": n, "found": found})


def _read(path: str, ase_format: str, max_atoms: int = MAX_ATOMS_DEFAULT):
    """The file as Atoms, every failure a typed StructureError; returns (atoms, warnings). CIF goes through the
    bounded reader in cif.py (no quadratic merging); the other formats through ase.io.read."""
    import ase.io

    from . import cif

    if not Path(path).is_file():
        raise StructureError("PARSE_ERROR", f"structure file not found: {path}")
    messages: list[str] = []
    with _parse_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if ase_format == "cif":
                atoms = cif.read(path, max_atoms=max_atoms, warn=messages.append)
            else:
                atoms = ase.io.read(path, format=ase_format)
        except StructureError:
            raise
        except StopIteration:  # ASE's readers signal "no frame / no atoms" this way
            raise StructureError("EMPTY_STRUCTURE", "the file contains no atoms") from None
        except KeyError as exc:  # unknown chemical symbol: ASE looks it up in atomic_numbers
            sym = exc.args[0] if exc.args else ""
            if isinstance(sym, str) and re.fullmatch(r"[A-Za-z]{1,3}", sym):
                raise StructureError("UNKNOWN_ELEMENT", f"unknown element symbol {sym!r}", {"symbol": sym}) from None
            raise StructureError("PARSE_ERROR", f"cannot parse the file as {ase_format}: missing key {sym!r}") \
                from None
        except UnicodeDecodeError:
            raise StructureError("PARSE_ERROR", f"cannot parse the file as {ase_format}: not a text file") \
                from None
        except (OverflowError, MemoryError):
            raise StructureError("PARSE_ERROR", f"cannot parse the file as {ase_format}: a value is out of range") \
                from None
        except Exception as exc:  # noqa: BLE001 - ASE raises anything (AssertionError, ValueError, IndexError...)
            detail = str(exc).strip() or type(exc).__name__
            raise StructureError("PARSE_ERROR", f"cannot parse the file as {ase_format}: {detail[:300]}") \
                from None
    for w in caught:
        msg = str(w.message).strip()
        if msg.startswith("Wrong number") and ase_format == "cif":
            # ASE's CIF tokenizer drops a loop row with the wrong number of values and only warns: an atom lost.
            raise StructureError("PARSE_ERROR", f"a CIF loop row has the wrong number of values ({msg[:200]})",
                                 {"reason": "loop_row_length"})
        if msg and msg not in messages:
            messages.append(msg)
    if isinstance(atoms, list):  # defensive: read() with the default index returns one Atoms
        atoms = atoms[-1]
    return atoms, messages


def _check_cell(atoms) -> list[str]:
    """A 3D periodic cell with finite vectors, lengths within bounds and a real volume; returns warnings."""
    from .cif import MAX_CELL_LENGTH_A, MIN_CELL_LENGTH_A

    cell = np.asarray(atoms.cell.array, dtype=float)
    if not np.all(np.isfinite(cell)):
        raise StructureError("INVALID_CELL", f"the cell has non-finite entries: {cell.tolist()}",
                             {"cell": [[str(x) for x in row] for row in cell]})
    if not atoms.pbc.all() or not np.any(cell):
        raise StructureError(
            "NO_CELL",
            "the structure has no 3D periodic cell (pbc="
            f"{[bool(x) for x in atoms.pbc]}, volume={abs(atoms.cell.volume):.3g} Å³); "
            "periodic frameworks need a cell (CIF, POSCAR, or extxyz with Lattice=)",
        )
    lengths = np.linalg.norm(cell, axis=1)
    for name, length in zip("abc", lengths):
        if not MIN_CELL_LENGTH_A <= length <= MAX_CELL_LENGTH_A:
            raise StructureError(
                "INVALID_CELL",
                f"cell vector {name} is {length:.4g} Å long; it must be between {MIN_CELL_LENGTH_A:g} and "
                f"{MAX_CELL_LENGTH_A:g} Å", {"vector": name, "length_A": float(length),
                                             "minimum": MIN_CELL_LENGTH_A, "maximum": MAX_CELL_LENGTH_A})
    det = float(np.linalg.det(cell))
    volume = abs(det)
    # The height of the cell over each face: a flat cell has long vectors but images a hair apart.
    heights = [volume / max(float(np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))), 1e-300)
               for k in range(3)]
    if volume < 1e-6 or min(heights) < MIN_CELL_LENGTH_A:
        raise StructureError("INVALID_CELL", f"the cell is degenerate (volume {volume:.3g} Å³, smallest height "
                             f"{min(heights):.3g} Å; the vectors are (nearly) coplanar)",
                             {"volume_A3": volume, "min_height_A": min(heights)})
    messages = []
    if det < 0:
        messages.append("the cell vectors are left-handed (negative determinant); some codes refuse such cells")
    per_atom = volume / len(atoms)
    if per_atom > SPARSE_VOLUME_PER_ATOM_A3:
        messages.append(f"very low density: {per_atom:.0f} Å³ per atom (frameworks have ~10-50); is there vacuum "
                        f"in the cell?")
    return messages


def _check_positions(atoms) -> list[str]:
    from .cif import MAX_ABS_FRACTIONAL

    pos = np.asarray(atoms.positions, dtype=float)
    bad = np.flatnonzero(~np.all(np.isfinite(pos), axis=1))
    if len(bad):
        k = int(bad[0])
        raise StructureError("INVALID_COORDINATES", f"atom {k} ({atoms[k].symbol}) has a non-finite position "
                             f"{pos[k].tolist()}", {"atom": k, "symbol": atoms[k].symbol})
    frac = np.linalg.solve(atoms.cell.array.T, pos.T).T
    far = np.flatnonzero(np.any(np.abs(frac) > MAX_ABS_FRACTIONAL, axis=1))
    if len(far):
        k = int(far[0])
        raise StructureError("INVALID_COORDINATES", f"atom {k} ({atoms[k].symbol}) at {pos[k].tolist()} Å lies more "
                             f"than {MAX_ABS_FRACTIONAL:g} cells away from the cell",
                             {"atom": k, "symbol": atoms[k].symbol, "position_A": pos[k].tolist()})
    outside = int(np.count_nonzero(np.any((frac < -1.0) | (frac > 2.0), axis=1)))
    return [f"{outside} atom(s) lie more than one cell outside the cell (read as their periodic images)"] \
        if outside else []


def _check_distances(atoms, min_distance_A: float) -> list[str]:
    """No two atoms (periodic images included) closer than min_distance_A; a neighbour list, linear in N."""
    from ase.neighborlist import neighbor_list

    cutoff = max(min_distance_A, CLOSE_CONTACT_A)
    i, j, d = neighbor_list("ijd", atoms, cutoff, self_interaction=False)
    keep = i <= j  # each pair once (an atom and its own image: i == j)
    i, j, d = i[keep], j[keep], d[keep]
    close = d < min_distance_A
    if np.any(close):
        ci, cj, cd = i[close], j[close], d[close]
        order = np.argsort(cd, kind="stable")
        pairs = [{"atoms": [int(ci[k]), int(cj[k])], "symbols": [atoms[int(ci[k])].symbol, atoms[int(cj[k])].symbol],
                  "distance_A": round(float(cd[k]), 4)} for k in order[:10]]
        p = pairs[0]
        what = "its own periodic image" if p["atoms"][0] == p["atoms"][1] else \
            f"atom {p['atoms'][1]} ({p['symbols'][1]})"
        raise StructureError(
            "OVERLAPPING_ATOMS",
            f"atom {p['atoms'][0]} ({p['symbols'][0]}) and {what} are {p['distance_A']:.3f} Å apart (minimum "
            f"{min_distance_A} Å, periodic images included); {len(cd)} overlapping pair(s)",
            {"pairs": pairs, "n_pairs": int(len(cd)), "minimum_distance_A": min_distance_A})
    if len(d):
        k = int(np.argmin(d))
        return [f"atoms {int(i[k])} ({atoms[int(i[k])].symbol}) and {int(j[k])} ({atoms[int(j[k])].symbol}) are "
                f"only {d[k]:.3f} Å apart; check the structure"]
    return []


def validate(atoms, *, max_atoms: int = MAX_ATOMS_DEFAULT, min_distance_A: float = MIN_DISTANCE_A) -> list[str]:
    """Reject structures no task can use (StructureError with a protocol code and details); return warnings for
    what is suspicious but usable."""
    from ase.data import chemical_symbols

    n = len(atoms)
    if n == 0:
        raise StructureError("EMPTY_STRUCTURE", "the file contains no atoms")
    bad = sorted({int(z) for z in atoms.numbers if z <= 0 or z >= len(chemical_symbols)})
    if bad:
        raise StructureError("UNKNOWN_ELEMENT", f"unknown element (atomic number {bad[0]})", {"atomic_number": bad[0]})
    if n > max_atoms:
        raise StructureError("TOO_MANY_ATOMS", f"{n} atoms exceeds the limit of {max_atoms}",
                             {"n_atoms": n, "max_atoms": max_atoms})
    messages = _check_cell(atoms)
    messages += _check_positions(atoms)
    messages += _check_distances(atoms, min_distance_A)
    return messages


def load(path: str, filename: str | None = None, *, max_atoms: int = MAX_ATOMS_DEFAULT):
    """Read + validate. Returns (atoms, format, warnings)."""
    fmt, ase_fmt = detect_format(filename or Path(path).name)
    _precheck(path, fmt, max_atoms)
    atoms, messages = _read(path, ase_fmt, max_atoms)
    for msg in validate(atoms, max_atoms=max_atoms):
        if msg not in messages:
            messages.append(msg)
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
