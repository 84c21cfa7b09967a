"""scaling: compute-optimal model size and tokens for a FLOP budget, from published or fitted laws.

The package imports nothing heavy at the top level: `scaling plan`, `compare` and `fit` need
neither torch nor matplotlib.
"""

__version__ = "0.1.0"
