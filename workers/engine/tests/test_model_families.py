"""Model families with local weights (MACE, ORB, MatterSim, fairchem, GRACE) and CHGNet (weights in its wheel).

Each family test builds a tiny randomly initialised model of that family, saves it under the file name the
registry expects in MOFSIM_WEIGHTS_DIR (a tmp dir), loads it back through the registry adapter and checks a single
point: finite energy / forces / stress of the right shapes, equal to the family's own calculator on the same saved
file, and (for a D3 key) equal to that plus MOFSimBench's D3. A family whose package is not installed is skipped
with the reason (they are optional extras: workers/engine/requirements-<family>.txt, see MODELS.md).
"""
from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
from ase import Atoms

from mofsim_engine.errors import EngineError
from mofsim_engine.models import ALIASES, REGISTRY, get_adapter, list_models, resolve_model_id
from mofsim_engine.models.base import make_d3_calculator

# PROTOCOLS.md §6: every calculators.yaml key this registry serves, with its D3 setting.
MOFSIMBENCH_D3 = {
    "grace_prod": True, "grace_prod_oam": True, "grace_prod_omat": True,
    "mace_prod_b3": True, "mace_prod_0a": True, "mace_prod_mof": False, "mace_prod": True, "mace_prod_omat": True,
    "mace_prod_matpes": True, "mattersim_prod": True,
    "omat24_prod_mp": True, "omat24_prod": True, "omat24_prod_esen": True, "omat24_prod_esen_mp": True,
    "orb_prod_mp": True, "orb_prod": False, "orb3": False, "orb_prod_v3": True, "orb_prod_v3_mp": True,
    "sevennet_prod": True, "sevennet_prod_l3i5": True,
}
LOCAL_WEIGHT_FAMILIES = {"mace", "orb", "mattersim", "fairchem", "grace"}


def _installed(*mods: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in mods)
    except (ImportError, ValueError):
        return False


def _skip_unless(*mods: str):
    missing = [m for m in mods if not _installed(m)]
    return pytest.mark.skipif(bool(missing), reason=f"optional extra not installed (missing {', '.join(missing)}); "
                              "see workers/engine/MODELS.md")


def small_structure() -> Atoms:
    """8 atoms (H, C, O, Cu) in a 6.5 Å periodic box, no pair closer than ~1.5 Å: a cheap MOF-like mixture."""
    pos = [[0.3, 0.4, 0.2], [2.1, 0.3, 0.5], [0.5, 2.2, 0.6], [4.4, 4.3, 4.1], [2.4, 2.6, 2.2], [3.9, 1.9, 3.5],
           [1.0, 4.6, 3.2], [5.1, 2.8, 0.9]]
    atoms = Atoms("CuCuOOCCHH", positions=pos[:2] + pos[2:4] + pos[4:6] + pos[6:], cell=[6.5, 6.5, 6.5], pbc=True)
    return atoms


def single_point(calc, atoms: Atoms):
    a = atoms.copy()
    a.calc = calc
    return a.get_potential_energy(), np.array(a.get_forces()), np.array(a.get_stress())


def check_sp(result, n: int):
    e, f, s = result
    assert np.isfinite(e)
    assert f.shape == (n, 3) and np.all(np.isfinite(f))
    assert s.shape == (6,) and np.all(np.isfinite(s))


