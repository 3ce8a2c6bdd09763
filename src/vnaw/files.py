"""Files: atomic writes, weights loading without pickles, shape checks, content hashes.

Every file the package writes goes through :func:`atomic_write`: the bytes go to a hidden temporary
name in the same folder (unique per process), are flushed to disk, and the file is renamed into
place (``os.replace`` is atomic). A crash or a full disk therefore never leaves a half-written file
under its final name, and two processes never share a temporary file.

Weights are read with safetensors, or with ``torch.load(..., weights_only=True)`` where a pickle
cannot be avoided (Lightning checkpoints, the ``.pth`` files of other projects): no file can run
code when it is opened. Every failure is a :class:`~vnaw.errors.ModelFileError` naming the file.

A write that fails (full disk, quota, I/O error) raises an ``OSError`` whose ``filename`` is the
file being written — whatever library did the writing — so the command line can name it; on a full
disk the message also says how much was free and how much the file needed at least.

One writer per output: :func:`output_lock` holds an advisory lock on an output folder for the whole
command, so a second ``vnaw`` writing to the same place is refused at once instead of mixing files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from vnaw.errors import ModelFileError, VnawError


class OutputBusyError(VnawError, RuntimeError):
    """Another process holds the output lock of a folder (:func:`output_lock`)."""


def tmp_name(path: str | os.PathLike[str], suffix: str = "") -> Path:
    """A hidden temporary name next to ``path``, unique per process and per call (pid and a
    random part), ending in ``suffix`` (writers that pick a format by extension want one):
    ``.x.png`` -> ``.x.png.tmp-1234-9f2c01ab.png``. Every temporary file or folder of the package
    is named here, so a cleanup can match ``.NAME.*tmp-*``."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{unique_tag()}{suffix}")


def unique_tag() -> str:
    """``<pid>-<8 random hex digits>``: unique per process and per call."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any], size: int | None = None
) -> Path:
    """Write ``path`` through ``write(file)`` under a temporary name, fsync, rename into place.

    ``size`` (bytes, where the caller knows it) goes into the message of a full disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    written = 0
    try:
        with open(tmp, "wb") as f:
            try:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            finally:
                with contextlib.suppress(OSError, ValueError):
                    written = f.tell()
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise write_error(err, path, written, size, tmp) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_error(
    err: OSError, path: Path, written: int = 0, size: int | None = None, tmp: Path | None = None
) -> OSError:
    """``err`` as an ``OSError`` naming ``path`` (not its temporary name ``tmp``). A full disk
    (which some writers report only as "N requested and M written", with no errno) says how much
    space was free and how much the file needs (``size``, else more than the ``written`` bytes)."""
    free = _free_bytes(path.parent)
    full = err.errno in (errno.ENOSPC, errno.EDQUOT) or (err.errno is None and free < (1 << 20))
    if not full:
        if err.filename and err.filename != str(tmp):
            return err  # about another file than the one being written
        return OSError(err.errno, err.strerror or str(err), str(path))
    if size:
        need = f"; it needs {_size(size)}"
    else:
        need = f"; it needs more than {_size(written)}" if written else ""
    return OSError(errno.ENOSPC, f"No space left on device ({_size(free)} free{need})", str(path))


def describe_os_error(err: OSError) -> str:
    """One line for an ``OSError``: the file it names (a newline in the name shown as ``\\n``),
    what happened and, for a full disk, that finished work is kept."""
    where = f"{one_line(str(err.filename))}: " if err.filename else ""
    what = err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        what += " (free some space and run the command again: finished work is kept)"
    return f"{where}{what}"


