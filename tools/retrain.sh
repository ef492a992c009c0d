#!/usr/bin/env bash
# Retrain one committed run in a runs folder outside the checkout, analysing every checkpoint under both read-outs
# as it is written, into $BUMPDIFF_RETRAINS/<run folder>-<NAME> (default ~/.cache/bumpdiff/retrains: outside the
# checkout, so that a half-done retrain neither changes the generated report nor is lost with the checkout; never the
# committed bundle nor an earlier retrain's, so other weights are never mixed into them). Copy the folder into
# data/results/retrains/ and run `python -m bumpdiff report` to publish it. Resumable: run it again, in any clone,
# with the same NAME.
#   tools/retrain.sh EXPERIMENT SEED NAME [THREADS]      e.g. tools/retrain.sh phases 0 retrain2 1
# Training and analysis are two processes: one trains to the last step (THREADS threads, 0 = torch's choice, the
# run's own setting), the other analyses each checkpoint once it is on disk (one thread), so that on two cores with
# THREADS=1 neither waits for the other. The training's arithmetic does not depend on the analysis running beside it.
# BUMPDIFF_RUNS / BUMPDIFF_SCRATCH default to ~/.cache/bumpdiff/{runs,scratch} here; PROFILE defaults to cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
exp=$1 seed=$2 name=$3 threads=${4:-0} profile=${PROFILE:-cpu}
export BUMPDIFF_RUNS=${BUMPDIFF_RUNS:-$HOME/.cache/bumpdiff/runs} BUMPDIFF_SCRATCH=${BUMPDIFF_SCRATCH:-$HOME/.cache/bumpdiff/scratch}
PY=${PY:-.venv/bin/python}
read -r run steps shared_key independent_key < <($PY - "$exp" "$seed" "$profile" <<'PYEOF'
import sys
from bumpdiff.core.train import checkpoint_steps, run_dir
from bumpdiff.experiments.registry import experiment
from bumpdiff.store.readouts import readout_analysis
exp, seed, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = next(c for c in experiment(exp).runs(profile).values() if c.seed == seed)
print(run_dir(cfg), ",".join(map(str, checkpoint_steps(cfg))),
      *(readout_analysis(profile, noise).key() for noise in ("shared", "independent")))
PYEOF
)
arch=$([ "$exp" = phases-additive ] && echo "model.arch=additive" || echo "")
out=${BUMPDIFF_RETRAINS:-$HOME/.cache/bumpdiff/retrains}/$(basename "$run")-$name
steps=(${steps//,/ })
last=${steps[-1]}
ckpt() { [ -e "$run/$(printf 'ckpt_%07d.pt' "$1")" ]; }   # is the checkpoint of step $1 on disk
# shellcheck disable=SC2086
(
    [ "$threads" != 0 ] && export OMP_NUM_THREADS=$threads
    exec $PY -m bumpdiff train --profile "$profile" --set seed="$seed" $arch threads="$threads" --until "$last" --quiet \
        --run-dir "$run"
) &
trainer=$!
trap 'kill $trainer 2>/dev/null || true' EXIT
export OMP_NUM_THREADS=1
done_upto=-1   # index into steps of the last checkpoint analysed
while [ $done_upto -lt $((${#steps[@]} - 1)) ]; do
    ready=()
    for ((i = done_upto + 1; i < ${#steps[@]}; i++)); do
        ckpt "${steps[$i]}" || break
        ready+=("${steps[$i]}")
    done
    if [ ${#ready[@]} = 0 ]; then
        next=${steps[$((done_upto + 1))]}
        if ! kill -0 $trainer 2>/dev/null; then
            wait $trainer || { echo "training stopped before step $next" >&2; exit 1; }
            ckpt "$next" && continue   # written between the look and the trainer's exit
            echo "training ended without a checkpoint at step $next" >&2; exit 1
        fi
        sleep 30; continue
    fi
    for noise in shared independent; do
        var=${noise}_key; key=${!var}
        $PY -m bumpdiff analyze "$run" --profile "$profile" --set noise="$noise" --steps "${ready[@]}" --quiet \
            --out "$out/analysis-$key"
    done
    done_upto=$((done_upto + ${#ready[@]}))
    echo "$(date -u +%FT%TZ) $exp seed $seed: steps ${ready[0]}-${ready[-1]} trained and analysed"
done
wait $trainer
