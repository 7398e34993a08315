#!/bin/bash
# One shard of a sweep, as a Slurm array task runs it (sweep.sbatch calls this): the runs whose
# index is SLURM_ARRAY_TASK_ID modulo SLURM_ARRAY_TASK_COUNT, into out/<sweep>-shards/<task id>.
set -euo pipefail
SWEEP=${SWEEP:-sweeps/batch_reliability.json}
NAME=$(basename "$SWEEP" .json)
SIM=${SIM:-target/release/sim}
OUT=${OUT:-out}
exec "$SIM" sweep "$SWEEP" -j "${SLURM_CPUS_PER_TASK:-1}" -q --resume \
  --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" \
  --out "$OUT/$NAME-shards/$SLURM_ARRAY_TASK_ID"
