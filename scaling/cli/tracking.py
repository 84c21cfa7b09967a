"""`--tracker mlflow|tensorboard|wandb` for `scaling sweep` and `scaling train`: a context that
yields the tracker's `log_run` (or None without a tracker) and closes the client at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from scaling.errors import install_hint


class TrackerName(str, Enum):
    mlflow = "mlflow"
    tensorboard = "tensorboard"
    wandb = "wandb"


TrackerOption = Annotated[TrackerName | None, typer.Option(
    help="Also log each run (config, curve, final record) to MLflow, TensorBoard or W&B (offline) "
         f"when it ends; {install_hint('mlflow')} (or tensorboard, wandb).")]
TrackingUri = Annotated[str | None, typer.Option(
    help="Where the tracker writes: an MLflow tracking URI (default sqlite:///mlflow.db), a TensorBoard "
         "log dir (default tb), a W&B directory (default .).")]


@contextmanager
def open_tracker(name: TrackerName | None, uri: str | None,
                 experiment: str) -> Iterator[Callable[[dict[str, Any], Path], Any] | None]:
    if name is None:
        yield None
        return
    # lazy: start-up speed (each command loads only its own library)
    from scaling.trackers import open_tracker as open_client

    tracker = open_client(name.value, uri, experiment)
    try:
        yield tracker.log_run
    finally:
        tracker.close()
