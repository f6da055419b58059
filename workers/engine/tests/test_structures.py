import os

import pytest

from mofsim_engine import structures
from mofsim_engine.errors import StructureError

from conftest import CALF, MAIN_SET

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
