#!/usr/bin/env bash
# The whole cpu-isoflop study in one command: train (resumes; finished runs are skipped), fit
# with both parameter conventions, analyse, back-test and draw. About 3 hours on 2 cores from
# scratch; minutes when every run is already in the store.
#
#     bash runs/cpu-isoflop/reproduce.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
store=runs/cpu-isoflop
scaling sweep cpu-isoflop --workers 2
scaling fit "$store" --approach all --bootstrap 1000 --out "$store/fits/total.json"
scaling fit "$store" --approach all --bootstrap 1000 --nonembedding --out "$store/fits/nonembedding.json"
python "$store/analyze.py"
scaling backtest "$store"
scaling plot isoflop "$store" --out docs/figures/cpu-isoflop.png
