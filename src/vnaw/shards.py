"""``--shard K/N``: a stable share of a collection for one job of a scheduler's array.

A video belongs to shard ``1 + (int(sha1(relpath)) mod N)``, where ``relpath`` is its path
relative to the input folder (POSIX separators, with its extension; a single file: its name).
The share depends on the name alone, not on the other files, their order or their content: N jobs
of a SLURM array (or a Kubernetes indexed job) over the same folder cover it exactly once, and a
video added later does not move the others to another shard. The hash, not ``index mod N``, is
what makes that hold while the folder grows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → ``(K, N)`` with ``1 ≤ K ≤ N``; a ``ValueError`` (one line) otherwise."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(
            f"{text!r}: expected K/N, e.g. 2/8 (this job's number K of N jobs)"
        ) from None
    if not 1 <= k <= n:
        raise ValueError(f"{text!r}: K must be between 1 and N")
    return k, n


def shard_of(relpath: str, n: int) -> int:
    """The shard (1..n) of an input named ``relpath`` (relative, POSIX separators)."""
    digest = hashlib.sha1(relpath.encode("utf-8"), usedforsecurity=False).digest()
    return 1 + int.from_bytes(digest[:8], "big") % n


def relpath(path: Path, root: Path | None) -> str:
    """What :func:`shard_of` hashes: ``path`` relative to ``root`` (its name without a root)."""
    return (path.relative_to(root) if root else Path(path.name)).as_posix()


def take_shard(
    items: Sequence[T], shard: tuple[int, int] | None, name: Callable[[T], str]
) -> list[T]:
    """The items of shard ``(K, N)`` (all of them for ``None``), in their order."""
    if shard is None:
        return list(items)
    k, n = shard
    return [it for it in items if shard_of(name(it), n) == k]


def lock_name(command: str, shard: tuple[int, int] | None) -> str:
    """The output lock of a (sharded) command: shards of one folder run side by side."""
    return command if shard is None else f"{command}-shard{shard[0]}of{shard[1]}"
