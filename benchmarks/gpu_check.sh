#!/usr/bin/env bash
# GPU check of the paper's path, one script, about 10 minutes on one GPU:
#   1. end-to-end `paper` training passes with bf16 at the batch reading `paper` uses (4,096
#      frames per step; 2 clips of P = 100 per pass): frames/s and peak memory for Swin-T at 224 px
#      (random init: the architecture's cost) and for the shipped encoder, at the paper's
#      micro-batch and at a whole 8-GPU share (6 clips, no accumulation);
#   2. extraction throughput (`vnaw extract` against the bare forward) of the shipped encoder and
#      of Swin-T at 224 px;
#   3. `vnaw train paper` itself for two optimiser steps on a synthetic set (the real loop: loader
#      workers, accumulation, bf16), and the same with 2-process DDP when there are 2 GPUs.
#
#   HF_HUB_OFFLINE=1 bash benchmarks/gpu_check.sh [--out DIR] [--smoke] [--dry-run]
#
# --dry-run prints the commands without running them; --smoke runs them on the CPU at toy sizes
# (argument handling only, no figures). Everything printed is also in DIR/gpu_check.log.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

OUT=gpu_check
DRY=0
SMOKE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="${2:?--out needs a folder}"; shift ;;
    --dry-run) DRY=1 ;;
    --smoke) SMOKE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (use --out DIR, --smoke, --dry-run)" >&2; exit 2 ;;
  esac
  shift
done

HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python}"
SWIN=swin_tiny_patch4_window7_224
if [[ $SMOKE == 1 ]]; then
  DEV=cpu; PREC=fp32; CLIP=4; SMALL=1; SHARE=2; STEPS=1; VIDEOS=3; FRAMES=8; ACC=cpu
  BATCH_OVERRIDES=(data.clip_length=4 data.eval_stride=2 data.batch_size=8 data.clips_per_epoch=4)
else
  DEV=cuda; PREC=bf16; CLIP=100; SMALL=2; SHARE=6; STEPS=5; VIDEOS=8; FRAMES=100; ACC=gpu
  # 2 optimiser steps of the paper's batch: 2 × 41 clips, 21 passes of 2 clips each per step.
  BATCH_OVERRIDES=(data.clips_per_epoch=82)
fi
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: > "$LOG"

say() { echo "$*" | tee -a "$LOG"; }
run() {
  say "+ $*"
  [[ $DRY == 1 ]] && return 0
  local t0=$SECONDS
  if "$@" 2>&1 | tee -a "$LOG"; then say "  ($((SECONDS - t0)) s)"; else say "  FAILED ($((SECONDS - t0)) s)"; fi
}

GPUS=0
if [[ $SMOKE == 0 ]] && command -v nvidia-smi > /dev/null; then
  GPUS=$(nvidia-smi -L | wc -l)
  [[ $DRY == 1 ]] || nvidia-smi --query-gpu=name,memory.total --format=csv | tee -a "$LOG"
fi
say "gpu_check: device $DEV, precision $PREC, GPUs $GPUS, out $OUT"

say "== 1. end-to-end passes (encoder fine-tuned), $PREC"
for clips in "$SMALL" "$SHARE"; do
  run "$PY" "$HERE/e2e_throughput.py" --encoder "$SWIN" --random-init --device "$DEV" \
    --precision "$PREC" --clips "$clips" --clip "$CLIP" --steps "$STEPS"
done
run "$PY" "$HERE/e2e_throughput.py" --encoder default --device "$DEV" --precision "$PREC" \
  --clips "$SHARE" --clip "$CLIP" --steps "$STEPS"

say "== 2. extraction throughput"
run "$PY" "$HERE/extract_throughput.py" --encoder default --device "$DEV" --videos "$VIDEOS" \
  --frames "$FRAMES" --batch-size 256 --workers 4
run "$PY" "$HERE/extract_throughput.py" --encoder "$SWIN" --input-size 224 --device "$DEV" \
  --videos "$VIDEOS" --frames "$FRAMES" --batch-size 256 --workers 4

say "== 3. vnaw train paper (shipped encoder), two optimiser steps"
SYNTH="$OUT/synth"
[[ -f "$SYNTH/synth.json" ]] || run "$PY" -m vnaw data synth "$SYNTH" --videos "$((VIDEOS * 2))" \
  --frames "$((FRAMES * 3))" --size 112 --quiet
TRAIN=("$PY" -m vnaw train paper "data.root=$SYNTH" "${BATCH_OVERRIDES[@]}" optim.epochs=1
  data.num_workers=4 trainer.progress_bar=false "trainer.accelerator=$ACC")
run "${TRAIN[@]}" "out_dir=$OUT/paper1"
if [[ $GPUS -ge 2 ]]; then
  run "${TRAIN[@]}" "out_dir=$OUT/paper2" --devices 2 --strategy ddp
else
  say "(one GPU: no 2-process DDP step)"
fi
say "gpu_check: done; log in $LOG"
