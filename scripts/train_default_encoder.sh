#!/usr/bin/env bash
# The shipped default encoder (src/vnaw/weights/MODEL_CARD.md), trained from scratch in one command:
#
#     scripts/train_default_encoder.sh FERPLUS_DIR MUXSPACE_DIR OUT_DIR
#
# Four NLA runs on FERPlus (28 + 10 + 10 + 10 epochs: about 3.7 hours on an idle 2-core machine,
# 3.7 min per epoch; muxspace's validation part only helps choose cycle 4's checkpoint), then the
# export of the shipped file pair and its ONNX copy to OUT_DIR/ferplus_resnet18_48.*. Resumable:
# rerun the same command after a crash; a finished run is skipped, an interrupted one continues
# from its last.ckpt. THREADS=N sets torch's CPU threads (default: every core; one thread takes
# about twice as long there; the shipped file was trained at one, which changes only rounding).
# SEED=N (default 0, the shipped file's) seeds weights and sample order of every cycle: a re-run
# with the same seed lands within rounding of the shipped file, another seed gives an independent
# network (e.g. for ensembles or to measure seed variance).
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 FERPLUS_DIR MUXSPACE_DIR OUT_DIR" >&2
    exit 2
fi
F=$1 M=$2 OUT=$3
THREADS=${THREADS:-$(nproc)} SEED=${SEED:-0}
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg

run() {  # run NAME ARGS...: vnaw pretrain into OUT/NAME unless it finished; resume if it started
    local name=$1
    shift
    if [ -f "$OUT/$name/encoder.safetensors" ]; then
        echo "$name: finished, skipped"
        return
    fi
    local resume=()
    [ -f "$OUT/$name/checkpoints/last.ckpt" ] && resume=(--resume)
    vnaw pretrain --data "ferplus:$F" --threads "$THREADS" --out "$OUT/$name" "$@" \
        --set trainer.seed="$SEED" "${resume[@]}"
}

# 1. From random weights: SGD lr 0.1, one warm-up epoch, cosine, 28 epochs (pretrain's defaults).
run cycle1 --loss nla --epochs 28
# 2.–3. Two warm restarts from the previous cycle's encoder at lr 0.02, 10 epochs each.
run cycle2 --epochs 10 --set model.init="$OUT/cycle1/encoder" optim.lr=0.02 optim.warmup_epochs=0.5
run cycle3 --epochs 10 --set model.init="$OUT/cycle2/encoder" optim.lr=0.02 optim.warmup_epochs=0.5
# 4. A fourth restart with FERPlus's vote distributions as soft targets, checkpoint chosen on
#    FERPlus valid + muxspace val (issue 13).
run cycle4 --val "ferplus:$F" "muxspace:$M" --test "ferplus:$F" --epochs 10 \
    --set model.init="$OUT/cycle3/encoder" optim.lr=0.02 optim.warmup_epochs=0.5 loss.soft=true
vnaw pretrain export --checkpoint "$OUT/cycle4/checkpoints/best.ckpt" \
    --out "$OUT/ferplus_resnet18_48" --half --onnx
