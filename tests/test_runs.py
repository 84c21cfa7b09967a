"""read_runs / read_curves (scaling.runs) and the built-in data sets (scaling.datasets)."""

import logging

import numpy as np
import pandas as pd
import pytest

from scaling.datasets import DATASETS
from scaling.runs import average_seeds, read_curves, read_runs


def table():
    return pd.DataFrame({"Model Size": [1e8, 2e8, 4e8], "flops": [6e18, 1.2e19, 2.4e19], "loss": [3.1, 3.0, 2.9]})


def test_csv_with_column_mapping_and_tokens_from_flops(tmp_path):
    path = tmp_path / "runs.csv"
    table().to_csv(path, index=False)
    runs = read_runs(path, columns={"params": "Model Size"})
    # Kaplan et al. 2020, Sec. 2.1: C = 6 N D, so D = C / (6 N).
    assert runs["tokens"].tolist() == pytest.approx([1e10, 1e10, 1e10])
    assert list(runs["run_id"]) == ["row0", "row1", "row2"]


def test_parquet_and_flops_from_tokens(tmp_path):
    path = tmp_path / "runs.parquet"
    pd.DataFrame({"params": [1e8], "tokens": [2e9], "loss": [3.0]}).to_parquet(path)
    assert read_runs(path)["flops"].iloc[0] == pytest.approx(1.2e18)


def test_invalid_rows_name_the_column_and_count():
    frame = table().rename(columns={"Model Size": "params"})
    frame.loc[0, "loss"] = np.nan
    frame.loc[1, "loss"] = -1.0
    with pytest.raises(ValueError, match=r"loss: 2 of 3 rows are missing, NaN or non-positive.*drop_invalid"):
        read_runs(frame)
    assert len(read_runs(frame, drop_invalid=True)) == 1


def test_missing_column_and_bad_mapping_are_clear():
    with pytest.raises(ValueError, match="missing params"):
        read_runs(table())
    with pytest.raises(ValueError, match="'Size'"):
        read_runs(table(), columns={"params": "Size"})
    with pytest.raises(FileNotFoundError, match="built in"):
        read_runs("no-such-data-set")


def test_builtin_data_sets():
    runs = read_runs("chinchilla-2022")
    assert len(runs) == 245  # Epoch AI's digitisation of Hoffmann et al. 2022, Fig. 4
    assert runs["params"].min() == pytest.approx(5.7e7, rel=0.01)
    sizes = {name: len(read_runs(name)) for name in DATASETS if name.startswith("porian-2024-")}
    assert sum(sizes.values()) == len(read_runs("porian-2024")) == 1160  # Porian et al. 2024
    assert sizes["porian-2024-rw-tuned"] == 121


def test_sweep_directory_uses_ok_runs_and_says_how_many_were_skipped(tmp_path, caplog):
    sweep = tmp_path / "runs" / "tiny"
    sweep.mkdir(parents=True)
    pd.DataFrame({"run_id": ["a", "b", "c"], "params": [1e6, 2e6, 4e6], "params_nonembedding": [8e5, 1.6e6, 3.4e6],
                  "tokens": [1e8, 1e8, 1e8], "flops": [6e14, 1.2e15, 2.4e15], "loss": [4.0, None, 3.5],
                  "status": ["ok", "diverged", "ok"]}).to_parquet(sweep / "summary.parquet")
    for run_id, params in (("a", 1e6), ("c", 4e6)):
        (sweep / run_id).mkdir()
        steps = np.arange(1, 6)
        pd.DataFrame({"run_id": run_id, "step": steps, "tokens_seen": steps * 2e7, "flops_seen": 6 * params * steps * 2e7,
                      "split": "val", "loss": 5.0 - 0.2 * steps, "lr": 1e-3, "grad_norm": 1.0}).to_parquet(
            sweep / run_id / "curve.parquet")
    with caplog.at_level(logging.WARNING, logger="scaling.runs"):
        runs = read_runs(sweep)
    assert list(runs["run_id"]) == ["a", "c"]
    assert "skipped 1 of 3 runs" in caplog.text
    curves = read_curves(sweep)
    assert len(curves) == 10 and set(curves["run_id"]) == {"a", "c"}
    assert curves.groupby("run_id")["replicate"].nunique().eq(1).all() and curves["replicate"].nunique() == 2


def test_curves_of_seeds_of_one_configuration_share_a_replicate_label(tmp_path):
    sweep = tmp_path / "seeds"
    sweep.mkdir()
    shape = {"n_layer": 2, "seq_len": 64, "lr": 0.01, "batch_tokens": 1024, "tokens": 1e6, "loss": 3.0, "status": "ok"}
    pd.DataFrame([{"run_id": "s0", "d_model": 16, "params": 1e4, "seed": 0, **shape},
                  {"run_id": "s1", "d_model": 16, "params": 1e4, "seed": 1, **shape},
                  {"run_id": "w0", "d_model": 32, "params": 3e4, "seed": 0, **shape},
                  {"run_id": "l0", "d_model": 16, "params": 1e4, "seed": 0, **{**shape, "lr": 0.02}}]
                 ).to_parquet(sweep / "summary.parquet")
    for run_id in ("s0", "s1", "w0", "l0"):
        (sweep / run_id).mkdir()
        pd.DataFrame({"run_id": run_id, "step": [1, 2], "tokens_seen": [5e5, 1e6], "flops_seen": [3e10, 6e10],
                      "split": "val", "loss": [3.5, 3.0]}).to_parquet(sweep / run_id / "curve.parquet")
    label = read_curves(sweep).groupby("run_id")["replicate"].first()
    assert label["s0"] == label["s1"]  # seeds of one configuration
    assert len({label["s0"], label["w0"], label["l0"]}) == 3  # another width, another LR


def test_average_seeds_gives_one_row_per_configuration():
    config = {"n_layer": 2, "d_model": 16, "lr": 0.01, "params": 1e4, "tokens": 1e6, "flops": 6e10}
    runs = pd.DataFrame([{**config, "run_id": "a0", "seed": 0, "loss": 3.0},
                         {**config, "run_id": "a1", "seed": 1, "loss": 3.2},
                         {**config, "run_id": "b0", "seed": 0, "loss": 2.9, "lr": 0.02}])
    runs.attrs["source"] = "test"
    averaged = average_seeds(runs)
    assert len(averaged) == 2 and averaged.attrs["source"] == "test"
    assert averaged["loss"].tolist() == pytest.approx([3.1, 2.9]) and averaged["n_seeds"].tolist() == [2, 1]
    unseeded = runs.drop(columns="seed")  # published tables: every row is its own run
    assert average_seeds(unseeded) is unseeded


def test_where_keeps_rows_meeting_every_condition_and_names_what_is_wrong():
    from scaling.runs import select_rows

    frame = pd.DataFrame({"dataset": ["rw", "rw", "owt2"], "params": [1e6, 1e8, 1e8]})
    assert select_rows(frame, ["dataset==rw", "params>=1e7"]).index.tolist() == [1]
    assert select_rows(frame, ["dataset!=rw"]).index.tolist() == [2]
    assert select_rows(frame, ["params < 1e7"]).index.tolist() == [0]  # spaces allowed, numbers compared as numbers
    for where, message in ((["dataset>rw"], "holds text"), (["params==big"], "not a number"),
                           (["size==1"], "no column 'size'"), (["params"], "COLUMN OP VALUE"),
                           (["params>1e9"], "no row matches")):
        with pytest.raises(ValueError, match=message):
            select_rows(frame, where)
