"""``vnaw demo`` — the whole pipeline on built-in synthetic data, on a CPU, in a few minutes.

1. generate the synthetic Aff-Wild2-layout data set (design §9), unless it is already there;
2. pretrain a small image encoder on its frames with the NLA loss (``vnaw pretrain``, design §5);
3. cache per-frame features (``vnaw extract``, design §7.3);
4. train V-NAW on them (``vnaw train``, ``configs/demo.yaml``) and evaluate it on the validation
   videos against the noisy and the clean labels (``vnaw evaluate``).

Every step resumes: rerunning the command after an interruption skips what is finished.

The figures are the same on every run of the same version on CPU: every step is seeded, runs on
one torch thread (thread counts change the order of float sums; one thread is also the fastest on
a busy machine) with torch's deterministic algorithms.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from vnaw.files import atomic_json

DEMO_CONFIG = "demo.yaml"
DEMO_THREADS = 1  # every stage, encoder pretraining included


def deterministic_torch(threads: int = DEMO_THREADS) -> None:
    """Fixed thread count and deterministic algorithms (warning where an op has none)."""
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _step(n: int, text: str) -> float:
    print(f"\n[{n}/4] {text}", flush=True)
    return time.time()


def prepare_synthetic(
    out: Path,
    *,
    seed: int = 0,
    erased_views: int = 2,
    progress: bool = True,
    timings: dict | None = None,
    synth: dict | None = None,
    pretrain: list[str] | None = None,
) -> tuple[Path, Path]:
    """Steps 1–3: synthetic data, NLA-pretrained encoder, feature store; returns (data, store).

    ``synth``: generator settings other than the seed (:class:`~vnaw.data.synth.SynthConfig`);
    ``pretrain``: overrides of the encoder pretraining (tests shrink it)."""
    from vnaw.data.affwild2 import index_dataset
    from vnaw.data.synth import SynthConfig, generate
    from vnaw.features.extract import extract
    from vnaw.features.store import EraseSpec
    from vnaw.models.frame_encoder import load_encoder
    from vnaw.training.pretrain import run_pretrain
    from vnaw.training.pretrain_config import load_config

    deterministic_torch()
    timings = {} if timings is None else timings
    data, enc_dir, store = out / "data", out / "encoder", out / "features"

    t = _step(1, f"synthetic Aff-Wild2-layout data set -> {data}")
    if not (data / "synth.json").is_file():
        generate(data, SynthConfig(seed=seed, **(synth or {})), progress=progress)
    timings["data"] = time.time() - t

    t = _step(2, f"NLA pretraining of a small image encoder on the training frames -> {enc_dir}")
    encoder_file = enc_dir / "encoder"
    if not encoder_file.with_suffix(".safetensors").is_file():
        cfg = load_config(
            str(resources.files("vnaw") / "configs" / "demo_pretrain.yaml"),
            [
                f"data.train=[affwild2:{data}]",
                f"trainer.out_dir={enc_dir}",
                f"trainer.seed={seed}",
                f"trainer.progress={progress}",
                f"trainer.threads={DEMO_THREADS}",
                *(pretrain or []),
            ],
        )
        run_pretrain(cfg)
    timings["pretrain"] = time.time() - t

    t = _step(3, f"per-frame features (+{erased_views} erased views) -> {store}")
    extract(
        index_dataset(data),
        store,
        load_encoder(encoder_file),
        erase=EraseSpec(views=erased_views, seed=seed),
        batch_size=128,
        progress=progress,
    )
    timings["extract"] = time.time() - t
    return data, store


def demo_config(data: Path, store: Path, run_dir: Path, overrides: list[str] | None = None):
    """``configs/demo.yaml`` pointed at a prepared synthetic data set and store."""
    from vnaw.config import load_config

    config_file = resources.files("vnaw") / "configs" / DEMO_CONFIG
    base = [f"data.root={data}", f"data.features={store}", f"out_dir={run_dir}"]
    return load_config(str(config_file), base + list(overrides or []))


def run_demo(
    out: Path,
    *,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    synth: dict | None = None,
    pretrain: list[str] | None = None,
) -> dict:
    from vnaw.experiments import train_and_score

    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    # The demo config trains without in-frame erasing (see configs/demo.yaml): no erased views.
    data, store = prepare_synthetic(
        out,
        seed=seed,
        erased_views=0,
        progress=progress,
        timings=timings,
        synth=synth,
        pretrain=pretrain,
    )
    run_dir = out / "run"

    eval_dir = run_dir / "eval-official"
    _step(4, f"V-NAW training (configs/{DEMO_CONFIG}) -> {run_dir}, then evaluation -> {eval_dir}")
    overrides = [
        f"trainer.seed={seed}",
        f"trainer.progress_bar={progress}",
        f"trainer.threads={DEMO_THREADS}",
    ]
    if epochs is not None:
        overrides.append(f"optim.epochs={epochs}")
    cfg = demo_config(data, store, run_dir, overrides)
    metrics = train_and_score(cfg, eval_dir, progress=progress, timings=timings)

    print("\n" + (eval_dir / "metrics.md").read_text())
    for name, m in metrics.items():
        print(f"macro-F1 vs {name}: {m['macro_f1']:.2f} % over {m['frames']} frames")
    print(f"\nper-frame predictions: {eval_dir / 'predictions.csv'}")
    print(
        f"plots: {eval_dir} (confusion.png, timeline_*.png, naw_weights.png), {run_dir / 'training.png'}"
    )
    print("time per step (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    summary = {"metrics": metrics, "seconds": timings, "out": str(out)}
    atomic_json(out / "demo.json", summary)
    return summary
