"""The tiny sweep spec the CLI, reliability, bounds and tracker tests train (or refuse): 1-layer
GPTs on a 16-symbol Markov source, an IsoFLOP grid of a few runs that finish in seconds on CPU."""

from __future__ import annotations


def tiny_spec(*, name: str = "tiny", budgets: str = "[1e8, 3e8]", widths: str = "[8, 16]", train: str = "") -> str:
    """TOML text of the tiny spec; `train` adds lines to its [train] table."""
    return f"""
name = "{name}"
data = "synthetic:markov:seed=0,vocab=16"
device = "cpu"
[shape]
n_layer = 1
head_dim = 8
seq_len = 16
vocab_size = 16
[isoflop]
budgets = {budgets}
sizes = {{ d_model = {widths} }}
[train]
min_steps = 10
batch_size = 8
{train}"""
