"""CIF to Atoms without ASE's merging, in time linear in the atom count.

`ase.io.read` expands symmetry with `ase.spacegroup.crystal`, which compares every site with every site already
placed (quadratic: a 4,000-atom P1 CIF took about a minute) and silently merges sites closer than 1e-3 in
fractional coordinates: two different atoms 0.1 Å apart through the boundary of a 100 Å cell become one, and with
occupancies the "dominant" species wins (C and O at one position read as one atom). It also takes the absolute
value of a negative cell length. Here ASE's CIF tokenizer (`parse_cif`, linear) and its space-group tables are
kept; the checks happen on the raw values, and the expansion only merges the images of one site that coincide
(special positions, the crystallographic meaning). Two listed sites that land on each other stay two atoms, so
the overlap check refuses them with the pair and the distance instead of guessing which one to keep.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import StructureError

SYMPREC = 1e-3  # fractional; the tolerance ASE uses for coinciding images of one site
MIN_CELL_LENGTH_A = 1.0
MAX_CELL_LENGTH_A = 1000.0
MAX_ABS_FRACTIONAL = 10.0  # a coordinate ten cells away is a typo (or 1e300), not a structure

_CELL_TAGS = ("_cell_length_a", "_cell_length_b", "_cell_length_c",
              "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma")


def _number(value, tag: str) -> float:
    """A CIF numeric value (ASE already strips standard uncertainties such as 10.2(3))."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise StructureError("INVALID_CELL" if tag in _CELL_TAGS else "PARSE_ERROR",
                         f"{tag} is not a number (got {value!r})", {"tag": tag, "value": str(value)[:80]})


def check_cellpar(cellpar: list[float]) -> None:
    """Cell lengths finite and within [MIN, MAX] Å, angles strictly between 0 and 180°."""
    for tag, v in zip(_CELL_TAGS, cellpar):
        if not math.isfinite(v):
            raise StructureError("INVALID_CELL", f"{tag} must be finite (got {v})", {"tag": tag, "value": str(v)})
        if tag.startswith("_cell_length"):
            if v <= 0:
                raise StructureError("INVALID_CELL", f"{tag} must be > 0 Å (got {v:g})", {"tag": tag, "value": v})
            if not MIN_CELL_LENGTH_A <= v <= MAX_CELL_LENGTH_A:
                raise StructureError(
                    "INVALID_CELL",
                    f"{tag} must be between {MIN_CELL_LENGTH_A:g} and {MAX_CELL_LENGTH_A:g} Å (got {v:g})",
                    {"tag": tag, "value": v, "minimum": MIN_CELL_LENGTH_A, "maximum": MAX_CELL_LENGTH_A})
        elif not 0 < v < 180:
            raise StructureError("INVALID_CELL", f"{tag} must be between 0 and 180° (got {v:g})",
                                 {"tag": tag, "value": v})


def _structure_block(blocks):
    """The last block with atoms (as ase.io.read's default index -1 picks the last one with structure data)."""
    chosen = None
    for block in blocks:
        try:
            has = block.has_structure()
        except (AttributeError, TypeError):  # a label with no element symbol: read() reports it
            has = True
        if has:
            chosen = block
    return chosen


def site_count(path: str) -> int | None:
    """Number of listed sites (before symmetry expansion), or None when the file has no atom loop."""
    from ase.io.cif import parse_cif

    with open(path, "rb") as fd:
        block = _structure_block(parse_cif(fd))
    if block is None:
        return None
    return len(block.get_symbols())