def assert_same(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a[0], b[0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(a[1], b[1], rtol=rtol, atol=atol)
    np.testing.assert_allclose(a[2], b[2], rtol=rtol, atol=atol)


def check_d3_sum(calc_d3, bare_result, atoms: Atoms):
    """The D3 key is SumCalculator([mlip, MOFSimBench D3]) — its result is the bare model's plus D3's."""
    d3 = single_point(make_d3_calculator("cpu"), atoms)
    with_d3 = single_point(calc_d3, atoms)
    assert_same(with_d3, tuple(x + y for x, y in zip(bare_result, d3)), rtol=1e-5, atol=1e-5)


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setenv("MOFSIM_WEIGHTS_DIR", str(d))
    return d


# ---------------------------------------------------------------- registry (always runs)

def test_registry_has_every_mofsimbench_key_with_its_d3_setting():
    served = {k: v for k, v in MOFSIMBENCH_D3.items() if not k.startswith("sevennet")}
    for key, d3 in served.items():
        assert key in REGISTRY, key
        a = REGISTRY[key]
        assert a.with_d3 is d3, key
        assert a.kind == "mlip"
        assert a.memory_per_atom_MB > 0
    for key in ("sevennet_prod", "sevennet_prod_l3i5"):
        assert REGISTRY[key].with_d3 is True


def test_models_op_entries_say_why_unavailable(weights_dir):
    entries = {d["id"]: d for d in list_models()}
    for mid, d in entries.items():
        for k in ("id", "name", "family", "kind", "elements", "with_d3", "available", "memory_per_atom_MB",
                  "aliases"):
            assert k in d, (mid, k)
        if REGISTRY[mid].family in LOCAL_WEIGHT_FAMILIES:
            assert d["weights_file"]
            # weights_dir is empty: nothing with local weights can be available
            assert d["available"] is False
            assert d["unavailable_reason"]
            assert d["weights_file"] in d["unavailable_reason"] or "not installed" in d["unavailable_reason"]
            assert d["elements"] == []


def test_load_without_weights_raises_model_unavailable(weights_dir):
    for mid in ("mace_prod", "orb_prod", "mattersim_prod", "omat24_prod_esen", "grace_prod"):
        with pytest.raises(EngineError) as ei:
            get_adapter(mid).load("cpu", "float32")
        assert ei.value.code == "MODEL_UNAVAILABLE"


def test_aliases_resolve_to_canonical_ids():
    assert resolve_model_id("sevennet_prod") == "sevennet_prod"
    assert resolve_model_id("7net-0") == "sevennet_prod"
    assert resolve_model_id("SevenNet-0") == "sevennet_prod"
    assert resolve_model_id("mace_mpa_0") == "mace_prod"
    assert resolve_model_id("orb-v3") == "orb_prod_v3"
    assert resolve_model_id("MatterSim") == "mattersim_prod"
    assert resolve_model_id("esen-30m-oam") == "omat24_prod_esen"
    assert resolve_model_id("orb-prod-v3") == "orb_prod_v3"  # '-' for '_' in a canonical id
    assert get_adapter("chgnet").id == "chgnet_prod"
    with pytest.raises(EngineError) as ei:
        resolve_model_id("gpt-5")
    assert ei.value.code == "UNKNOWN_MODEL"
    # aliases are unambiguous and never shadow another canonical id
    seen: dict[str, str] = {}
    norm = lambda s: s.lower().replace("_", "-")  # noqa: E731
    for mid, names in ALIASES.items():
        assert mid in REGISTRY, mid
        for n in names:
            assert norm(n) not in {norm(k) for k in REGISTRY if k != mid}, n
            assert seen.setdefault(norm(n), mid) == mid, n
    by_id = {d["id"]: d for d in list_models()}
    assert "mace-mpa-0" in by_id["mace_prod"]["aliases"]


# ---------------------------------------------------------------- MACE

def _tiny_mace(path):
    import torch
    from e3nn import o3
    from mace import modules

    torch.manual_seed(0)
    model = modules.ScaleShiftMACE(
        r_max=4.0, num_bessel=4, num_polynomial_cutoff=5, max_ell=1,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=2, num_elements=4, hidden_irreps=o3.Irreps("4x0e+4x1o"), MLP_irreps=o3.Irreps("4x0e"),
        atomic_energies=np.array([-1.0, -2.0, -3.0, -4.0]), avg_num_neighbors=8.0, atomic_numbers=[1, 6, 8, 29],
        correlation=2, gate=torch.nn.functional.silu, atomic_inter_scale=1.0, atomic_inter_shift=0.0)
    torch.save(model, str(path))


@_skip_unless("mace", "e3nn", "torch_dftd")
def test_mace_tiny_model_roundtrip(weights_dir):
    from mace.calculators import MACECalculator

    atoms = small_structure()
    ad = get_adapter("mace_prod_mof")  # no D3
    _tiny_mace(weights_dir / ad.weights_file)
    assert ad.available() == (True, None)
    assert ad.elements == ["H", "C", "O", "Cu"]
    ours = single_point(ad.load("cpu", "float32"), atoms)
    check_sp(ours, len(atoms))
    ref = single_point(MACECalculator(model_paths=str(weights_dir / ad.weights_file), device="cpu",
                                      default_dtype="float32"), atoms)
    assert_same(ours, ref)
    # the batcher's entry point (default per-structure loop) gives the same numbers
    p = ad.predict(ad.load("cpu", "float32"), [atoms])[0]
    np.testing.assert_allclose(p.energy_eV, ours[0], rtol=1e-6)

    ad3 = get_adapter("mace_prod")  # D3 key, same tiny model under its file name
    _tiny_mace(weights_dir / ad3.weights_file)
    check_d3_sum(ad3.load("cpu", "float32"), ours, atoms)
    assert len(ad3.weights_sha256) == 64


# ---------------------------------------------------------------- ORB

def _tiny_orb_architecture(conservative: bool):
    from functools import partial

    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    build = pretrained.orb_v3_conservative_architecture if conservative else pretrained.orb_v3_direct_architecture
    return partial(build, latent_dim=16, base_mlp_hidden_dim=32, base_mlp_depth=1, head_mlp_hidden_dim=16,
                   head_mlp_depth=1, num_message_passing_steps=1,
                   system_config=SystemConfig(radius=6.0, max_num_neighbors=20))


@_skip_unless("orb_models", "cached_path", "torch_dftd")
@pytest.mark.parametrize("key,conservative", [("orb3", False), ("orb_prod_v3", True)])
def test_orb_tiny_model_roundtrip(weights_dir, key, conservative):
    import torch
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.calculator import ORBCalculator

    arch = _tiny_orb_architecture(conservative)
    torch.manual_seed(0)
    base = get_adapter(key)
    path = weights_dir / base.weights_file
    torch.save(arch(device="cpu").state_dict(), str(path))
    # the registry entry with the tiny architecture instead of the full-size pretrained one
    ad = dataclasses.replace(base, architecture=arch)
    assert ad.available() == (True, None)
    calc = ad.load("cpu", "float32")
    atoms = small_structure()
    ours_total = single_point(calc, atoms)
    check_sp(ours_total, len(atoms))
    bare_ad = dataclasses.replace(ad, with_d3=False)
    ours = single_point(bare_ad.load("cpu", "float32"), atoms)
    model = pretrained.load_model(arch(device="cpu"), str(path), "cpu", precision=base.precision, compile=False)
    ref = single_point(ORBCalculator(model, device="cpu"), atoms)
    assert_same(ours, ref)
    if base.with_d3:
        check_d3_sum(calc, ours, atoms)
    else:
        assert_same(ours_total, ours)


# ---------------------------------------------------------------- MatterSim

M3GNET_TINY = {"num_blocks": 1, "units": 8, "max_l": 2, "max_n": 2, "cutoff": 5.0, "threebody_cutoff": 4.0,
               "max_z": 94}


@_skip_unless("mattersim", "torch_runstats", "loguru", "torch_dftd")
def test_mattersim_tiny_model_roundtrip(weights_dir):
    import torch
    from mattersim.forcefield import MatterSimCalculator
    from mattersim.forcefield.m3gnet.m3gnet import M3Gnet

    torch.manual_seed(0)
    model = M3Gnet(device="cpu", **M3GNET_TINY)
    ad = get_adapter("mattersim_prod")
    path = weights_dir / ad.weights_file
    torch.save({"model": model.state_dict(), "model_args": dict(M3GNET_TINY), "model_name": "m3gnet"}, str(path))
    assert ad.available() == (True, None)
    assert len(ad.elements) == 94 and ad.elements[0] == "H"
    atoms = small_structure()
    calc = ad.load("cpu", "float32")
    total = single_point(calc, atoms)
    check_sp(total, len(atoms))
    ours = single_point(dataclasses.replace(ad, with_d3=False).load("cpu", "float32"), atoms)
    ref = single_point(MatterSimCalculator(load_path=str(path), device="cpu"), atoms)
    assert_same(ours, ref)
    check_d3_sum(calc, ours, atoms)


# ---------------------------------------------------------------- CHGNet (real weights, shipped in the wheel)

@_skip_unless("chgnet", "torch_dftd")
def test_chgnet_packaged_weights():
    from chgnet.model import CHGNet, CHGNetCalculator

    ad = get_adapter("chgnet_prod")
    assert ad.available() == (True, None)
    assert ad.weights_path.exists() and len(ad.weights_sha256) == 64
    atoms = small_structure()
    ours = single_point(dataclasses.replace(ad, with_d3=False).load("cpu", "float32"), atoms)
    check_sp(ours, len(atoms))
    ref = single_point(CHGNetCalculator(model=CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False),
                                        use_device="cpu"), atoms)
    assert_same(ours, ref)
    check_d3_sum(ad.load("cpu", "float32"), ours, atoms)


# ---------------------------------------------------------------- fairchem (2.x inference checkpoint)

def _tiny_fairchem_checkpoint(path):
    """A tiny eSCN-MD (UMA/eSEN-style) conservative model with one OMat task, saved as fairchem 2.x saves inference
    checkpoints (MLIPInferenceCheckpoint: hydra model config, weights, EMA weights, task configs)."""
    import hydra
    import torch
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    torch.manual_seed(0)
    backbone = {"model": "fairchem.core.models.uma.escn_md.eSCNMDBackbone", "max_num_elements": 100,
                "sphere_channels": 8, "lmax": 1, "mmax": 1, "otf_graph": True, "max_neighbors": 20, "cutoff": 5.0,
                "edge_channels": 8, "num_distance_basis": 16, "regress_forces": True, "regress_stress": True,
                "direct_forces": False, "num_layers": 1, "hidden_channels": 8, "norm_type": "rms_norm_sh",
                "act_type": "gate", "ff_type": "spectral", "dataset_list": ["omat"]}
    model_config = {"_target_": "fairchem.core.models.base.HydraModel", "backbone": backbone,
                    "heads": {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head",
                                      "wrap_property": True, "prefix": "omat"}},
                    "pass_through_head_outputs": True}

    def task(prop, level, dim):
        return {"_target_": "fairchem.core.units.mlip_unit.mlip_unit.Task", "name": f"omat_{prop}", "level": level,
                "property": prop, "datasets": ["omat"],
                "out_spec": {"_target_": "fairchem.core.units.mlip_unit.mlip_unit.OutputSpec", "dim": dim,
                             "dtype": "float32"},
                "normalizer": {"_target_": "fairchem.core.modules.normalization.normalizer.Normalizer",
                               "mean": 0.0, "rmsd": 1.0}}

    model = hydra.utils.instantiate(model_config)
    torch.save(MLIPInferenceCheckpoint(
        model_config=model_config, model_state_dict=model.state_dict(),
        ema_state_dict=torch.optim.swa_utils.AveragedModel(model).state_dict(),
        tasks_config=[task("energy", "system", [1]), task("forces", "atom", [3]), task("stress", "system", [1, 9])],
    ), str(path))


