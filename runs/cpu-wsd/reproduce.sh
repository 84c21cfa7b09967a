#!/usr/bin/env bash
# The whole cpu-wsd study in one command: train the cosine grid and both branched arms (resumes;
# finished runs are skipped), fit every approach to each, analyse, draw. About an hour on 2
# cores from scratch (3.36e13 FLOPs of cosine runs, 8.2e12 to 9.2e12 per branched arm); a minute when every
# run is in the store.
#
#     bash runs/cpu-wsd/reproduce.sh [OUT]
#
# The fits, the analysis and the figure go to OUT (default: a new scratch folder, printed at the
# end), never over the committed runs/cpu-wsd/fits/ and docs/figures/cpu-wsd.png; to refresh
# those, copy from OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
store=runs/cpu-wsd
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/cpu-wsd.XXXXXX")}
mkdir -p "$out/fits"
for spec in cpu-wsd-cosine cpu-wsd cpu-wsd-zero cpu-wsd-long; do
  scaling sweep "$spec" --out "$store" --workers 2
  scaling fit "$store/$spec" --approach all --bootstrap 1000 --level 0.9 --flops 1.5e12 --flops 1e13 \
    --out "$out/fits/$spec.json"
done
python "$store/analyze.py" --bootstrap 1000 --json "$out/analysis.json" | tee "$out/analysis.txt"
scaling plot branches "$store/cpu-wsd-zero" --runs "$store/cpu-wsd-cosine" --out "$out/cpu-wsd.png"
echo "fits in $out/fits/, analysis $out/analysis.txt, figure $out/cpu-wsd.png"
