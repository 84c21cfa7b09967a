"""The training world: the GPT model, the training loop, its runtime, muP, hyperparameter resolution,
resource bounds, named training configs and token corpora.

Only this package (and the sweep and tuning packages that drive it) may import torch; importing
`scaling.training` itself loads nothing heavy, so the sweep's parent process can resolve
configs and check bounds without torch. `scaling.plan`, `compare` and `fit` never import it.
"""
