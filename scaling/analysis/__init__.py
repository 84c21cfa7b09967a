"""Analyses of laws: Kaplan vs Chinchilla (`compare`) and the back-test of fits against held-out
budgets (`backtest`)."""
