"""Difficulty calibration of the synthetic Aff-Wild2 generator (design §9).

Trains a per-frame classifier on the *noisy* training labels (frames labelled −1 left out) and
reports validation macro-F1 (eqs. 13–15) against the *clean* labels, per frame and after
temporal smoothing of its probabilities (a centred moving average), with per-class F1 and chance
levels. The default model is the quick baseline: multinomial logistic regression (balanced class
weights) on 24×24 grey pixels, each image standardised, then each pixel standardised — about
ten seconds on one core including generation. Alternatives: ``--model mlp`` (a small MLP on the
same pixels), ``--model cnn`` (a tiny CNN on the crops) or ``--model encoder`` (the frozen
shipped encoder's features, design §7.3).

The generator is well calibrated when the per-frame score is clearly above chance and clearly
below 100 %, smoothing over an episode-length window adds several points (single frames are
ambiguous, episodes are not), and every class has a non-zero F1.

    python benchmarks/synth_difficulty.py [--root DIR | --seed 0 ...] [--smooth 21] [--json PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _results import add_json_option, write_results
from vnaw.data.affwild2 import VideoRecord, index_dataset
from vnaw.data.synth import SynthConfig, generate, load_clean_labels
from vnaw.evaluation.metrics import macro_f1
from vnaw.labels import CLASSES, IGNORE_INDEX, NUM_CLASSES


def frame_pixels(rec: VideoRecord, side: int) -> np.ndarray:
    """``(N, side·side)`` grey pixels, standardised per image; missing crops take the nearest."""
    near = rec.nearest_crop()
    cache: dict[int, np.ndarray] = {}
    out = np.empty((rec.num_frames, side * side), dtype=np.float32)
    for k, src in enumerate(near):
        if src not in cache:
            img = Image.open(rec.crop_path(int(src))).convert("L").resize((side, side))
            x = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
            cache[src] = (x - x.mean()) / (x.std() + 1e-3)  # per image: lighting and skin tone
        out[k] = cache[src]
    return out


def frame_images(rec: VideoRecord, side: int) -> np.ndarray:
    """``(N, 3, side, side)`` RGB in [0, 1]; frames without a crop take the nearest crop."""
    near = rec.nearest_crop()
    cache: dict[int, np.ndarray] = {}
    out = np.empty((rec.num_frames, 3, side, side), dtype=np.float32)
    for k, src in enumerate(near):
        if src not in cache:
            img = Image.open(rec.crop_path(int(src))).convert("RGB").resize((side, side))
            cache[src] = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        out[k] = cache[src]
    return out


def train_cnn(x: np.ndarray, y: np.ndarray, epochs: int, seed: int):
    """A 4-layer CNN trained with Adam and flip augmentation; returns a predict-probs function."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def block(i: int, o: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)
        )

    net = nn.Sequential(
        block(3, 16),
        block(16, 32),
        block(32, 64),
        block(64, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(64, NUM_CLASSES),
    )
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(xt), generator=g).split(64):
            xb = xt[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = nn.functional.cross_entropy(net(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()

    def predict(xv: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([net(b).softmax(-1) for b in torch.from_numpy(xv).split(256)]).numpy()

    return predict


def smooth(probs: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` frames (edges average what exists)."""
    if width <= 1:
        return probs
    kernel = np.ones(width)
    num = np.stack([np.convolve(probs[:, c], kernel, "same") for c in range(probs.shape[1])], 1)
    den = np.convolve(np.ones(len(probs)), kernel, "same")[:, None]
    return num / den


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", type=Path, help="existing synthetic data set (else one is generated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=SynthConfig.noise)
    ap.add_argument("--side", type=int, default=24, help="downsampled side in pixels")
    ap.add_argument("--smooth", type=int, default=21, help="moving-average width in frames")
    ap.add_argument("--model", choices=("logreg", "mlp", "cnn", "encoder"), default="logreg")
    ap.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of logreg")
    ap.add_argument("--epochs", type=int, default=8, help="CNN epochs")
    add_json_option(ap)
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / "synth"
            t0 = time.perf_counter()
            generate(root, SynthConfig(seed=args.seed, noise=args.noise))
            print(f"generated default synthetic set in {time.perf_counter() - t0:.1f} s")
        records = index_dataset(root)
        clean = load_clean_labels(root)
        train = [r for r in records if r.split == "Train_Set"]
        val = [r for r in records if r.split == "Validation_Set"]
        feats = frame_images if args.model == "cnn" else frame_pixels
        if args.model == "encoder":  # the features pipeline: frozen shipped encoder, design §7.3
            from vnaw.features.extract import extract
            from vnaw.features.store import FeatureStore
            from vnaw.models.frame_encoder import load_encoder

            extract(records, Path(tmp) / "store", load_encoder("default"), progress=False)
            store = FeatureStore(Path(tmp) / "store")

            def feats(r: VideoRecord, side: int) -> np.ndarray:
                return np.asarray(store.features(r.name), dtype=np.float32)

        x_tr = np.concatenate([feats(r, args.side) for r in train])
        y_tr = np.concatenate([r.labels for r in train])
        keep = y_tr != IGNORE_INDEX
        t0 = time.perf_counter()
        if args.model == "cnn":
            predict = train_cnn(x_tr[keep], y_tr[keep], args.epochs, args.seed)
        else:
            scaler = StandardScaler().fit(x_tr[keep])
            if args.model == "mlp":
                from sklearn.neural_network import MLPClassifier

                clf = MLPClassifier(
                    (128,), alpha=1.0, max_iter=60, early_stopping=False, random_state=args.seed
                )
            else:
                c = args.C if args.model == "logreg" else 0.1
                clf = LogisticRegression(C=c, max_iter=1000, class_weight="balanced")
            clf.fit(scaler.transform(x_tr[keep]), y_tr[keep])

            def predict(x: np.ndarray) -> np.ndarray:
                p = np.zeros((len(x), NUM_CLASSES))
                p[:, clf.classes_] = clf.predict_proba(scaler.transform(x))
                return p

        print(f"trained {args.model} in {time.perf_counter() - t0:.1f} s")

        y_clean, y_noisy, p_frame, p_smooth = [], [], [], []
        for r in val:
            p = predict(feats(r, args.side))
            p_frame.append(p.argmax(1))
            p_smooth.append(smooth(p, args.smooth).argmax(1))
            y_clean.append(clean[r.name])
            y_noisy.append(r.labels)
        yc, yn = np.concatenate(y_clean), np.concatenate(y_noisy)
        pf, ps = np.concatenate(p_frame), np.concatenate(p_smooth)
        valid = yc[yc != IGNORE_INDEX]
        prior = np.bincount(y_tr[keep], minlength=NUM_CLASSES) / keep.sum()
        rng = np.random.default_rng(0)
        chance_prior = np.mean(
            [macro_f1(yc, rng.choice(NUM_CLASSES, yc.size, p=prior))[1] for _ in range(20)]
        )
        chance_uniform = np.mean(
            [macro_f1(yc, rng.integers(0, NUM_CLASSES, yc.size))[1] for _ in range(20)]
        )
        majority = macro_f1(yc, np.full(yc.size, int(prior.argmax())))[1]
        wrong = float(np.mean(yn[yc != IGNORE_INDEX] != valid))
        print(
            f"train frames {int(keep.sum())}, val frames {valid.size}, noisy≠clean on val {wrong:.1%}"
        )
        print(f"per-frame {args.model}, val macro-F1 vs clean : {100 * macro_f1(yc, pf)[1]:.2f}")
        print(
            f"  + moving average over {args.smooth} frames        : {100 * macro_f1(yc, ps)[1]:.2f}"
        )
        print(f"  (per frame vs the noisy val labels        : {100 * macro_f1(yn, pf)[1]:.2f})")
        print(
            f"chance: uniform {100 * chance_uniform:.2f}, train prior {100 * chance_prior:.2f}, "
            f"majority class {100 * majority:.2f}"
        )
        print(f"per-class F1 (frame): {np.round(100 * macro_f1(yc, pf)[0], 1).tolist()}")
        print(f"per-class F1 (smooth): {np.round(100 * macro_f1(yc, ps)[0], 1).tolist()}")
        f_frame, f_smooth = macro_f1(yc, pf), macro_f1(yc, ps)
        write_results(
            args.json,
            {
                "model": args.model,
                "train frames": int(keep.sum()),
                "val frames": int(valid.size),
                "noisy labels differing from clean on val": wrong,
                "macro-F1 % per frame (clean val labels)": 100 * f_frame[1],
                f"macro-F1 % smoothed over {args.smooth} frames": 100 * f_smooth[1],
                "macro-F1 % per frame (noisy val labels)": 100 * macro_f1(yn, pf)[1],
                "chance: uniform %": 100 * chance_uniform,
                "chance: train prior %": 100 * chance_prior,
                "chance: majority class %": 100 * majority,
                "per-class F1 %": [
                    {"class": c, "per frame": 100 * a, "smoothed": 100 * b}
                    for c, a, b in zip(CLASSES, f_frame[0], f_smooth[0], strict=True)
                ],
            },
        )


if __name__ == "__main__":
    main()
