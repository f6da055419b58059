import os
import shutil

import numpy as np
import pytest

from mofsim_engine.errors import StructureError
from mofsim_engine.structure_cache import StructureCache

from conftest import CALF


def test_a_second_load_is_a_copy_of_the_first_read(tmp_path):
    path = str(tmp_path / "calf.cif")
    shutil.copy(CALF, path)
    cache = StructureCache()
    a, fmt, _ = cache.load(path, "calf.cif", max_atoms=1000)
    # What a task does to its atoms (an optimization moves them and changes the cell) stays in that job.
    a.positions += 1.0
    a.set_cell(a.cell * 1.1, scale_atoms=True)
    b, fmt2, _ = cache.load(path, "calf.cif", max_atoms=1000)
    assert len(cache) == 1 and fmt == fmt2 == "cif"
    assert b is not a
    assert abs(b.get_volume() - 737.16) < 0.05
    assert not np.allclose(a.positions, b.positions)
    assert b.calc is None


def test_a_file_replaced_in_place_is_read_again(tmp_path):
    path = str(tmp_path / "s.cif")
    shutil.copy(CALF, path)
    cache = StructureCache()
    assert len(cache.load(path, "s.cif", max_atoms=1000)[0]) == 44
    with open(path, "w") as f:
        f.write("data_x\n_cell_length_a 10\n_cell_length_b 10\n_cell_length_c 10\n"
                "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
                "_atom_site_fract_z\nAr1 Ar 0 0 0\nAr2 Ar 0.5 0.5 0.5\n")
    os.utime(path, ns=(1, 1))
    assert len(cache.load(path, "s.cif", max_atoms=1000)[0]) == 2


def test_a_structure_that_fails_validation_is_not_kept_and_fails_again(tmp_path):
    path = str(tmp_path / "calf.cif")
    shutil.copy(CALF, path)
    cache = StructureCache()
    for _ in range(2):
        with pytest.raises(StructureError) as ei:
            cache.load(path, "calf.cif", max_atoms=10)
        assert ei.value.code == "TOO_MANY_ATOMS"
    assert len(cache) == 0


def test_the_oldest_entry_goes_first(tmp_path):
    cache = StructureCache(max_entries=2)
    paths = []
    for i in range(3):
        p = str(tmp_path / f"s{i}.cif")
        shutil.copy(CALF, p)
        paths.append(p)
    cache.load(paths[0], "s0.cif", max_atoms=1000)
    cache.load(paths[1], "s1.cif", max_atoms=1000)
    cache.load(paths[0], "s0.cif", max_atoms=1000)  # used again: s1 is now the oldest
    cache.load(paths[2], "s2.cif", max_atoms=1000)
    assert len(cache) == 2
    keys = [k[0] for k in cache._entries]
    assert keys == [os.path.realpath(paths[0]), os.path.realpath(paths[2])]
