"""Fitting: the one engine (`engine.fit_law`), its objective, one resampling helper, the
approach registry (Chinchilla Approaches 1, 2, 3 and Kaplan's laws) and `FitResult`."""
