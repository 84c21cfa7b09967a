"""muP (scaling.training.mup, scaling.training.model): the coordinate check, equality with SP at the base width,
unchanged parameter counts and run ids."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from scaling.training import mup  # noqa: E402
from scaling.config import ModelConfig, TrainConfig  # noqa: E402
from scaling.flops import count_params  # noqa: E402
from scaling.training.model import GPT  # noqa: E402
from scaling.training.hyperparams import run_id  # noqa: E402


def shape(width: int, parametrization: str, **kw: object) -> ModelConfig:
    return ModelConfig(n_layer=2, d_model=width, n_head=2, seq_len=32, vocab_size=64,
                       parametrization=parametrization, base_width=32, **kw)  # type: ignore[arg-type]


def activation_scales(cfg: ModelConfig, steps: int = 4, lr: float = 1e-2) -> tuple[float, float]:
    """Mean |x| of the last block's output and of the logits after `steps` Adam steps on a fixed batch."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = GPT(cfg, generator=generator)
    groups = model.param_groups(0.0)
    for group in groups:
        group["lr"] = lr * group["lr_mult"]
    optimizer = torch.optim.Adam(groups, lr=lr)
    batch = torch.randint(0, cfg.vocab_size, (8, cfg.seq_len + 1), generator=generator)
    for _ in range(steps):
        model(batch[:, :-1], batch[:, 1:]).backward()
        optimizer.step()
        optimizer.zero_grad()
    seen: dict[str, float] = {}
    hook = model.blocks[-1].register_forward_hook(lambda m, i, out: seen.__setitem__("block", out.abs().mean().item()))
    with torch.no_grad():
        logits = model(batch[:, :-1])
    hook.remove()
    return seen["block"], logits.abs().mean().item()


def test_coordinate_check_flat_under_mup_growing_under_sp():
    # Yang et al. 2022 (Tensor Programs V), Fig. 5: after a few steps, activations of SP blow up
    # with width, muP's stay O(1). Widths 32 and 256 (8x), 2 layers, 4 Adam steps at LR 1e-2.
    # Measured here: SP block 0.11 -> 5.9 (52x), logits 0.28 -> 1.10; muP 0.11 -> 0.09, 0.28 -> 0.21.
    sp = [activation_scales(shape(w, "standard")) for w in (32, 256)]
    mu = [activation_scales(shape(w, "mup")) for w in (32, 256)]
    sp_growth = [wide / narrow for narrow, wide in zip(*sp)]
    mu_growth = [wide / narrow for narrow, wide in zip(*mu)]
    assert sp_growth[0] > 8 and sp_growth[1] > 2
    assert all(0.5 < g < 1.5 for g in mu_growth)


def test_mup_at_base_width_is_standard():
    sp, mu = GPT(shape(32, "standard"), generator=torch.Generator().manual_seed(1)), \
        GPT(shape(32, "mup"), generator=torch.Generator().manual_seed(1))
    idx = torch.randint(0, 64, (2, 32))
    assert torch.equal(sp(idx), mu(idx))
    assert all(g["lr_mult"] == 1.0 for g in mu.param_groups(0.1))


def test_mup_multipliers_by_kind():
    cfg = shape(256, "mup")  # m = 8
    assert mup.lr_mult(cfg, "hidden") == pytest.approx(1 / 8) and mup.lr_mult(cfg, "input") == 1.0
    assert mup.init_std_mult(cfg, "hidden") == pytest.approx(8**-0.5)
    assert mup.logit_mult(cfg) == pytest.approx(1 / 8)
    assert mup.attention_scale(cfg) == pytest.approx((32 / 2) ** 0.5 / 128)  # sqrt(d_h at base) / d_h
    model = GPT(cfg)
    mults = {GPT.kind(n): g["lr_mult"] for g in model.param_groups(0.1) for n, p in model.named_parameters()
             if any(p is q for q in g["params"])}
    assert mults == {"hidden": pytest.approx(1 / 8), "input": 1.0}


def test_untied_mup_readout_starts_at_zero():
    model = GPT(shape(64, "mup", tied_embeddings=False))
    assert model.lm_head is not None and not model.lm_head.weight.any()


def test_parametrization_keeps_counts_and_standard_run_ids():
    sp, mu = shape(128, "standard"), shape(128, "mup")
    assert count_params(sp) == count_params(mu)
    assert sum(p.numel() for p in GPT(mu).parameters()) == count_params(mu).total
    assert "parametrization" not in sp.to_dict() and mu.to_dict()["parametrization"] == "mup"
    assert run_id(TrainConfig(model=sp, tokens=10_000)) != run_id(TrainConfig(model=mu, tokens=10_000))
    assert TrainConfig.from_dict(TrainConfig(model=mu, tokens=10_000).to_dict()).model == mu
    with pytest.raises(ValueError, match="parametrization"):
        shape(32, "ntk")
