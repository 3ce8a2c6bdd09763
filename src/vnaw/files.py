"""Files: atomic writes, weights loading without pickles, shape checks, content hashes.

Every file the package writes goes through :func:`atomic_write`: the bytes go to a hidden temporary
name in the same folder (unique per process), are flushed to disk, and the file is renamed into
place (``os.replace`` is atomic). A crash or a full disk therefore never leaves a half-written file
under its final name, and two processes never share a temporary file.

Weights are read with safetensors, or with ``torch.load(..., weights_only=True)`` where a pickle
cannot be avoided (Lightning checkpoints, the ``.pth`` files of other projects): no file can run
code when it is opened. Every failure is a :class:`~vnaw.errors.ModelFileError` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from vnaw.errors import ModelFileError


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` through ``write(file)`` under a temporary name, fsync, rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_text(path, json.dumps(obj, indent=1) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """For writers that want a file name (matplotlib, pandas, ONNX): yield a temporary path in the
    same folder, renamed to ``path`` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path).with_suffix(path.suffix)  # keeps the extension writers look at
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    return atomic_write(path, lambda f: f.write(save(tensors, metadata=metadata)))


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
