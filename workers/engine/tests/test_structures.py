import os

import pytest

from mofsim_engine import structures
from mofsim_engine.errors import StructureError

from conftest import CALF, DATA as DATA_DIR, MAIN_SET

CELL_HEADER = (
    "data_x\n_cell_length_a 10\n_cell_length_b 10\n_cell_length_c 10\n"
    "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
)
ATOM_LOOP = "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"


def write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(p)


def code_of(path, filename=None):
    with pytest.raises(StructureError) as ei:
        structures.parse(path, filename)
    return ei.value.code, ei.value.message


def test_calf_cif():
    d = structures.parse(str(CALF), "calf.cif")
    assert d["format"] == "cif"
    assert d["n_atoms"] == 44
    assert d["formula"] == "C12H8N12O8Zn4"
    assert d["reduced_formula"] == "C3H2N3O2Zn"
    assert abs(d["volume_A3"] - 737.16) < 0.05  # PROTOCOLS.md §7.2 D: input V = 737.16 Å³
    assert d["pbc"] == [True, True, True]
    assert set(d["elements"]) == {"Zn", "C", "H", "N", "O"}
    assert 1.0 < d["density_g_cm3"] < 3.0
    assert set(d["cell"]) == {"a", "b", "c", "alpha", "beta", "gamma", "matrix"}


@pytest.mark.parametrize("name,n_atoms", [("LTA", 72), ("AFR", 96), ("FER", 108), ("LTL", 108)])
def test_zeolite_symmetry_expanded(name, n_atoms):
    # PROTOCOLS.md §4: symmetry-expanded atom counts of the non-P1 zeolites
    d = structures.parse(str(MAIN_SET / f"{name}.cif"), f"{name}.cif")
    assert d["n_atoms"] == n_atoms
    assert set(d["elements"]) == {"O", "Si"}


def test_lta_volume_and_warning():
    d = structures.parse(str(MAIN_SET / "LTA.cif"), "LTA.cif")
    assert abs(d["volume_A3"] - 1693.24) < 0.05
    assert any("crystal system" in w for w in d["warnings"])


POSCAR_TEXT = "calf-like\n1.0\n5 0 0\n0 5 0\n0 0 5\nC O\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n"


@pytest.mark.parametrize("name", ["POSCAR", "CONTCAR", "x.vasp", "y.POSCAR"])
def test_poscar(tmp_path, name):
    p = write(tmp_path, name, POSCAR_TEXT)
    d = structures.parse(p, name)
    assert d["format"] == "vasp" and d["n_atoms"] == 2 and abs(d["volume_A3"] - 125) < 1e-9


def test_extxyz_with_lattice(tmp_path):
    text = '2\nLattice="6 0 0 0 6 0 0 0 6" Properties=species:S:1:pos:R:3 pbc="T T T"\nC 0 0 0\nO 1.2 0 0\n'
    d = structures.parse(write(tmp_path, "m.extxyz", text), "m.extxyz")
    assert d["format"] == "extxyz" and d["n_atoms"] == 2


def test_json_roundtrip(tmp_path):
    import ase.io

    atoms = ase.io.read(str(CALF))
    p = tmp_path / "calf.json"
    ase.io.write(str(p), atoms)
    assert structures.parse(str(p), "calf.json")["n_atoms"] == 44


def test_xyz_without_cell(tmp_path):
    code, msg = code_of(write(tmp_path, "m.xyz", "2\n\nO 0 0 0\nC 1.2 0 0\n"), "m.xyz")
    assert code == "NO_CELL"


def test_empty_cif(tmp_path):
    assert code_of(write(tmp_path, "e.cif", CELL_HEADER), "e.cif")[0] == "EMPTY_STRUCTURE"
    assert code_of(write(tmp_path, "e2.cif", ""), "e2.cif")[0] == "EMPTY_STRUCTURE"


