"""Training speed of ``vnaw pretrain``: NLA steps of the shipped recipe in NCHW and NHWC layout.

Times whole training steps (augmentation, image + flip forward, NLA loss, backward, SGD step) of
``PretrainModule`` on random 48 px grey images, the two memory layouts measured alternately in one
run so machine load affects both alike, from the same initial weights. ``trainer.channels_last``
(default true) picks the layout in ``vnaw pretrain``.

    python benchmarks/pretrain_throughput.py [--threads 1] [--batch 64] [--steps 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import torch


def make_module(channels_last: bool, state: dict | None):
    from vnaw.training.pretrain_config import PretrainConfig
    from vnaw.training.pretrain_module import PretrainModule

    cfg = PretrainConfig()
    cfg.trainer.channels_last = channels_last
    module = PretrainModule(cfg)
    if state is not None:
        module.model.load_state_dict(state)
    module.log = lambda *a, **k: None  # no Trainer attached
    module.train()
    return module


def seconds_per_step(module, batch, steps: int) -> float:
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step():
        opt.zero_grad(set_to_none=True)
        module.training_step(batch, 0).backward()
        opt.step()

    step()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    nchw = make_module(False, None)
    nhwc = make_module(True, nchw.model.state_dict())
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 48, 48), dtype=torch.uint8, generator=gen)
    batch = (images, torch.randint(0, 8, (args.batch,), generator=gen))
    times: dict[str, list[float]] = {"NCHW": [], "NHWC (channels_last)": []}
    for _ in range(args.rounds):
        times["NCHW"].append(seconds_per_step(nchw, batch, args.steps))
        times["NHWC (channels_last)"].append(seconds_per_step(nhwc, batch, args.steps))
    best = {k: min(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch} (x2 with flip)")
    for name, s in best.items():
        print(f"{name:22s} {s:.3f} s/step  {args.batch / s:7.1f} images/s  (best of {args.rounds})")
    print(f"speed-up of channels_last: {best['NCHW'] / best['NHWC (channels_last)']:.2f}x")


if __name__ == "__main__":
    main()
