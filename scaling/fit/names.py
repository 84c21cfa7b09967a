"""The approach names, importable without scipy: `scaling fit --approach` offers them at start-up,
and the registry (`scaling.fit.approaches.APPROACHES`) is keyed by exactly these (a test checks)."""

APPROACH_NAMES = ("1", "2", "3", "kaplan")
"""Chinchilla's Approaches 1-3 (Hoffmann et al. 2022, Sec. 3) and Kaplan et al. 2020's forms."""
CHOICES = (*APPROACH_NAMES, "all")
"""What `fit_runs` and `scaling fit --approach` accept."""
