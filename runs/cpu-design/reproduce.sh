#!/usr/bin/env bash
# The whole cpu-design study in one command: the designed rounds (resumes: finished runs are
# skipped, an interrupted round is trained as it was proposed), the fits, the analysis, the
# back-test and the figure. About 2 hours on 2 cores from scratch; minutes on the committed store.
#
#     bash runs/cpu-design/reproduce.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
store=runs/cpu-design
scaling sweep cpu-design --workers 2
scaling runs "$store" | tail -n 12
scaling fit "$store" --approach all --bootstrap 1000 --out "$store/fits/total.json"
python runs/cpu-isoflop/analyze.py "$store"
scaling backtest "$store"
scaling plot isoflop "$store" --out docs/figures/cpu-design.png
