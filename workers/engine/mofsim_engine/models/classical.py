"""Classical test potential: lets tests and smoke checks exercise every task path in milliseconds, for any
element. It is NOT a benchmark model and says so in its description."""
from __future__ import annotations

from dataclasses import dataclass

from .base import ELEMENTS_1_TO_94, ModelAdapter

# Element-independent LJ. sigma 1.0 Å puts the pair minimum at 2^(1/6) σ ≈ 1.12 Å, near typical bond lengths, so
# real MOF geometries start with moderate forces; epsilon small so nothing explodes. smooth=True switches the
# potential off smoothly between ro and rc (continuous forces, which the optimizers need).
LJ_SIGMA_A = 1.0
LJ_EPSILON_EV = 0.01
LJ_RC_A = 3.0
LJ_RO_A = 2.4


@dataclass
class LennardJonesAdapter(ModelAdapter):
    @property
    def elements(self) -> list[str]:
        return list(ELEMENTS_1_TO_94)

    def load(self, device: str, dtype: str):
        from ase.calculators.lj import LennardJones

        # ASE's LennardJones implements energy, forces and stress (FrechetCellFilter needs stress).
        return LennardJones(sigma=LJ_SIGMA_A, epsilon=LJ_EPSILON_EV, rc=LJ_RC_A, ro=LJ_RO_A, smooth=True)


ADAPTERS = [
    LennardJonesAdapter(
        id="lj_test", name="Lennard-Jones (test)", family="classical", kind="classical",
        description="Classical pair potential for tests — not a benchmark model. Element-independent "
                    f"Lennard-Jones (sigma {LJ_SIGMA_A} Å, epsilon {LJ_EPSILON_EV} eV, smooth cutoff "
                    f"{LJ_RO_A}–{LJ_RC_A} Å) covering elements 1–94.",
        with_d3=False, memory_per_atom_MB=0.01, model_memory_MB=0.0, dtypes=("float32", "float64")),
]
