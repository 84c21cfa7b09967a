"""The top-level package re-exports the public API lazily and imports nothing heavy."""

import subprocess
import sys

import scaling


def test_every_export_resolves():
    for name in scaling.__all__:
        assert getattr(scaling, name) is not None


def test_import_is_light():
    code = "import sys, scaling; scaling.plan; scaling.fit_law; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
