"""Study design: which runs to train next so the interval at a target budget narrows fastest per
FLOP (`scaling design`, and the round-by-round loop `scaling sweep` runs for a [design] spec).

`goal` (what the study is for), `belief` (the law's draws and the run noise), `precision` (a
design's predicted interval width), `designer` (the candidate designs and the choice), `study`
(from runs to a proposal, the loop, the round's sweep spec)."""
