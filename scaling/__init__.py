"""scaling: compute-optimal model size and tokens for a FLOP budget, from published or fitted laws.

The public API is re-exported here lazily (PEP 562), so `import scaling` stays light: planning
and fitting need neither torch nor matplotlib, and nothing heavy loads until it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from scaling.provenance import __version__

_EXPORTS = {
    "fit_law": "scaling.fit.engine",
    "FitResult": "scaling.fit.result",
    "read_runs": "scaling.runs",
    "plan": "scaling.planning.optimal",
    "Plan": "scaling.planning.optimal",
    "get_preset": "scaling.laws.presets",
    "resolve_law": "scaling.fit.result",
    "ModelConfig": "scaling.config",
    "TrainConfig": "scaling.config",
    "count_params": "scaling.flops",
    "suggest_shape": "scaling.flops",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scaling' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    # Importing a submodule binds it on the package under its own name (`scaling.plan` the
    # module); the export must win, so it is bound here after the import, once.
    globals()[name] = value
    return value
