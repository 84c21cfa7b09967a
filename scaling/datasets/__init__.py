"""Built-in data sets of published runs, fit by name (`scaling fit chinchilla-2022`).

Each name maps to a CSV shipped in this folder and the column mapping and row filter that turn
it into a runs table (`params`, `tokens`, `flops`, `loss`). Provenance: PROVENANCE.md here.

References:
    Besiroglu et al. 2024, arXiv:2404.10102 (Epoch AI's digitisation of Hoffmann et al. 2022,
    Figure 4); Porian et al. 2024, arXiv:2406.19146 (IsoFLOP runs, ten configurations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import pandas as pd


@dataclass(frozen=True, kw_only=True)
class Dataset:
    name: str
    """Built-in name, e.g. "chinchilla-2022"."""
    file: str
    """CSV file in scaling/datasets/."""
    description: str
    """One line: what the runs are and where they come from."""
    columns: dict[str, str] = field(default_factory=dict)
    """Source column -> runs-table column (e.g. "Model Size" -> "params")."""
    where: dict[str, str] = field(default_factory=dict)
    """Keep only rows whose columns equal these values."""


_EPOCH = "Hoffmann et al. 2022 Fig. 4 runs digitised by Epoch AI (Besiroglu et al. 2024)"

# Porian et al. 2024, Sec. 3-4: the five configurations per data set, in the paper's order
# (hparams, warmup, decay, param_count, loss_kind), as the shared data README lists them.
_PORIAN_CONFIGS = {
    "kaplan": (("base", "long", "kaplan", "kaplan", "train"), "reproducing Kaplan"),
    "last-layer": (("base", "long", "kaplan", "standard", "val"), "counting last-layer FLOPs"),
    "warmup": (("base", "short", "kaplan", "standard", "val"), "correcting warmup"),
    "cosine": (("base", "short", "chinchilla", "standard", "val"), "cosine decay"),
    "tuned": (("tuned", "short", "const", "standard", "val"), "optimizer tuning"),
}
_PORIAN_KEYS = ("hparams", "warmup", "decay", "param_count", "loss_kind")
_PORIAN_DATA = {"rw": "RefinedWeb", "owt2": "OpenWebText2"}


def _porian_datasets() -> dict[str, Dataset]:
    found = {"porian-2024": Dataset(
        name="porian-2024", file="porian_2024_isoflop.csv",
        description="Porian et al. 2024 IsoFLOP runs, all ten configurations (filter first)")}
    for corpus, corpus_name in _PORIAN_DATA.items():
        for config, (values, step) in _PORIAN_CONFIGS.items():
            name = f"porian-2024-{corpus}-{config}"
            found[name] = Dataset(
                name=name, file="porian_2024_isoflop.csv",
                description=f"Porian et al. 2024 IsoFLOP runs, {corpus_name}, '{step}'",
                where={"dataset": corpus, **dict(zip(_PORIAN_KEYS, values))})
    return found


DATASETS: dict[str, Dataset] = {
    "chinchilla-2022": Dataset(
        name="chinchilla-2022", file="chinchilla_2022_epoch.csv", description=_EPOCH,
        columns={"Model Size": "params", "Training FLOP": "flops"}),
    **_porian_datasets(),
}
"""Every built-in data set by name."""


def load_dataset(name: str) -> pd.DataFrame:
    """The raw rows of built-in data set `name`, renamed and filtered (not yet validated)."""
    try:
        dataset = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; built in: {', '.join(DATASETS)}") from None
    with resources.files(__name__).joinpath(dataset.file).open("r") as handle:
        frame = pd.read_csv(handle, float_precision="round_trip")  # exact parsing: the same bits under every pandas
    for column, value in dataset.where.items():
        frame = frame[frame[column] == value]
    frame = frame.rename(columns=dataset.columns).reset_index(drop=True)
    frame.attrs["source"] = f"{name}: {dataset.description}"
    return frame