@pytest.mark.parametrize("name", ["junk.cif", "junk.xyz", "junk.vasp", "junk.json", "junk.pdb"])
def test_junk_bytes(tmp_path, name):
    junk = bytes(range(256)) * 4 + os.urandom(256)
    assert code_of(write(tmp_path, name, junk), name)[0] == "PARSE_ERROR"


def test_garbage_text(tmp_path):
    assert code_of(write(tmp_path, "g.cif", "hello\nthis is not a cif\n"), "g.cif")[0] == "PARSE_ERROR"
    assert code_of(write(tmp_path, "g.xyz", "hello\nworld\n"), "g.xyz")[0] == "PARSE_ERROR"


def test_unknown_element(tmp_path):
    text = CELL_HEADER + ATOM_LOOP + "Xx1 Xx 0 0 0\nC1 C 0.5 0.5 0.5\n"
    code, msg = code_of(write(tmp_path, "u.cif", text), "u.cif")
    assert code == "UNKNOWN_ELEMENT" and "Xx" in msg
    code, msg = code_of(write(tmp_path, "POSCAR", POSCAR_TEXT.replace("C O", "Qq O")), "POSCAR")
    assert code == "UNKNOWN_ELEMENT" and "Qq" in msg


def test_overlapping_atoms(tmp_path):
    # second atom 0.3 Å away through the periodic boundary (x = 0.99 -> 0.1 Å from x = 0 ... times 10 Å)
    text = CELL_HEADER + ATOM_LOOP + "C1 C 0 0 0\nO1 O 0.98 0 0\n"
    code, msg = code_of(write(tmp_path, "o.cif", text), "o.cif")
    assert code == "OVERLAPPING_ATOMS" and "0.200" in msg


def test_too_many_atoms():
    with pytest.raises(StructureError) as ei:
        structures.parse(str(CALF), "calf.cif", max_atoms=10)
    assert ei.value.code == "TOO_MANY_ATOMS"


def test_unsupported_format(tmp_path):
    assert code_of(write(tmp_path, "a.docx", "x"), "a.docx")[0] == "UNSUPPORTED_FORMAT"


def test_missing_file(tmp_path):
    assert code_of(str(tmp_path / "nope.cif"), "nope.cif")[0] == "PARSE_ERROR"


# --- validation: what the benchmark cannot use is refused with a code and details, never repaired -------------

def cif_with(cellpar=("10", "10", "10", "90", "90", "90"), rows=("C1 C 0 0 0", "O1 O 0.5 0.5 0.5"), extra=""):
    tags = ("a", "b", "c", "alpha", "beta", "gamma")
    head = "data_x\n" + "".join(
        f"_cell_{'length' if k < 3 else 'angle'}_{t} {v}\n" for k, (t, v) in enumerate(zip(tags, cellpar)))
    return head + extra + ATOM_LOOP + "\n".join(rows) + "\n"


def refused(tmp_path, name, text):
    with pytest.raises(StructureError) as ei:
        structures.parse(write(tmp_path, name, text), name)
    return ei.value


@pytest.mark.parametrize("cellpar,tag", [
    (("-10", "10", "10", "90", "90", "90"), "_cell_length_a"),
    (("10", "0", "10", "90", "90", "90"), "_cell_length_b"),
    (("10", "10", "1e9", "90", "90", "90"), "_cell_length_c"),
    (("10", "10", "10", "0", "90", "90"), "_cell_angle_alpha"),
    (("10", "10", "10", "90", "180", "90"), "_cell_angle_beta"),
])
def test_cif_cell_parameters_are_checked_raw(tmp_path, cellpar, tag):
    # ASE would turn a = -10 into a 10 Å vector pointing backwards and report a = 10
    err = refused(tmp_path, "c.cif", cif_with(cellpar))
    assert err.code == "INVALID_CELL" and err.field == "file" and err.details["tag"] == tag