def one_line(text: str) -> str:
    """``text`` with line breaks shown as ``\\n`` / ``\\r``: a file name never splits a line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _free_bytes(folder: Path) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folder may not be made yet: the disk it would be on
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} kB"


def atomic_text(path: str | os.PathLike[str], text: str) -> Path:
    data = text.encode()
    return atomic_write(path, lambda f: f.write(data), len(data))


def atomic_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_text(path, json.dumps(obj, indent=1) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """For writers that want a file name (matplotlib, pandas, ONNX): yield a temporary path in the
    same folder, renamed to ``path`` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path, path.suffix)  # keeps the extension writers look at
    try:
        try:
            yield tmp
        except OSError as err:
            written = tmp.stat().st_size if tmp.exists() else 0
            raise write_error(err, path, written, tmp=tmp) from err
        _fsync(tmp, path)  # the writer closed it; its bytes reach the disk before the rename
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(tmp: Path, path: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        raise write_error(err, path, tmp.stat().st_size, tmp=tmp) from err
    finally:
        os.close(fd)


_HELD: set[Path] = set()  # output locks held by this process (see output_lock)


@contextlib.contextmanager
def output_lock(root: str | os.PathLike[str], name: str = "vnaw") -> Iterator[Path]:
    """Hold the advisory lock ``root/.<name>.lock`` while the block runs: one writer per output.

    A second process asking for the same lock gets :class:`OutputBusyError` at once ("another vnaw
    is writing to ROOT (pid N)") instead of waiting. ``name`` separates writers that may share a
    folder (e.g. ``extract-rank1``). The lock is a POSIX record lock (``fcntl.lockf``): it belongs
    to the process, is not inherited by forked data-loader workers, and the kernel drops it the
    moment the process dies, so a rerun right after ``kill -9`` is accepted. Record locks do not
    conflict within one process, so this process refuses its own second request itself (and
    nothing else may open the lock file while it is held: closing any descriptor of a file drops
    the process's record locks on it). The file stays after a run (removing it would race); a
    block that fails in a folder this call made, leaving only lock files, removes them and the
    folder. POSIX only: elsewhere the lock is a no-op.
    """
    root = Path(root)
    made = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f".{name}.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield path
        return
    key = path.resolve()
    if key in _HELD:
        raise _busy(root, str(os.getpid()))
    failed = False
    with open(path, "a+") as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            f.seek(0)
            raise _busy(root, f.read().strip() or "?") from None
        _HELD.add(key)
        with contextlib.suppress(OSError):  # the pid is for the message only; a full disk
            f.seek(0)  # must fail on the file being written, not here
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
        try:
            yield path
        except BaseException:
            failed = True
            raise
        finally:
            _HELD.discard(key)
            if failed and made:  # a refused command leaves no folder holding only its lock
                _remove_if_only(root, path)
            fcntl.lockf(f, fcntl.LOCK_UN)


def _busy(root: Path, pid: str) -> OutputBusyError:
    return OutputBusyError(
        f"another vnaw is writing to {root} (pid {pid}): wait for it to finish or use another "
        "output folder"
    )


def _remove_if_only(root: Path, lock: Path) -> None:
    """Remove ``root`` if it holds nothing but lock files (``lock`` among them)."""
    with contextlib.suppress(OSError):
        kids = list(root.iterdir())
        if lock in kids and all(k.name.startswith(".") and k.suffix == ".lock" for k in kids):
            for k in kids:
                k.unlink()
            root.rmdir()


def file_hash(path: str | os.PathLike[str]) -> str:
    """First 16 hex digits of the SHA-256 of a file: identifies weights."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_torch(path: str | os.PathLike[str]) -> Any:
    """A torch file (checkpoint or state dict) read with ``weights_only=True``: plain containers
    and tensors only, whatever torch's default."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # whatever torch raises (truncated zip, pickle refused, …)
        raise ModelFileError(
            f"{path}: not a readable weights file ({type(err).__name__}: {err})".splitlines()[0]
        ) from None


def load_npy(
    path: str | os.PathLike[str],
    mmap_mode: str | None = None,
    error: type[Exception] = ModelFileError,
) -> Any:
    """A ``.npy`` array read without pickles (``allow_pickle=False``); a truncated, pickled or
    foreign file raises ``error`` naming it."""
    import numpy as np

    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except (ValueError, EOFError, OSError) as err:  # numpy's words for truncated and pickled
        what = " ".join(str(err).split()) or type(err).__name__
        raise error(f"{path}: not a readable numeric .npy array ({what})") from None


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A state dict from ``.safetensors`` or a torch file (``weights_only``); a Lightning-style
    ``{"state_dict": …}`` wrapper is unwrapped."""
    path = Path(path)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise ModelFileError(f"{path}: file not found")
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise ModelFileError(f"{path}: not a readable safetensors file ({err})") from None
    state = load_torch(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def save_safetensors(
    path: str | os.PathLike[str], state: Mapping[str, Any], metadata: dict[str, str] | None = None
) -> Path:
    """Write a state dict as safetensors, atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    data = save(tensors, metadata=metadata)
    return atomic_write(path, lambda f: f.write(data), len(data))


def load_into(module: Any, state: Mapping[str, Any], source: str | os.PathLike[str]) -> None:
    """``module.load_state_dict(state)`` after :func:`check_fits`; tensors are cast to the
    module's dtypes (fp16 files load into fp32 models)."""
    check_fits(module, state, source)
    expected = module.state_dict()
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def check_fits(module: Any, state: Mapping[str, Any], source: str | os.PathLike[str]) -> None:
    """A :class:`ModelFileError` naming ``source`` and the first differences unless ``state`` has
    exactly the names and shapes of ``module``'s state dict."""
    expected = module.state_dict()
    wrong = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if wrong or missing or extra:
        parts = [
            f"{len(keys)} {what} (e.g. {', '.join(keys[:3])})"
            for what, keys in (("wrong shape", wrong), ("missing", missing), ("unexpected", extra))
            if keys
        ]
        raise ModelFileError(f"{source}: weights do not fit the model: {'; '.join(parts)}")