def read(path: str, *, max_atoms: int, warn) -> "Atoms":  # noqa: F821 - ase imported lazily
    """Atoms of the last structure block; raises StructureError. `warn(message)` collects suspicious findings."""
    from ase import Atoms
    from ase.data import chemical_symbols
    from ase.geometry import Cell
    from ase.io.cif import NoStructureData, parse_cif

    with open(path, "rb") as fd:
        block = _structure_block(parse_cif(fd))
    if block is None:
        raise StructureError("EMPTY_STRUCTURE", "the file contains no atoms (no _atom_site loop with positions)")

    raw_cellpar = [block.get(tag) for tag in _CELL_TAGS]
    if all(v is None for v in raw_cellpar):
        raise StructureError("NO_CELL", "the CIF has no cell (_cell_length_a/b/c, _cell_angle_alpha/beta/gamma)")
    missing = [tag for tag, v in zip(_CELL_TAGS, raw_cellpar) if v is None]
    if missing:
        raise StructureError("INVALID_CELL", f"the CIF cell is incomplete: {', '.join(missing)} missing",
                             {"missing": missing})
    cellpar = [_number(v, tag) for tag, v in zip(_CELL_TAGS, raw_cellpar)]
    check_cellpar(cellpar)
    try:
        cell = Cell.new(cellpar)
    except (AssertionError, ValueError, FloatingPointError):  # ASE asserts on angles that close no cell
        cell = None
    if cell is None or not np.all(np.isfinite(cell.array)) or abs(cell.volume) < 1e-6:
        raise StructureError("INVALID_CELL", "the cell angles do not form a cell (zero or undefined volume): "
                             f"alpha={cellpar[3]:g}, beta={cellpar[4]:g}, gamma={cellpar[5]:g}",
                             {"cellpar": cellpar})

    try:
        labels = block.get("_atom_site_label") or block.get("_atom_site_type_symbol")
        symbols = block.get_symbols()
        with_d = block._get_symbols_with_deuterium()
        coordtype, coords = block._get_site_coordinates()
    except NoStructureData as exc:
        raise StructureError("PARSE_ERROR", f"the atom loop is incomplete: {exc}") from None
    except (AttributeError, TypeError):  # a label with no element symbol in it (ASE's regex finds none)
        raise StructureError("UNKNOWN_ELEMENT", "an _atom_site label or type symbol names no element") from None
    n_sites = len(symbols)
    if n_sites > max_atoms:
        raise StructureError("TOO_MANY_ATOMS", f"{n_sites} sites listed, more than the limit of {max_atoms} atoms",
                             {"n_sites": n_sites, "max_atoms": max_atoms})
    for k, sym in enumerate(symbols):
        if sym not in chemical_symbols or sym == "X":
            raise StructureError("UNKNOWN_ELEMENT", f"unknown element symbol {sym!r} (site {k})",
                                 {"symbol": sym, "site": k, "label": _label(labels, k)})
    try:
        coords = np.asarray(coords, dtype=float)
    except (TypeError, ValueError):
        bad = next((k for k, row in enumerate(coords) if not all(_is_number(x) for x in row)), 0)
        raise StructureError("INVALID_COORDINATES", f"site {bad} ({_label(labels, bad)}) has a coordinate that "
                             f"is not a number: {[str(x) for x in coords[bad]]}",
                             {"site": bad, "label": _label(labels, bad)}) from None
    frac = coords if coordtype == "scaled" else coords @ np.linalg.inv(cell.array)
    _check_coordinates(coords, frac, labels, coordtype)

    occ = block.get("_atom_site_occupancy")
    if occ is not None:
        partial = [k for k, o in enumerate(occ) if isinstance(o, (int, float)) and o < 1 - 1e-6]
        if partial:
            warn(f"{len(partial)} site(s) have partial occupancy (first: {_label(labels, partial[0])}); every site "
                 f"is read as fully occupied")

    # The same arithmetic as ASE's read_cif + crystal() (through Cartesian and back, one wrap after the symmetry
    # operation), so a structure ASE reads without merging comes out bit-identical.
    frac = cell.scaled_positions(cell.cartesian_positions(frac))
    spacegroup = block.get_spacegroup(True)  # its warnings (crystal system, setting) reach the caller's filter
    rot, trans = spacegroup.get_op()
    identity_only = len(rot) == 1 and np.array_equal(rot[0], np.eye(3)) and not np.any(trans[0] % 1.0)
    if identity_only:
        sites, kinds = frac % 1.0, np.arange(n_sites)
    else:
        sites, kinds = _expand(frac, rot, trans, max_atoms)
    masses = None
    if "D" in with_d:
        masses = Atoms(symbols).get_masses()
        masses[[k for k, s in enumerate(with_d) if s == "D"]] = 2.01355
        masses = masses[kinds]
    atoms = Atoms([symbols[k] for k in kinds], scaled_positions=sites, cell=cell, pbc=True, masses=masses)
    atoms.info["spacegroup"] = spacegroup
    atoms.info["unit_cell"] = "conventional"
    return atoms


def _is_number(x) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def _label(labels, k: int) -> str:
    try:
        return str(labels[k])
    except (TypeError, IndexError):
        return f"#{k}"


def _check_coordinates(raw: np.ndarray, frac: np.ndarray, labels, coordtype: str) -> None:
    bad = np.flatnonzero(~np.all(np.isfinite(frac), axis=1))
    if len(bad):
        k = int(bad[0])
        raise StructureError("INVALID_COORDINATES", f"site {k} ({_label(labels, k)}) has a non-finite coordinate "
                             f"({raw[k].tolist()})", {"site": k, "label": _label(labels, k)})
    far = np.flatnonzero(np.any(np.abs(frac) > MAX_ABS_FRACTIONAL, axis=1))
    if len(far):
        k = int(far[0])
        raise StructureError(
            "INVALID_COORDINATES",
            f"site {k} ({_label(labels, k)}) lies more than {MAX_ABS_FRACTIONAL:g} cells away "
            f"({coordtype} coordinates {raw[k].tolist()})", {"site": k, "label": _label(labels, k)})


def _expand(frac: np.ndarray, rot: np.ndarray, trans: np.ndarray, max_atoms: int):
    """Every site's images under the space group, images of one site that coincide kept once. Linear in the
    number of sites; stops as soon as the count passes max_atoms."""
    sites, kinds, total = [], [], 0
    for k, point in enumerate(frac):
        images = ((rot @ point) + trans % 1.0) % 1.0
        diff = images[:, None, :] - images[None, :, :]
        diff -= np.rint(diff)
        same = np.all(np.abs(diff) < SYMPREC, axis=2)
        keep = ~np.any(np.tril(same, -1), axis=1)  # first of each group of coinciding images
        orbit = images[keep]
        total += len(orbit)
        if total > max_atoms:
            raise StructureError("TOO_MANY_ATOMS", f"the symmetry expansion gives more than the limit of "
                                 f"{max_atoms} atoms (stopped at site {k} of {len(frac)})",
                                 {"max_atoms": max_atoms, "n_sites": len(frac)})
        sites.append(orbit)
        kinds.extend([k] * len(orbit))
    return np.concatenate(sites, axis=0), np.asarray(kinds)
