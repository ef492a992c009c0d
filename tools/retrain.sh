#!/usr/bin/env bash
# Retrain one committed run in a runs folder outside the checkout, analysing every checkpoint under both read-outs
# as it is written, into $BUMPDIFF_RETRAINS/<run folder>-<NAME> (default ~/.cache/bumpdiff/retrains: outside the
# checkout, so that a half-done retrain neither changes the generated report nor is lost with the checkout; never the
# committed bundle nor an earlier retrain's, so other weights are never mixed into them). Copy the folder into
# data/results/retrains/ and run `python -m bumpdiff report` to publish it. Resumable: run it again, in any clone,
# with the same NAME.
#   tools/retrain.sh EXPERIMENT SEED NAME [THREADS]      e.g. tools/retrain.sh phases 0 retrain2 1
# BUMPDIFF_RUNS / BUMPDIFF_SCRATCH default to ~/.cache/bumpdiff/{runs,scratch} here.
set -euo pipefail
cd "$(dirname "$0")/.."
exp=$1 seed=$2 name=$3 threads=${4:-0}
export BUMPDIFF_RUNS=${BUMPDIFF_RUNS:-$HOME/.cache/bumpdiff/runs} BUMPDIFF_SCRATCH=${BUMPDIFF_SCRATCH:-$HOME/.cache/bumpdiff/scratch}
[ "$threads" != 0 ] && export OMP_NUM_THREADS=$threads
PY=${PY:-.venv/bin/python}
read -r run steps shared_key independent_key < <($PY - "$exp" "$seed" <<'PYEOF'
import sys
from bumpdiff.core.train import checkpoint_steps, run_dir
from bumpdiff.experiments.registry import experiment
from bumpdiff.store.readouts import readout_analysis
cfg = next(c for c in experiment(sys.argv[1]).runs("cpu").values() if c.seed == int(sys.argv[2]))
print(run_dir(cfg), ",".join(map(str, checkpoint_steps(cfg))),
      *(readout_analysis("cpu", noise).key() for noise in ("shared", "independent")))
PYEOF
)
arch=$([ "$exp" = phases-additive ] && echo "model.arch=additive" || echo "")
out=${BUMPDIFF_RETRAINS:-$HOME/.cache/bumpdiff/retrains}/$(basename "$run")-$name
for step in ${steps//,/ }; do
    $PY -m bumpdiff train --profile cpu --set seed="$seed" $arch threads="$threads" --until "$step" --quiet --run-dir "$run"
    for noise in shared independent; do
        var=${noise}_key; key=${!var}
        $PY -m bumpdiff analyze "$run" --profile cpu --set noise="$noise" --steps "$step" --quiet --out "$out/analysis-$key"
    done
    echo "$(date -u +%FT%TZ) $exp seed $seed: step $step trained and analysed"
done
