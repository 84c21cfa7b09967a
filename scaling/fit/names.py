"""The approach names, importable without scipy: `scaling fit --approach` offers them at start-up,
and the registry (`scaling.fit.approaches.APPROACHES`) is keyed by exactly these (a test checks)."""

APPROACH_NAMES = ("1", "2", "3", "kaplan")
"""Chinchilla's Approaches 1-3 (Hoffmann et al. 2022, Sec. 3) and Kaplan et al. 2020's forms."""
CHOICES = (*APPROACH_NAMES, "all")
"""What `fit_runs` and `scaling fit --approach` accept."""
FLOPS_CONVENTIONS = ("6ND", "column")
"""What C means in an Approach 2 fit: 6 N D from the runs' params and tokens, or their flops column
(scaling.fit.isoflop)."""
FIT_AXES = ("params", "tokens")
"""The variable Approach 2's per-budget parabola is fitted in (log N or log D)."""
OBJECTIVES = ("huber-log", "lsq-log", "lsq")
"""What the engine minimises: Huber on log loss (Hoffmann et al. 2022), least squares on log loss,
or least squares on loss (Gadre et al. 2024; scipy curve_fit). scaling.fit.engine checks it is its list."""
