#!/bin/bash
# A sweep split into shards run by GNU parallel (on this machine, or on several with
# --sshlogin), then merged. The result is byte-identical to `sim sweep $SWEEP`.
#
#   examples/parallel/sweep.sh sweeps/batch_reliability.json 8
set -euo pipefail
SWEEP=${1:-sweeps/batch_reliability.json}
SHARDS=${2:-4}
NAME=$(basename "$SWEEP" .json)
SIM=${SIM:-target/release/sim}

seq 0 $((SHARDS - 1)) | parallel --halt now,fail=1 \
  "$SIM" sweep "$SWEEP" -j 1 -q --resume --shard {}/"$SHARDS" --out out/"$NAME"-shards/{}
"$SIM" merge out/"$NAME"-shards/* --out out/"$NAME"
