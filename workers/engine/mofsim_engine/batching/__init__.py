"""Batching of concurrent model calls (see batcher.py): one Batcher per loaded model."""
from .batcher import Batcher, batching_enabled_from_env, max_batch_atoms, max_wait_s_from_env

__all__ = ["Batcher", "batching_enabled_from_env", "max_batch_atoms", "max_wait_s_from_env"]