@_skip_unless("fairchem.core", "hydra")
def test_fairchem_v2_tiny_checkpoint_roundtrip(weights_dir):
    from fairchem.core import FAIRChemCalculator
    from fairchem.core.units.mlip_unit import load_predict_unit

    base = get_adapter("omat24_prod_esen")
    path = weights_dir / base.weights_file
    _tiny_fairchem_checkpoint(path)
    bare = dataclasses.replace(base, with_d3=False)
    assert bare.available() == (True, None)
    atoms = small_structure()
    ours = single_point(bare.load("cpu", "float32"), atoms)
    check_sp(ours, len(atoms))
    ref = single_point(FAIRChemCalculator(load_predict_unit(str(path), inference_settings="batch", device="cpu"),
                                          task_name="omat"), atoms)
    assert_same(ours, ref)
    if _installed("torch_dftd"):
        check_d3_sum(base.load("cpu", "float32"), ours, atoms)


def test_fairchem_v1_checkpoint_reported_unavailable_under_v2(weights_dir):
    """MOFSimBench's omat24_* files are fairchem v1 checkpoints; without fairchem-core 1.x they must be listed as
    unavailable with the reason, not fail at load time."""
    import torch

    from mofsim_engine.models.fairchem import checkpoint_format, fairchem_major

    ad = get_adapter("omat24_prod")
    torch.save({"config": {"model": {"name": "equiformer_v2"}}, "state_dict": {}}, str(weights_dir / ad.weights_file))
    assert checkpoint_format(weights_dir / ad.weights_file) == "v1"
    ok, reason = ad.available()
    assert ok is False
    major = fairchem_major()
    if major is None:
        assert "not installed" in reason
    elif major >= 2:
        assert "v1 checkpoint" in reason


