"""Speed of the shipped encoder's trunk in NCHW and NHWC (channels_last) memory layout.

Every trunk vnaw builds runs in NHWC (``vnaw.models.encoder.channels_last``). This times, from the
same weights, the two layouts alternately in one run (so machine load affects both alike):

* inference: the encoder's forward pass on a batch of faces at its input size (``vnaw extract`` and the
  PyTorch path of ``vnaw predict``; the default ``predict`` runs ONNX Runtime and is not affected);
* a ``vnaw pretrain`` step of the shipped recipe: augmentation, image + flip forward, NLA loss,
  backward, SGD step (``PretrainModule.training_step``).

    python benchmarks/pretrain_throughput.py [--threads 1] [--batch 64] [--steps 8] [--rounds 3]

``--json PATH`` writes the figures for ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from _results import add_json_option, write_results


def as_nchw(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` in the plain NCHW layout (its trunk's layout hook removed)."""
    model = copy.deepcopy(model)
    model.trunk._forward_pre_hooks.clear()
    return model.to(memory_format=torch.contiguous_format)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def seconds_per_call(fn, steps: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=positive, default=1)
    ap.add_argument("--batch", type=positive, default=64, help="training images per step")
    ap.add_argument("--infer-batch", type=positive, default=256)
    ap.add_argument("--steps", type=positive, default=8)
    ap.add_argument("--rounds", type=positive, default=3)
    add_json_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from vnaw import ImageClassifier
    from vnaw.config import PretrainConfig
    from vnaw.training.pretrain_module import PretrainModule

    clf = ImageClassifier.from_default().eval()
    size, channels = clf.meta.input_size, clf.meta.channels
    faces = torch.randn(args.infer_batch, channels, size, size)
    cfg = PretrainConfig()
    cfg.model.init = "default"  # the shipped encoder's architecture and input settings
    modules = {}
    for layout in ("NCHW", "NHWC"):
        m = PretrainModule(cfg)
        m.model.load_state_dict(clf.state_dict())
        if layout == "NCHW":
            m.model = as_nchw(m.model)
        m.log = lambda *a, **k: None  # no Trainer attached
        modules[layout] = m.train()
    models = {"NCHW": as_nchw(clf), "NHWC": clf}
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, size, size), dtype=torch.uint8, generator=gen)
    batch = (images, torch.randint(0, 8, (args.batch,), generator=gen))

    def infer(layout: str):
        @torch.no_grad()
        def forward():
            models[layout](faces)

        return forward

    def train(layout: str):
        m = modules[layout]
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True)

        def step():
            opt.zero_grad(set_to_none=True)
            m.training_step(batch, 0).backward()
            opt.step()

        return step

    rows = {}
    for task, make, n in (
        ("inference", infer, args.infer_batch),
        ("pretrain step", train, args.batch),
    ):
        times = {"NCHW": [], "NHWC": []}
        for _ in range(args.rounds):
            for layout in times:
                times[layout].append(seconds_per_call(make(layout), args.steps))
        rows[task] = ({k: min(v) for k, v in times.items()}, n)
    print(f"torch {torch.__version__}, {args.threads} thread(s), best of {args.rounds} rounds")
    for task, (best, n) in rows.items():
        for layout, s in best.items():
            print(f"{task:14s} {layout}: {s:.3f} s per batch of {n}, {n / s:8.1f} images/s")
        print(f"{task:14s} NHWC speed-up: {best['NCHW'] / best['NHWC']:.2f}x")
    write_results(
        args.json,
        {
            "torch": torch.__version__,
            "threads": args.threads,
            "rounds": args.rounds,
            "layouts": [
                {"task": task, "layout": layout, "s per batch": s, "batch": n, "images/s": n / s}
                for task, (best, n) in rows.items()
                for layout, s in best.items()
            ],
            "NHWC speed-up": [
                {"task": task, "× NCHW": best["NCHW"] / best["NHWC"]}
                for task, (best, _) in rows.items()
            ],
        },
    )


if __name__ == "__main__":
    main()
