"""``--ray [ADDRESS]``: the per-video function of a command as Ray tasks, one video per task.

Ray does the scheduling, the resource accounting (each task declares the CPUs and GPUs it uses)
and the retries: a task whose worker process or node dies is run again (``max_retries``), and
because a video's outputs are written atomically and its completion marker last, the retry simply
replaces whatever the lost attempt had written. Without an address (``--ray`` alone) a private
local instance is started and stopped with the command; ``--ray auto`` joins the cluster this
node belongs to, ``--ray HOST:PORT`` (or ``ray://HOST:10001``) a given one. The outputs go to
``--out``, which on a cluster must be a file system every node sees.

Ray is an optional dependency (``pip install "vnaw[ray]"``); without it ``--ray`` is one line of
error, before any work.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vnaw.errors import ConfigError

LOCAL = "local"  # the value of a bare --ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how the tasks run: ``address`` (:data:`LOCAL` or a cluster's), the local
    instance's size in tasks at once (``workers``), each task's CPUs and GPUs, its retries."""

    address: str = LOCAL
    workers: int = 1
    cpus: float = 1
    gpus: float = 0
    retries: int = 3

    @classmethod
    def from_args(cls, args, gpus: float = 0) -> RayOptions:
        return cls(
            address=args.ray,
            workers=args.workers,
            cpus=args.ray_cpus,
            gpus=args.ray_gpus if args.ray_gpus is not None else gpus,
            retries=args.ray_retries,
        )

    @property
    def local_cpus(self) -> int:
        return max(1, math.ceil(self.workers * self.cpus))


def require_ray():
    """The ``ray`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            '--ray needs Ray, which is not installed: pip install "vnaw[ray]" (or run without '
            "--ray, or split the folder with --shard K/N)"
        ) from None
    return ray


def _check_pyarrow() -> None:
    """Ray imports pyarrow when it is installed and fails on one that cannot load (a pyarrow
    built for numpy 2 beside numpy 1): say so in one line instead of its traceback."""
    try:
        import pyarrow  # noqa: F401
    except ModuleNotFoundError:
        pass  # not installed: Ray does without
    except ImportError as err:
        raise ConfigError(
            f"--ray: Ray cannot start because pyarrow, which is installed, does not load ({err}):"
            ' install a pyarrow that fits this numpy (pip install "pyarrow<21") or uninstall it'
        ) from None


@contextlib.contextmanager
def session(opts: RayOptions) -> Iterator[Any]:
    """Ray connected for the block: a private local instance of ``opts.local_cpus`` CPUs for
    :data:`LOCAL` (stopped afterwards), else the cluster at ``opts.address``. Quiet: no
    dashboard, the workers' output not copied to this terminal, errors only."""
    ray = require_ray()
    _check_pyarrow()
    address = opts.address
    if ray.is_initialized():  # a caller (a notebook, a test) connected already: use that
        yield ray
        return
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    if address == LOCAL:
        ray.init(num_cpus=opts.local_cpus, include_dashboard=False, **quiet)
    else:
        try:
            ray.init(address=address, **quiet)
        except ConnectionError as err:
            raise ConfigError(f"--ray {address}: cannot connect to a Ray cluster ({err})") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def run_tasks(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    opts: RayOptions,
    *,
    desc: str = "videos",
    progress: bool = True,
) -> Iterator[tuple[int, Any, str | None]]:
    """Run ``fn(*call)`` for each of ``calls`` as a Ray task; yields ``(index, result, None)`` as
    tasks finish, or ``(index, None, message)`` for a task Ray gave up on (its worker or node
    died more than ``opts.retries`` times). A progress bar counts the finished tasks."""
    import ray
    from tqdm import tqdm

    remote = ray.remote(num_cpus=opts.cpus, num_gpus=opts.gpus, max_retries=opts.retries)(fn)
    index = {remote.remote(*call): i for i, call in enumerate(calls)}
    pending = list(index)
    with tqdm(
        total=len(calls), desc=desc, unit="video", disable=not progress, file=sys.stderr
    ) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    yield index[ref], ray.get(ref), None
                except ray.exceptions.RayError as err:
                    yield index[ref], None, str(err).strip().splitlines()[0]
                bar.update()
