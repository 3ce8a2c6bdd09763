"""int8 quantisation of the shipped encoder's ONNX copy: FERPlus test accuracy and speed against
float32, in one run (the ship rule: accuracy within 0.3 points).

Static quantisation with ONNX Runtime (QDQ, int8 weights per channel, uint8 activations; the
softmax stays float),
calibrated on a seeded sample of FERPlus *train* images; both graphs then score FERPlus test under
the majority protocol (design §3.2), 8-way argmax of the crops as stored, as `vnaw predict` feeds
the encoder (no mirror). Speed: milliseconds per crop at batch 64, one thread, both graphs
alternated. Run::

    python benchmarks/quantize_encoder.py --ferplus ../shared/data/ferplus --out /tmp/int8.onnx [--ship]

Measured (FERPlus test, n = 3137): float32 87.09 %, int8 87.03 % (−0.06 points; 18 of 3137
predictions differ, largest probability difference 0.117); 3.76 against 1.40 CPU ms per crop
(2.68×); 8.9 MB against 4.6 MB. Shipped: ``src/vnaw/weights/ferplus_dlib_resnet18_112.int8.onnx``,
which ``vnaw predict`` runs by default (:class:`vnaw.models.onnx_frames.OnnxFrameModel`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_json_option, write_results


def crops(paths) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p).convert("L")) for p in paths]


def session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def probs(sess, x: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.concatenate(
        [sess.run(["probs"], {"images": x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    )


def copy_metadata(src: Path, dst: Path) -> None:
    """The float32 copy's metadata (the hash of the weights it was made from) onto ``dst``."""
    import onnx

    from vnaw.files import atomic_path

    graph = onnx.load(str(dst))
    del graph.metadata_props[:]
    graph.metadata_props.extend(onnx.load(str(src)).metadata_props)
    with atomic_path(dst) as tmp:
        onnx.save(graph, str(tmp))


def main() -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vnaw.data.static import read_ferplus
    from vnaw.models.meta import default_encoder_path, encoder_paths, read_meta
    from vnaw.models.onnx_frames import int8_path, onnx_path
    from vnaw.models.preprocess import preprocess_array

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ferplus", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("/tmp/vnaw_encoder_int8.onnx"))
    ap.add_argument("--calibration", type=int, default=512, help="FERPlus train images")
    ap.add_argument(
        "--ship", action="store_true", help="copy the int8 graph beside the shipped encoder if "
        "the ship rule holds (vnaw.models.onnx_frames.int8_path)",
    )  # fmt: skip
    add_json_option(ap)
    args = ap.parse_args()

    stem = default_encoder_path()
    meta = read_meta(encoder_paths(stem)[1])
    fp32 = onnx_path(stem)
    train = read_ferplus(args.ferplus, "train")
    pick = random.Random(0).sample(range(len(train)), args.calibration)
    calib = preprocess_array(crops([train.paths[i] for i in pick]), meta)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"images": calib[i : i + 32]} for i in range(0, len(calib), 32)])

        def get_next(self):
            return next(self.batches, None)

    pre = args.out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    quantize_static(
        str(pre), str(args.out), Reader(), quant_format=QuantFormat.QDQ,
        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, per_channel=True,
        # all but the softmax, whose quantised output would round probabilities to 1/255 steps
        # (quantising only the convolutions and the classifier cost 0.22 points instead of 0.06)
        nodes_to_exclude=[n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Softmax"],
    )  # fmt: skip
    test = read_ferplus(args.ferplus, "test")
    x = preprocess_array(crops(test.paths), meta)
    a, b = session(fp32), session(args.out)
    pa, pb = probs(a, x), probs(b, x)
    acc = [100 * float((p.argmax(1) == test.labels).mean()) for p in (pa, pb)]
    print(f"FERPlus test (majority, n = {len(test)}), 8-way accuracy:")
    print(
        f"  float32 {acc[0]:.2f} %, int8 {acc[1]:.2f} % (difference {acc[1] - acc[0]:+.2f} points)"
    )
    print(f"  predictions that differ: {int((pa.argmax(1) != pb.argmax(1)).sum())}")
    print(f"  largest probability difference: {np.abs(pa - pb).max():.3f}")
    times = {"float32": [], "int8": []}
    xb = x[:64]
    for _ in range(5):
        for name, s in (("float32", a), ("int8", b)):
            t0 = time.process_time()
            for _ in range(5):
                s.run(["probs"], {"images": xb})
            times[name].append(1000 * (time.process_time() - t0) / (5 * len(xb)))
    f, q = (float(np.median(times[k])) for k in ("float32", "int8"))
    print(
        f"  CPU ms per crop (batch 64, 1 thread, median of 5): float32 {f:.3f}, int8 {q:.3f} ({f / q:.2f}×)"
    )
    print(
        f"  sizes: float32 {fp32.stat().st_size / 1e6:.1f} MB, int8 {args.out.stat().st_size / 1e6:.1f} MB"
    )
    holds = abs(acc[1] - acc[0]) <= 0.3
    figures = {
        "FERPlus test faces": len(test),
        "float32 accuracy %": acc[0],
        "int8 accuracy %": acc[1],
        "float32 CPU ms/crop": f,
        "int8 CPU ms/crop": q,
        "ship rule holds": holds,
    }
    write_results(args.json, figures)
    print("  ship rule (within 0.3 points): " + ("holds" if holds else "FAILS"))
    if args.ship and holds:
        import shutil

        shutil.copy(args.out, int8_path(stem))
        copy_metadata(fp32, int8_path(stem))
        print(f"  wrote {int8_path(stem)}")


if __name__ == "__main__":
    main()
