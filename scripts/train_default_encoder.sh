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
# DLIB=dlib_face_recognition_resnet_model_v1.dat (CC0; in the PyPI package face_recognition_models)
# trains the candidate G6 of the model card's lever G instead: dlib's face-recognition ResNet as the
# trunk (scripts/dlib_trunk.py), three 9-epoch cycles at 96 px, two at 112 px (the last with
# muxspace's training part), about 2.6 hours at 2 threads; export to OUT_DIR/ferplus_dlib_resnet18_112.*.
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

if [ -n "${DLIB:-}" ]; then
    # Lever G (model card): E's cycle-4 recipe on the ported trunk, warm restarts every 9 epochs.
    trunk="$OUT/dlib_trunk96.safetensors"
    [ -f "$trunk" ] || python "$(dirname "$0")/dlib_trunk.py" "$DLIB" --ferplus "$F" --size 96 --out "$trunk"
    g=(--val "ferplus:$F" "muxspace:$M" --test "ferplus:$F" --epochs 9 --set
        "model.model_kwargs={layers: [3,4,3,3], channels: [32,64,128,256], stem_width: 32, avg_down: true}"
        model.stem_pool=true model.channels=1 "model.mean=[0.4497790766697304]"
        "model.std=[1.003921568627451]" optim.lr=0.01 optim.warmup_epochs=0.5 loss.soft=true)
    run G "${g[@]}" model.pretrained="$trunk" model.input_size=96
    run G2 "${g[@]}" model.init="$OUT/G/encoder" model.input_size=96
    run G3 "${g[@]}" model.init="$OUT/G2/encoder" model.input_size=96
    run G4 "${g[@]}" model.init="$OUT/G3/encoder" model.input_size=112
    run G6 "${g[@]}" model.init="$OUT/G4/encoder" model.input_size=112 \
        --data "ferplus:$F" "muxspace:$M" "muxspace:$M" "muxspace:$M"
    vnaw pretrain export --checkpoint "$OUT/G6/checkpoints/best.ckpt" \
        --out "$OUT/ferplus_dlib_resnet18_112" --half --onnx
    exit 0
fi

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
