"""MOFSim science engine."""
__version__ = "0.1.0"
