"""The top-level package re-exports the public API lazily and imports nothing heavy."""

import subprocess
import sys

import pytest

import scaling


def test_every_export_resolves():
    for name in scaling.__all__:
        assert getattr(scaling, name) is not None


def test_import_is_light():
    code = "import sys, scaling; scaling.plan; scaling.fit_law; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"



TINY_RUNS = ("__import__('pandas').DataFrame({'params': [1e6, 1e6, 1e7, 1e7, 1e8, 1e8, 3e6, 3e7], "
             "'tokens': [1e8, 1e9, 1e8, 1e9, 1e8, 1e9, 3e8, 3e9], "
             "'loss': [4.0, 3.6, 3.5, 3.0, 3.3, 2.7, 3.6, 3.0]})")
CALLS = {
    # export -> a call with small arguments, and the type name of what it returns
    "fit_law": (f"lambda s: s.fit_law('chinchilla', {TINY_RUNS}, n_polish=1)", "FitResult"),
    "FitResult": (f"lambda s: s.FitResult.from_json(s.fit_law('chinchilla', {TINY_RUNS}, n_polish=1).to_json())",
                  "FitResult"),
    "read_runs": ("lambda s: s.read_runs('chinchilla-2022')", "DataFrame"),
    "plan": ("lambda s: s.plan(s.get_preset('chinchilla'), 1e21)", "Plan"),
    "Plan": ("lambda s: s.Plan.from_json(s.plan(s.get_preset('chinchilla'), 1e21).to_json())", "Plan"),
    "get_preset": ("lambda s: s.get_preset('epoch2024')", "Preset"),
    "resolve_law": ("lambda s: s.resolve_law('kaplan2020')", "Preset"),
    "ModelConfig": ("lambda s: s.ModelConfig(n_layer=2, d_model=64, n_head=1)", "ModelConfig"),
    "TrainConfig": ("lambda s: s.TrainConfig(model=s.ModelConfig(n_layer=2, d_model=64, n_head=1), tokens=10**6)",
                    "TrainConfig"),
    "count_params": ("lambda s: s.count_params(s.ModelConfig(n_layer=2, d_model=64, n_head=1))", "ParamCount"),
    "suggest_shape": ("lambda s: s.suggest_shape(1e6)", "ModelConfig"),
}


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_every_export_read_twice_stays_itself_and_its_callable_works(order):
    # In a fresh interpreter: a lazy export's import must not rebind another export (importing
    # the submodule `scaling.x` binds `x` on the package, once shadowing the function `plan`).
    assert set(CALLS) == set(scaling.__all__), "add a call for each new export"
    names = sorted(CALLS, reverse=order == "reverse")
    lines = ["import types, scaling as s"]
    for name in names:
        call, result_type = CALLS[name]
        lines += [f"first, second = s.{name}, s.{name}",
                  f"assert first is second and not isinstance(first, types.ModuleType), {name!r}",
                  f"assert type(({call})(s)).__name__ == {result_type!r}, {name!r}"]
    lines.append("assert not any(isinstance(getattr(s, n), types.ModuleType) for n in s.__all__)")
    result = subprocess.run([sys.executable, "-c", "\n".join(lines)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
