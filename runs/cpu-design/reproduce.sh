#!/usr/bin/env bash
# The whole cpu-design study in one command: the designed rounds (resumes: finished runs are
# skipped, an interrupted round is trained as it was proposed), the fits, the analysis, the
# back-test and the figure. About 2 hours on 2 cores from scratch; minutes on the committed store.
#
#     bash runs/cpu-design/reproduce.sh [OUT]
#
# The fits and the figure go to OUT (default: a new scratch folder, printed at the end), never
# over the committed runs/cpu-design/fits/ and docs/figures/cpu-design.png: a bootstrap rerun
# agrees with them to the digits printed, not to the last bit. On the committed store the design
# loop trains nothing and leaves the store as it is. To refresh the committed files, copy from OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
store=runs/cpu-design
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/cpu-design.XXXXXX")}
mkdir -p "$out/fits"
scaling sweep cpu-design --workers 2
scaling runs "$store" | tail -n 12
scaling fit "$store" --approach all --bootstrap 1000 --out "$out/fits/total.json"
python runs/cpu-isoflop/analyze.py "$store"
scaling backtest "$store"
scaling plot isoflop "$store" --out "$out/cpu-design.png"
echo "fits in $out/fits/, figure $out/cpu-design.png"