def test_cif_impossible_angles(tmp_path):
    err = refused(tmp_path, "c.cif", cif_with(("10", "10", "10", "150", "150", "150")))
    assert err.code == "INVALID_CELL"


def test_same_position_is_two_atoms_refused(tmp_path):
    # ASE's crystal() keeps one of the two (C and O read as one atom), with occupancies the "dominant" species
    for extra_col in (False, True):
        loop = ATOM_LOOP + ("_atom_site_occupancy\n" if extra_col else "")
        occ = " 1" if extra_col else ""
        text = CELL_HEADER + loop + f"C1 C 0.2 0.2 0.2{occ}\nO1 O 0.2 0.2 0.2{occ}\n"
        err = refused(tmp_path, "co.cif", text)
        assert err.code == "OVERLAPPING_ATOMS"
        assert err.details["pairs"][0] == {"atoms": [0, 1], "symbols": ["C", "O"], "distance_A": 0.0}


def test_close_pair_through_boundary_of_a_long_cell_not_merged(tmp_path):
    # 0.001 fractional apart through x = 0 in a 100 Å cell: 0.1 Å, inside ASE's merge tolerance
    text = cif_with(("100", "10", "10", "90", "90", "90"), ("C1 C 0.0005 0.5 0.5", "C2 C 0.9995 0.5 0.5",
                                                            "O1 O 0.5 0.5 0.5"))
    err = refused(tmp_path, "b.cif", text)
    assert err.code == "OVERLAPPING_ATOMS" and err.details["pairs"][0]["distance_A"] == pytest.approx(0.1, abs=1e-4)
    assert "0.100 Å" in err.message


def test_symmetry_equivalent_sites_listed_twice_refused(tmp_path):
    # P -1: the second site is the inversion image of the first; ASE drops it with a warning
    text = cif_with(extra="_symmetry_space_group_name_H-M 'P -1'\n",
                    rows=("C1 C 0.1 0.2 0.3", "C2 C -0.1 -0.2 -0.3", "O1 O 0.3 0.3 0.1"))
    assert refused(tmp_path, "s.cif", text).code == "OVERLAPPING_ATOMS"


def test_special_positions_merge_within_one_site(tmp_path):
    # P -1 with a site on the inversion centre: its two images are one atom; a general site gives two
    text = cif_with(extra="_symmetry_space_group_name_H-M 'P -1'\n", rows=("Zn1 Zn 0 0 0", "O1 O 0.2 0.1 0.1"))
    d = structures.parse(write(tmp_path, "p.cif", text), "p.cif")
    assert d["n_atoms"] == 3 and d["formula"] == "O2Zn"


@pytest.mark.parametrize("coord,code", [("1e300", "INVALID_COORDINATES"), ("nan", "INVALID_COORDINATES"),
                                        ("?", "INVALID_COORDINATES"), ("11", "INVALID_COORDINATES")])
def test_cif_absurd_coordinates(tmp_path, coord, code):
    err = refused(tmp_path, "x.cif", cif_with(rows=("C1 C 0 0 0", f"O1 O 0.5 {coord} 0.5")))
    assert err.code == code and err.details["site"] == 1


def test_cif_row_with_missing_value_is_not_dropped(tmp_path):
    # ASE skips such a row with a warning: one atom fewer, silently
    err = refused(tmp_path, "r.cif", cif_with(rows=("C1 C 0 0 0", "O1 O 0.5 0.5", "N1 N 0.3 0.3 0.3")))
    assert err.code == "PARSE_ERROR"


