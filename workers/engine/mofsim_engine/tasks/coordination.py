"""Metal coordination numbers as MOFSimBench's stability analysis computes them (PROTOCOLS.md §2.2).

- `pymatgen.analysis.local_env.CrystalNN(x_diff_weight=1.5, search_cutoff=4.5, weighted_cn=True)`,
  `get_cn(structure, i, use_weights=True)`, on metal atoms only;
- metals = MOFSimBench `common/utils.py` `METAL_ELEMENTS`: alkali and alkaline-earth metals, Al, Ga, In, Sn, Pb, Bi,
  all transition metals, lanthanides and actinides (Si and B are not metals here);
- averaged per element.
"""
from __future__ import annotations

import math
import warnings

_ALKALI = ["Li", "Na", "K", "Rb", "Cs", "Fr"]
_ALKALINE_EARTH = ["Be", "Mg", "Ca", "Sr", "Ba", "Ra"]
_POST_TRANSITION = ["Al", "Ga", "In", "Sn", "Pb", "Bi"]
_TRANSITION = [
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
    "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
    "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn",
]
_LANTHANIDES = ["La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu"]
_ACTINIDES = ["Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr"]

METAL_ELEMENTS: frozenset[str] = frozenset(
    _ALKALI + _ALKALINE_EARTH + _POST_TRANSITION + _TRANSITION + _LANTHANIDES + _ACTINIDES
)

CRYSTALNN_SETTINGS = {"x_diff_weight": 1.5, "search_cutoff": 4.5, "weighted_cn": True}


def metal_indices(atoms) -> list[int]:
    return [i for i, s in enumerate(atoms.get_chemical_symbols()) if s in METAL_ELEMENTS]


def metal_coordination(atoms) -> dict:
    """Mean weighted CrystalNN coordination number per metal element: {"Cu": 4.02, ...}.

    Returns {} when the structure has no metal atoms. Non-periodic structures cannot be analysed (CrystalNN
    needs a lattice) and also give {}. Failures of CrystalNN on one site are skipped (that site does not count);
    if every site fails the exception propagates to the caller, which records it.
    """
    idx = metal_indices(atoms)
    if not idx or not all(atoms.pbc):
        return {}
    from pymatgen.analysis.local_env import CrystalNN
    from pymatgen.io.ase import AseAtomsAdaptor

    # Only the geometry matters: drop the calculator, momenta etc. before conversion.
    plain = atoms.copy()
    plain.calc = None
    structure = AseAtomsAdaptor.get_structure(plain)
    cnn = CrystalNN(**CRYSTALNN_SETTINGS)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    last_exc: Exception | None = None
    symbols = atoms.get_chemical_symbols()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CrystalNN warns about missing oxidation states, etc.
        for i in idx:
            try:
                cn = float(cnn.get_cn(structure, i, use_weights=True))
            except Exception as exc:  # noqa: BLE001 - a site CrystalNN cannot handle is skipped
                last_exc = exc
                continue
            if not math.isfinite(cn):
                continue
            sums[symbols[i]] = sums.get(symbols[i], 0.0) + cn
            counts[symbols[i]] = counts.get(symbols[i], 0) + 1
    if not counts and last_exc is not None:
        raise last_exc
    return {el: sums[el] / counts[el] for el in sorted(sums)}


def safe_metal_coordination(atoms) -> dict:
    """`metal_coordination`, with a failure recorded as {"error": "..."} instead of raised."""
    try:
        return metal_coordination(atoms)
    except Exception as exc:  # noqa: BLE001 - analysis must never kill a finished simulation
        return {"error": f"{type(exc).__name__}: {exc}"}
