#!/usr/bin/env bash
# The whole cpu-isoflop study in one command: train (resumes; finished runs are skipped), fit
# with both parameter conventions, analyse, back-test and draw. About 3 hours on 2 cores from
# scratch; minutes when every run is already in the store.
#
#     bash runs/cpu-isoflop/reproduce.sh [OUT]
#
# The fits and the figure go to OUT (default: a new scratch folder, printed at the end), never
# over the committed runs/cpu-isoflop/fits/ and docs/figures/cpu-isoflop.png: a bootstrap rerun
# agrees with them to the digits printed, not to the last bit. On the committed store the sweep
# step trains nothing and leaves the store as it is. To refresh the committed files, copy from OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
store=runs/cpu-isoflop
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/cpu-isoflop.XXXXXX")}
mkdir -p "$out/fits"
scaling sweep cpu-isoflop --workers 2
scaling fit "$store" --approach all --bootstrap 1000 --out "$out/fits/total.json"
scaling fit "$store" --approach all --bootstrap 1000 --nonembedding --out "$out/fits/nonembedding.json"
python "$store/analyze.py"
scaling backtest "$store"
scaling plot isoflop "$store" --out "$out/cpu-isoflop.png"
echo "fits in $out/fits/, figure $out/cpu-isoflop.png"
