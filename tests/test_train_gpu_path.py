"""The GPU's training path, exercised on CPU: the sync-free non-finite guard (device flag,
fused AdamW skipping the step), no host sync between log steps, one dynamo reset and a
compile count per run, MFU in nanoGPT/PaLM units."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import scaling.training.train as trainer  # noqa: E402
from scaling.config import ModelConfig, TrainConfig  # noqa: E402
from scaling.flops import flops_per_token, mfu_flops_per_token  # noqa: E402
from scaling.rundir.curve import read_curve  # noqa: E402
from scaling.training.train import train  # noqa: E402

CFG = TrainConfig(model=ModelConfig(n_layer=1, d_model=16, n_head=2, seq_len=16, vocab_size=16),
                  tokens=30 * 4 * 16, data="synthetic:markov:seed=0,vocab=16,tokens=16384", device="cpu",
                  batch_size=4, lr=1e-2, eval_tokens=256, eval_points=1, log_every=10, threads=1)
BAD_STEP = 12


def _poison_gradient_at(monkeypatch: pytest.MonkeyPatch, step: int, seen: dict) -> None:
    """At optimizer step `step`, leave the loss finite but make one gradient infinite, and keep
    the weights as they were before that step (what a skipped step must leave)."""
    original = trainer._Trainer._forward_backward

    def forward_backward(self, batch, n_micro):
        loss = original(self, batch, n_micro)
        if self.step == step:
            seen["before"] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            next(self.model.parameters()).grad[0].fill_(float("inf"))
        seen["trainer"] = self
        return loss

    monkeypatch.setattr(trainer._Trainer, "_forward_backward", forward_backward)


@pytest.mark.parametrize("sync_free", [False, True])
def test_an_infinite_gradient_with_a_finite_loss_never_steps_the_optimizer(tmp_path, monkeypatch, sync_free):
    monkeypatch.setattr(trainer, "SYNC_FREE_ON_CPU", sync_free)
    seen: dict = {}
    _poison_gradient_at(monkeypatch, BAD_STEP, seen)
    record = train(CFG, tmp_path / "run")
    assert record.status == "diverged"
    # synchronous: stops at the bad step; sync-free: at the next log step, every step from the
    # bad one skipped by fused AdamW's found_inf
    assert record.steps == (BAD_STEP if not sync_free else 20)
    after = seen["trainer"].model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in seen["before"].items())


def test_the_sync_free_path_reads_the_device_only_on_log_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "SYNC_FREE_ON_CPU", True)
    calls = {"item": 0}
    item = torch.Tensor.item

    def counted(self):
        calls["item"] += 1
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counted)
    record = train(CFG, tmp_path / "run")
    assert record.status == "ok" and record.steps == 30
    assert calls["item"] <= 3 * 2  # the non-finite flag and nothing else per log step (3 of 30 steps)


def test_sync_free_and_synchronous_paths_train_alike(tmp_path, monkeypatch):
    """Fused and foreach AdamW round differently, so the two losses agree closely, not bit for bit."""
    plain = train(CFG, tmp_path / "plain")
    monkeypatch.setattr(trainer, "SYNC_FREE_ON_CPU", True)
    fused = train(CFG, tmp_path / "fused")
    assert fused.loss == pytest.approx(plain.loss, rel=1e-4)


def test_mfu_is_in_nanogpt_units_with_app_f_beside_it(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "peak_flops", lambda device: 1e12)  # as if a GPU of 1 TFLOP/s
    record = train(CFG, tmp_path / "run")
    rows = [r for r in read_curve(tmp_path / "run").to_pylist() if r["split"] == "train"]
    for row in rows:
        assert row["mfu"] == pytest.approx(mfu_flops_per_token(CFG.model) * row["tokens_per_s"] / 1e12)
    ratio = flops_per_token(CFG.model, "chinchilla_appF") / mfu_flops_per_token(CFG.model)
    assert record.extra["mfu_appf"] == pytest.approx(record.extra["mfu"] * ratio)


def test_gpt2_small_mfu_count_is_nanogpts():
    # nanoGPT estimate_mfu at GPT-2 small (vocab 50257, context 1024): N = get_num_params() =
    # 124,337,664 - 1,024 x 768 position embeddings = 123,551,232; 6 N + 12 L H Q T.
    gpt2 = ModelConfig(n_layer=12, d_model=768, n_head=12, seq_len=1024, vocab_size=50257)
    assert mfu_flops_per_token(gpt2) == 6 * 123_551_232 + 12 * 12 * 12 * 64 * 1024
    assert flops_per_token(gpt2, "chinchilla_appF") / mfu_flops_per_token(gpt2) == pytest.approx(1.27, abs=0.005)


@pytest.mark.slow
def test_one_worker_compiles_every_shape_past_the_recompile_limit(tmp_path):
    """Nine widths trained one after another in one process with compile=True: dynamo's limit is 8
    recompiles per code object, so without a reset between runs the ninth would train eager."""
    records = []
    for width in range(8, 8 + 2 * 9, 2):
        cfg = replace(CFG, model=replace(CFG.model, d_model=width), tokens=3 * 4 * 16, log_every=1, compile=True)
        records.append(train(cfg, tmp_path / f"w{width}"))
    assert [r.status for r in records] == ["ok"] * 9
    assert all(r.extra["compiled_graphs"] >= 1 for r in records), [r.extra["compiled_graphs"] for r in records]


@pytest.mark.slow
def test_the_gpu_check_runs_every_part_on_cpu():
    """benchmarks/gpu_check.py --cpu-smoke: the five parts at tiny sizes (about 3 minutes on 2 busy cores)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_check.py"), "--cpu-smoke"],
                          capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    for part in ("[1]", "[2]", "[3]", "[4]", "[5]", "none fell back to eager"):
        assert part in done.stdout, done.stdout
