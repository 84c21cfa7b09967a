"""What each size trains with: learning-rate and batch rules, fitted (`scaling tune`) or published.

`rules` holds the rules file (schema-tagged JSON) and the built-in DeepSeek preset; `optimum`
finds the best learning rate of a loss-vs-LR profile; `grid` runs an LR x batch grid through the
sweep runner and fits eta_opt(C) and B_opt(C) with the project's fitting engine.
"""