def test_cif_site_count_is_checked_before_expansion(tmp_path):
    rows = [f"C{k} C {0.01 + k / 100:.4f} 0.1 0.2" for k in range(40)]
    text = cif_with(("80", "10", "10", "90", "90", "90"), rows, extra="_symmetry_space_group_name_H-M 'P m m m'\n")
    with pytest.raises(StructureError) as ei:
        structures.parse(write(tmp_path, "m.cif", text), "m.cif", max_atoms=100)
    assert ei.value.code == "TOO_MANY_ATOMS"  # 40 sites x 8 images > 100, stopped during the expansion
    with pytest.raises(StructureError) as ei:
        structures.parse(write(tmp_path, "m.cif", text), "m.cif", max_atoms=39)
    assert ei.value.code == "TOO_MANY_ATOMS" and ei.value.details["n_sites"] == 40
    assert structures.parse(write(tmp_path, "m.cif", text), "m.cif", max_atoms=1000)["n_atoms"] == 320


@pytest.mark.parametrize("species,counts,code", [
    ("C O N", "1", "COUNT_MISMATCH"), ("C", "1 1", "COUNT_MISMATCH"), ("C O", "1 x", "COUNT_MISMATCH"),
    ("C O", "1 5", "COUNT_MISMATCH"), ("C O", "1 -1", "COUNT_MISMATCH"), ("C O", "1 20000", "TOO_MANY_ATOMS"),
])
def test_poscar_header(tmp_path, species, counts, code):
    text = f"x\n1.0\n5 0 0\n0 5 0\n0 0 5\n{species}\n{counts}\nDirect\n0 0 0\n0.5 0.5 0.5\n"
    assert refused(tmp_path, "POSCAR", text).code == code


@pytest.mark.parametrize("lattice,scale,code", [
    ("5 0 0\n0 5 0\n0 0 nan", "1.0", "INVALID_CELL"), ("5 0 0\n0 5 0\n0 0 0", "1.0", "INVALID_CELL"),
    ("5 0 0\n0 5 0\n5 5 0", "1.0", "INVALID_CELL"), ("5 0 0\n0 5 0\n0 0 5", "0", "INVALID_CELL"),
    ("5 0 0\n0 5 0\n0 0 5", "1e9", "INVALID_CELL"), ("5 0 0\n0 5 0\n0 0 inf", "1.0", "INVALID_CELL"),
])
def test_poscar_cell(tmp_path, lattice, scale, code):
    text = f"x\n{scale}\n{lattice}\nC O\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n"
    assert refused(tmp_path, "POSCAR", text).code == code


@pytest.mark.parametrize("coord", ["1e300", "nan", "inf"])
def test_poscar_coordinates(tmp_path, coord):
    text = f"x\n1.0\n5 0 0\n0 5 0\n0 0 5\nC O\n1 1\nDirect\n0 0 0\n0.5 0.5 {coord}\n"
    assert refused(tmp_path, "POSCAR", text).code == "INVALID_COORDINATES"


@pytest.mark.parametrize("lattice,code", [
    ("nan 0 0 0 6 0 0 0 6", "INVALID_CELL"), ("-6 0 0 0 0 0 0 0 6", "INVALID_CELL"),
    ("6 0 0 0 6 0 0 0 0.5", "INVALID_CELL"), ("1e9 0 0 0 6 0 0 0 6", "INVALID_CELL"),
])
def test_extxyz_lattice(tmp_path, lattice, code):
    text = f'2\nLattice="{lattice}" Properties=species:S:1:pos:R:3 pbc="T T T"\nC 0 0 0\nO 1.2 1.2 0.2\n'
    assert refused(tmp_path, "m.extxyz", text).code == code


def test_xyz_count_line(tmp_path):
    head = 'Lattice="6 0 0 0 6 0 0 0 6" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
    assert refused(tmp_path, "m.extxyz", "3\n" + head + "C 0 0 0\nO 1.2 0 0\n").code == "COUNT_MISMATCH"
    assert refused(tmp_path, "m.extxyz", "0\n" + head).code == "EMPTY_STRUCTURE"
    assert refused(tmp_path, "m.extxyz", "99999\n" + head + "C 0 0 0\n").code == "TOO_MANY_ATOMS"