# ---------------------------------------------------------------- GRACE (TensorFlow)

def _tiny_grace_model(path):
    """A tiny GRACE/FS model (tensorpotential's FS preset, 4 elements, lmax 2) exported as a TF SavedModel directory,
    the format of the GRACE foundation models."""
    import tensorpotential  # noqa: F401  - must be imported before tensorflow (it configures keras / TF)
    import tensorflow as tf
    from tensorpotential.potentials.presets import FS
    from tensorpotential.tpmodel import TPModel

    tf.random.set_seed(0)
    instructions = FS(element_map={"H": 0, "C": 1, "O": 2, "Cu": 3}, rcut=5.0, lmax=(2, 2), Lmax=(None, 2),
                      max_sum_l=(None, None), lmax_hist=(None, None), n_rad_base=4, n_rad_max=(4, 3),
                      embedding_size=4, max_order=2, fs_parameters=((1.0, 1.0), (1.0, 0.5)))
    model = TPModel(instructions.get_instructions())
    model.build(tf.float64)
    model.save_model(str(path), jit_compile=False)


@_skip_unless("tensorflow", "tensorpotential")
def test_grace_tiny_model_roundtrip(weights_dir):
    from tensorpotential.calculator.asecalculator import TPCalculator

    from mofsim_engine.models.grace import TP_KWARGS

    base = get_adapter("grace_prod")
    path = weights_dir / base.weights_file
    _tiny_grace_model(path)
    bare = dataclasses.replace(base, with_d3=False)
    assert path.is_dir() and bare.available() == (True, None)
    assert base.weights_sha256 is None  # a directory: no single-file hash
    atoms = small_structure()
    ours = single_point(bare.load("cpu", "float32"), atoms)
    check_sp(ours, len(atoms))
    ref = single_point(TPCalculator(model=str(path), **TP_KWARGS), atoms)
    assert_same(ours, ref)
    if _installed("torch_dftd"):
        check_d3_sum(base.load("cpu", "float32"), ours, atoms)
