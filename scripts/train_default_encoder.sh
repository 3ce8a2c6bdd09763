#!/usr/bin/env bash
# The shipped default encoder (src/vnaw/weights/MODEL_CARD.md), trained in one command:
#
#     scripts/train_default_encoder.sh FERPLUS_DIR MUXSPACE_DIR DLIB_DAT OUT_DIR
#
# DLIB_DAT is dlib's CC0 face-recognition network, dlib_face_recognition_resnet_model_v1.dat, from
# the PyPI package face_recognition_models (docs/encoder.md). Its trunk is ported to timm
# (vnaw.models.dlib_trunk, through scripts/dlib_trunk.py), then trained with NLA on FERPlus's vote
# distributions in five 9-epoch cycles with warm restarts: three at 96 px, one at 112 px, and a
# last one at 112 px with muxspace's training part beside FERPlus. About 2.6 hours on an idle 2-core machine; then the export of the
# shipped files to OUT_DIR/ferplus_dlib_resnet18_112.{safetensors,json,onnx}.
# Resumable: rerun the same command after a crash; a finished cycle is skipped, an interrupted one
# continues from its last.ckpt. THREADS=N sets torch's CPU threads (default: every core; the
# shipped file was trained at two). SEED=N (default 0, the shipped file's) seeds weights and sample
# order of every cycle; another seed gives an independent network.
set -euo pipefail
if [ $# -ne 4 ]; then
    echo "usage: $0 FERPLUS_DIR MUXSPACE_DIR DLIB_DAT OUT_DIR" >&2
    exit 2
fi
F=$1 M=$2 DLIB=$3 OUT=$4
THREADS=${THREADS:-$(nproc)} SEED=${SEED:-0}
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg

data=(--data "ferplus:$F")  # the training sets of the next `run`
# Every cycle: checkpoint chosen on FERPlus valid + muxspace val pooled (mirror average).
opts=(--val "ferplus:$F" "muxspace:$M" --test "ferplus:$F" --epochs 9)

run() {  # run NAME KEY=VALUE...: vnaw pretrain into OUT/NAME unless it finished; resume if it started
    local name=$1
    shift
    if [ -f "$OUT/$name/encoder.safetensors" ]; then
        echo "$name: finished, skipped"
        return
    fi
    local resume=()
    [ -f "$OUT/$name/checkpoints/last.ckpt" ] && resume=(--resume)
    vnaw pretrain "$@" trainer.seed="$SEED" "${data[@]}" "${opts[@]}" --threads "$THREADS" \
        --out "$OUT/$name" "${resume[@]}"
}

trunk="$OUT/dlib_trunk96.safetensors"
[ -f "$trunk" ] || python "$(dirname "$0")/dlib_trunk.py" "$DLIB" --ferplus "$F" --size 96 --out "$trunk"
g=("model.model_kwargs={layers: [3,4,3,3], channels: [32,64,128,256], stem_width: 32, avg_down: true}"
    model.stem_pool=true model.channels=1 "model.mean=[0.4497790766697304]"
    "model.std=[1.003921568627451]" optim.lr=0.01 optim.warmup_epochs=0.5 loss.soft=true)
run G "${g[@]}" model.pretrained="$trunk" model.input_size=96
run G2 "${g[@]}" model.init="$OUT/G/encoder" model.input_size=96
run G3 "${g[@]}" model.init="$OUT/G2/encoder" model.input_size=96
run G4 "${g[@]}" model.init="$OUT/G3/encoder" model.input_size=112
data=(--data "ferplus:$F" "muxspace:$M" "muxspace:$M" "muxspace:$M")
run G6 "${g[@]}" model.init="$OUT/G4/encoder" model.input_size=112
vnaw pretrain export --checkpoint "$OUT/G6/checkpoints/best.ckpt" \
    --out "$OUT/ferplus_dlib_resnet18_112" --half --onnx
