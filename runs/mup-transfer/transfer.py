"""Does the best learning rate transfer across width? muP against the standard parametrization.

Widths 32 and 256 (8x), 1 layer, 2 heads, context 32, byte-level stdlib text, batch 8 x 32
tokens, 100 steps (25.6k tokens; the machine is shared, so the runs are tiny), cosine schedule with the trainer's warmup; peak LR on a grid of
factors of 2 from 2^-12 to 2^-4 (global LR; under muP the hidden matrices take it times
base_width / d_model, base width 32). The best LR of each width is the vertex of a parabola in
log LR through the lowest loss and its neighbours (scaling.tuning.optimum). Runs are kept under
runs/mup-transfer/<run_id>/, so a rerun only redraws.

    python runs/mup-transfer/transfer.py [--workers 2]    # about 5 minutes on 2 quiet cores

Prints the loss grid and each width's best LR; writes results.json here and
docs/figures/mup-transfer.png.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTHS = (32, 256)
LRS = tuple(2.0**k for k in range(-12, -3))
PARAMETRIZATIONS = ("standard", "mup")


def config(width: int, parametrization: str, lr: float):  # -> TrainConfig
    from scaling.config import ModelConfig, TrainConfig

    model = ModelConfig(n_layer=1, d_model=width, n_head=2, seq_len=32, parametrization=parametrization,
                        base_width=32)
    return TrainConfig(model=model, tokens=100 * 8 * 32, batch_size=8, lr=lr, device="cpu", threads=1,
                       eval_points=1, eval_tokens=8192, val_fraction=0.05, checkpoint_every_s=1e9)


def run(args: tuple[int, str, float]) -> tuple[int, str, float, float | None]:
    from scaling.training.hyperparams import run_id
    from scaling.training.train import train

    cfg = config(*args)
    record = train(cfg, HERE / run_id(cfg))
    return (*args, record.loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    grid = [(w, p, lr) for p in PARAMETRIZATIONS for w in WIDTHS for lr in LRS]
    grid.sort(key=lambda g: -g[0])  # the wide runs first, so the workers finish together
    with ProcessPoolExecutor(options.workers) as pool:
        results = list(pool.map(run, grid))

    import math

    from scaling.tuning.optimum import profile_optimum

    table: dict[str, dict[str, dict[str, float | None]]] = {}
    best: dict[str, dict[str, float]] = {}
    for p in PARAMETRIZATIONS:
        table[p], best[p] = {}, {}
        for w in WIDTHS:
            rows = sorted((lr, loss) for (wi, pi, lr, loss) in results if wi == w and pi == p)
            table[p][str(w)] = {f"{lr:.6g}": loss for lr, loss in rows}
            lrs = [lr for lr, loss in rows]
            losses = [loss if loss is not None else math.inf for lr, loss in rows]
            best[p][str(w)] = profile_optimum(lrs, losses)[0]
    shift = {p: best[p][str(WIDTHS[0])] / best[p][str(WIDTHS[-1])] for p in PARAMETRIZATIONS}
    print("final held-out loss (nats/token) by peak LR")
    print(f"{'LR':>10} " + " ".join(f"{p[:3]} d{w:<4}" for p in PARAMETRIZATIONS for w in WIDTHS))
    for lr in LRS:
        cells = [table[p][str(w)][f"{lr:.6g}"] for p in PARAMETRIZATIONS for w in WIDTHS]
        print(f"{lr:>10.5f} " + " ".join(f"{c:>9.4f}" if c is not None else f"{'div':>9}" for c in cells))
    for p in PARAMETRIZATIONS:
        print(f"{p}: best LR d{WIDTHS[0]} {best[p][str(WIDTHS[0])]:.4g}, d{WIDTHS[-1]} "
              f"{best[p][str(WIDTHS[-1])]:.4g}: shift {shift[p]:.2f}x")
    (HERE / "results.json").write_text(json.dumps({"loss": table, "best_lr": best, "shift": shift}, indent=2) + "\n")
    draw(table, best)


def draw(table: dict, best: dict) -> None:
    from matplotlib.figure import Figure

    from scaling.plot.tuning import plot_lr_transfer

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, p, title in zip(axes, PARAMETRIZATIONS, ("standard parametrization", "muP (base width 32)")):
        plot_lr_transfer({int(w): {float(lr): loss for lr, loss in row.items()} for w, row in table[p].items()},
                         {int(w): v for w, v in best[p].items()}, ax=ax)
        ax.set_title(title)
    out = HERE.parents[1] / "docs" / "figures" / "mup-transfer.png"
    fig.savefig(out, dpi=130)
    print(f"wrote {out.relative_to(HERE.parents[1])}")


if __name__ == "__main__":
    main()