def test_atom_and_its_own_image(tmp_path):
    # one atom in a 1.2 x 10 x 10 cell is fine; in a 0.4 Å-high cell it would sit on its own image
    text = "x\n1.0\n1.2 0 0\n0 10 0\n0 0 10\nC\n1\nDirect\n0 0 0\n"
    assert structures.parse(write(tmp_path, "POSCAR", text), "POSCAR")["n_atoms"] == 1


def test_warnings_for_suspicious_but_usable(tmp_path):
    d = structures.parse(write(tmp_path, "w.cif", cif_with(rows=("H1 H 0 0 0", "H2 H 0.065 0 0"))), "w.cif")
    assert any("0.650 Å apart" in w for w in d["warnings"])
    d = structures.parse(write(tmp_path, "v.cif", cif_with(("100", "100", "100", "90", "90", "90"))), "v.cif")
    assert any("low density" in w for w in d["warnings"])
    text = cif_with(rows=("C1 C 0 0 0", "O1 O 0.5 0.5 0.5"), extra="")
    text = text.replace("O1 O 0.5 0.5 0.5", "O1 O 0.5 0.5 0.5").replace("loop_\n_atom_site_label",
                                                                         "loop_\n_atom_site_label", 1)
    partial = CELL_HEADER + ATOM_LOOP.rstrip("\n") + "\n_atom_site_occupancy\nC1 C 0 0 0 1\nO1 O 0.5 0.5 0.5 0.5\n"
    d = structures.parse(write(tmp_path, "p.cif", partial), "p.cif")
    assert d["n_atoms"] == 2 and any("partial occupancy" in w for w in d["warnings"])
    left = "x\n1.0\n5 0 0\n0 0 5\n0 5 0\nC O\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n"
    assert any("left-handed" in w for w in structures.parse(write(tmp_path, "POSCAR", left), "POSCAR")["warnings"])


def test_every_shipped_structure_reads_as_ase_reads_it():
    """The bounded CIF reader gives ASE's atoms exactly wherever ASE merges nothing (all the shipped sets)."""
    import warnings as _w

    import ase.io
    import numpy as np

    files = sorted((DATA_DIR / "structures").glob("*/*.cif"))
    assert len(files) > 300
    for f in files[::7]:
        atoms, _, _ = structures.load(str(f))
        with _w.catch_warnings():
            _w.simplefilter("ignore")
            ref = ase.io.read(str(f))
        assert atoms.get_chemical_symbols() == ref.get_chemical_symbols(), f.name
        assert np.array_equal(atoms.positions, ref.positions) and np.array_equal(atoms.cell.array, ref.cell.array)


def test_parse_pool_answers_like_parse_and_survives_a_timeout(tmp_path):
    from mofsim_engine.errors import EngineError
    from mofsim_engine.parse_pool import ParsePool

    pool = ParsePool(timeout_s=60)
    try:
        assert pool.parse(str(CALF), "calf.cif", 10_000) == structures.parse(str(CALF), "calf.cif")
        with pytest.raises(EngineError) as ei:
            pool.parse(write(tmp_path, "co.cif", cif_with(rows=("C1 C 0 0 0", "O1 O 0 0 0"))), "co.cif", 10_000)
        assert ei.value.code == "OVERLAPPING_ATOMS" and ei.value.field == "file"
        assert ei.value.details["pairs"][0]["symbols"] == ["C", "O"] and not ei.value.retryable
        pool.small.timeout_s = 0.001  # nothing parses this fast: the child is killed and replaced
        with pytest.raises(EngineError) as ei:
            pool.parse(str(CALF), "calf.cif", 10_000)
        assert ei.value.code == "PARSE_TIMEOUT" and not ei.value.retryable and pool.small.proc is None
        pool.small.timeout_s = 60
        assert pool.parse(str(CALF), "calf.cif", 10_000)["n_atoms"] == 44
    finally:
        pool.kill()
