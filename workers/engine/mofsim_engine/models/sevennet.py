"""SevenNet family (sevenn package). 7net-0 and 7net-l3i5 weights ship inside the wheel, so they work offline.

MOFSimBench keys: `sevennet_prod` = 7net-0 + D3, `sevennet_prod_l3i5` = 7net-l3i5 + D3 (calculators.yaml).
We never call sevenn's `pretrained_name_to_path` for availability: it downloads missing checkpoints.

Batched forward (`SevenNetAdapter.predict`): one torch_geometric batch of sevenn AtomGraphData for all structures
(each graph built exactly as SevenNetCalculator builds it: `unlabeled_atoms_to_graph(atoms, cutoff,
with_shift=False)`), the model switched to batch mode for the call (per-graph energies, forces from the edge
vectors, per-graph virial / volume), and D3 through torch-dftd's `batch_calculate` (one edge list with `batch`
and `batch_edge` vectors). A batch of one goes through the calculator itself, i.e. exactly MOFSimBench's
SumCalculator([SevenNetCalculator, TorchDFTD3Calculator]) path.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import ModelAdapter, Prediction, make_d3_calculator, predict_one

# Checkpoint file inside the sevenn package (and sevenn's own fallback cache dir) per pretrained name.
_CHECKPOINT_RELPATHS = {
    "7net-0": "SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
    "7net-l3i5": "SevenNet_l3i5/checkpoint_l3i5.pth",
}

_species_cache: dict[str, list[str]] = {}
_species_lock = threading.Lock()


def _sevenn_dir() -> Path | None:
    spec = importlib.util.find_spec("sevenn")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def checkpoint_species(path: Path) -> list[str]:
    """Chemical species from the checkpoint's config, without building the model. torch.load(mmap=True) maps the
    tensors lazily, so this reads the small config pickle only; cached per process."""
    key = str(path)
    with _species_lock:
        if key not in _species_cache:
            import torch

            cp = torch.load(key, map_location="cpu", weights_only=False, mmap=True)
            species = cp["config"]["chemical_species"]
            from ase.data import atomic_numbers

            _species_cache[key] = sorted(species, key=lambda s: atomic_numbers.get(s, 999))
        return list(_species_cache[key])


@dataclass
class SevenNetAdapter(ModelAdapter):
    pretrained: str = "7net-0"
    modal: str | None = None

    @property
    def weights_path(self) -> Path | None:
        rel = _CHECKPOINT_RELPATHS[self.pretrained]
        candidates = []
        pkg = _sevenn_dir()
        if pkg is not None:
            candidates.append(pkg / "pretrained_potentials" / rel)
        candidates.append(Path(os.path.expanduser("~/.cache/sevennet")) / rel)
        for c in candidates:
            if c.exists():
                return c
        return candidates[0] if candidates else None

    def available(self) -> tuple[bool, str | None]:
        for pkg in ("torch", "sevenn") + (("torch_dftd",) if self.with_d3 else ()):
            if importlib.util.find_spec(pkg) is None:
                return False, f"python package {pkg!r} is not installed"
        p = self.weights_path
        if p is None or not p.exists():
            return False, f"weights file not found for {self.pretrained} (looked for {p})"
        return True, None

    @property
    def elements(self) -> list[str]:
        p = self.weights_path
        if p is None or not p.exists():
            return []
        return checkpoint_species(p)

    def predict(self, calculator, batch: list) -> list[Prediction]:
        """Batched SevenNet (+ D3) forward pass; see the module docstring. The caller holds the model lock (the
        model's batch-mode flag is toggled for the call)."""
        if len(batch) <= 1:
            return [predict_one(calculator, a) for a in batch]
        mlip = getattr(calculator, "mlip", calculator)
        d3 = getattr(calculator, "d3", None)
        energies, forces, stresses = _sevennet_batch(mlip, batch)
        if d3 is not None:
            # properties with "forces": calc_energy_and_forces (energy, forces and, with a cell, stress).
            for i, r in enumerate(d3.batch_calculate(batch, properties=["energy", "forces", "stress"])):
                energies[i] += float(r["energy"])
                forces[i] += np.asarray(r["forces"], dtype=float)
                if stresses[i] is not None:
                    stresses[i] += np.asarray(r["stress"], dtype=float).reshape(6)
        return [Prediction(e, f, s) for e, f, s in zip(energies, forces, stresses)]

    def load(self, device: str, dtype: str):
        self.require_loadable(dtype)
        from sevenn.calculator import SevenNetCalculator

        kwargs = {"modal": self.modal} if self.modal else {}
        # Load from our resolved path (not the pretrained name) so nothing is ever downloaded.
        calc = SevenNetCalculator(model=str(self.weights_path), device=device, **kwargs)
        if not self.with_d3:
            return calc
        # Same composition as MOFSimBench get_calculator(): SumCalculator([mlip, D3]).
        return _sum_calculator(calc, make_d3_calculator(device))


def _sum_calculator(mlip, d3):
    """ASE SumCalculator([mlip, d3]) that also names its parts, for the batched path."""
    from ase.calculators.mixing import SumCalculator

    class SevenNetD3SumCalculator(SumCalculator):
        def __init__(self, mlip, d3):
            super().__init__([mlip, d3])
            self.mlip = mlip
            self.d3 = d3

    return SevenNetD3SumCalculator(mlip, d3)


def _sevennet_batch(mlip, batch: list):
    """SevenNet alone on a list of structures in one forward pass -> (energies, forces, stresses) as float64
    numpy, stress Voigt in ASE's sign convention (None for structures not periodic in 3D), as
    SevenNetCalculator.output_to_results reads them for one structure."""
    import sevenn._keys as KEY
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import unlabeled_atoms_to_graph
    from torch_geometric.loader.dataloader import Collater

    graphs = []
    for atoms in batch:
        data = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, mlip.cutoff, with_shift=False))
        if mlip.modal:
            data[KEY.DATA_MODALITY] = mlip.modal
        graphs.append(data)
    data = Collater([], follow_batch=None, exclude_keys=None)(graphs)
    data.to(mlip.device)
    model = mlip.model
    model.set_is_batch_data(True)
    try:
        out = model(data)
    finally:
        model.set_is_batch_data(False)  # SevenNetCalculator (the batch-of-one path) runs the model unbatched
    e = out[KEY.PRED_TOTAL_ENERGY].detach().cpu().numpy().astype(float).reshape(-1)
    f = out[KEY.PRED_FORCE].detach().cpu().numpy().astype(float)
    # sevenn's stress is (xx yy zz xy yz zx) of the virial sign; ASE wants −that as (xx yy zz yz xz xy).
    s = (-out[KEY.PRED_STRESS]).detach().cpu().numpy().astype(float).reshape(len(batch), 6)[:, [0, 1, 2, 4, 5, 3]]
    energies, forces, stresses = [], [], []
    offset = 0
    for i, atoms in enumerate(batch):
        n = len(atoms)
        energies.append(float(e[i]))
        forces.append(f[offset:offset + n].copy())
        stresses.append(s[i].copy() if atoms.pbc.all() else None)
        offset += n
    if len(e) != len(batch) or offset != len(f):
        raise RuntimeError(f"batched SevenNet output does not match the batch ({len(e)} energies, {len(f)} force "
                           f"rows for {len(batch)} structures, {offset} atoms)")
    return energies, forces, stresses


SEVENNET_CITATION = "Park et al., J. Chem. Theory Comput. 20, 4857 (2024), doi 10.1021/acs.jctc.4c00190"

ADAPTERS = [
    SevenNetAdapter(
        id="sevennet_prod", name="SevenNet-0 (11Jul2024) + D3(BJ)", family="sevennet", kind="mlip",
        description="SevenNet-0 trained on MPtrj (PBE/PBE+U), summed with D3(BJ, PBE, 40 Bohr, no ATM) as in "
                    "MOFSimBench's sevennet_prod.",
        with_d3=True, memory_per_atom_MB=1.0, model_memory_MB=60.0, citation=SEVENNET_CITATION,
        pretrained="7net-0"),
    SevenNetAdapter(
        id="sevennet_prod_l3i5", name="SevenNet-l3i5 + D3(BJ)", family="sevennet", kind="mlip",
        description="SevenNet-l3i5 (lmax 3, 5 layers; MPtrj), summed with D3(BJ, PBE, 40 Bohr, no ATM) as in "
                    "MOFSimBench's sevennet_prod_l3i5.",
        with_d3=True, memory_per_atom_MB=2.0, model_memory_MB=80.0, citation=SEVENNET_CITATION,
        pretrained="7net-l3i5"),
]
