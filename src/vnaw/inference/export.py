"""A video model (encoder + temporal model) as one ONNX graph (``vnaw export``) — design §6.

The exported graph takes normalised face crops of a clip and their presence flags and gives the
per-frame probabilities of eq. 8::

    frames  (B, T, C, S, S) float32   crops normalised as the run's encoder expects (C, S, mean,
                                      std are stored in the ONNX metadata)
    present (B, T) bool               False for frames without a face (masked out of attention)
    probs   (B, T, 8) float32         per-frame class probabilities, design §2 order

``B`` and ``T`` are dynamic (``T ≥ 2``: torch.export specialises size-1 axes). Whole-video inference (windows, averaging, filling) stays outside the
graph, as in :mod:`vnaw.inference.predict`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vnaw.errors import ModelFileError
from vnaw.files import atomic_path
from vnaw.labels import CLASSES
from vnaw.models.onnx_video import part_paths
from vnaw.models.video import VideoModel


class _Probs(nn.Module):
    """The graph's output: per-frame probabilities only."""

    def __init__(self, model: VideoModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor, present: Tensor) -> Tensor:
        return self.model(frames, present).probs  # (B, T, K), eqs. 6–8


def _example(model: VideoModel, batch: int, length: int) -> Tensor:
    m = model.meta
    assert m is not None
    return torch.zeros(batch, length, m.channels, m.input_size, m.input_size)


# The lowest opset torch's exporter implements (torch ≥ 2.9; it moves a lower ask up to it, with a
# warning, then fails to convert back: measured with torch 2.14). A lower opset is reached by
# exporting at this one, folding constants, and converting with ONNX's own version converter.
EXPORTER_OPSET = 18


def export_onnx(model: VideoModel, out: str | Path, *, opset: int = 17) -> Path:
    """Write the ONNX graph of a video model (encoder + temporal model) at ``opset``; returns
    ``out``. The file's default-domain opset is ``opset`` exactly, or nothing is written.

    Beside it go the two graphs ``vnaw predict --model OUT`` streams a video through without
    PyTorch (:func:`part_paths`, :class:`vnaw.models.onnx_video.OnnxVideoModel`): the encoder
    (crops → features) and the temporal model (features of windows → probabilities)."""
    frames = _example(model, 2, 5)
    present = torch.ones(2, 5, dtype=torch.bool)
    present[0, 1] = False  # trace the masked path
    batch, length = torch.export.Dim("batch", min=1), torch.export.Dim("time", min=2)
    out = Path(out)
    enc_path, tmp_path = part_paths(out)
    feats = model.encode(frames.flatten(0, 1)).view(2, 5, -1).detach()
    _export(
        _Temporal(model), (feats, present), ["features", "present"],
        {"features": {0: batch, 1: length}, "present": {0: batch, 1: length}}, tmp_path, model,
        opset,
    )  # fmt: skip
    n = torch.export.Dim("n", min=2)
    _export(_Features(model), (frames[0],), ["frames"], {"frames": {0: n}}, enc_path, model, opset)
    return _export(
        _Probs(model), (frames, present), ["frames", "present"],
        {"frames": {0: batch, 1: length}, "present": {0: batch, 1: length}}, out, model, opset,
    )  # fmt: skip


class _Features(nn.Module):
    """Normalised crops ``(N, C, S, S)`` → frame features ``(N, D)``, eq. 6."""

    def __init__(self, model: VideoModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor) -> Tensor:
        return self.model.encode(frames)


class _Temporal(nn.Module):
    """Features ``(B, T, D)`` and presence ``(B, T)`` → probabilities ``(B, T, K)``, eqs. 7–8."""

    def __init__(self, model: VideoModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, present: Tensor) -> Tensor:
        return self.model(features, present).probs


def _export(net, args, names, dynamic, out: Path, model: VideoModel, opset: int) -> Path:
    with torch.no_grad(), warnings.catch_warnings():
        # Names of dynamic axes that torch.export merges: harmless, and said at every export.
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        # The torch.export-based exporter: the TorchScript one bakes the traced clip length into
        # the attention's reshapes.
        program = torch.onnx.export(
            net.eval(),
            args,
            input_names=names,
            output_names=["features" if isinstance(net, _Features) else "probs"],
            dynamic_shapes=dynamic,
            opset_version=max(opset, EXPORTER_OPSET),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        program.optimize()  # folds the axes of Unsqueeze/Reduce* into constants: convertible
        graph = _at_opset(program.model_proto, opset)
    _add_metadata(graph, model)
    import onnx

    with atomic_path(out) as tmp:
        onnx.save(graph, str(tmp))
    return out


def _at_opset(graph, opset: int):
    """``graph`` converted to ``opset`` (ONNX's version converter), checked."""
    import onnx

    if _opset(graph) != opset:
        try:
            graph = onnx.version_converter.convert_version(graph, opset)
        except Exception as err:  # the converter raises bare RuntimeErrors
            raise ModelFileError(
                f"cannot write ONNX opset {opset}: torch exports opset {_opset(graph)} and ONNX's "
                f"converter failed ({str(err).splitlines()[0]}); use --opset {EXPORTER_OPSET}"
            ) from None
        _drop_new_reduce_attribute(graph)
    if _opset(graph) != opset:
        raise ModelFileError(f"the exported graph has opset {_opset(graph)}, not {opset}")
    try:
        onnx.checker.check_model(graph)
    except onnx.checker.ValidationError as err:
        raise ModelFileError(f"the opset {opset} graph is invalid: {err}") from None
    return graph


def _drop_new_reduce_attribute(graph) -> None:
    """ONNX's converter (1.22) moves a Reduce* node's axes back to an attribute but leaves the
    opset-18 ``noop_with_empty_axes`` behind, which opset 17 rejects; at its default (0) it means
    what opset 17 does anyway, so it is dropped."""
    for node in graph.graph.node:
        if node.op_type.startswith("Reduce") and node.op_type != "ReduceSum":
            keep = [
                a for a in node.attribute if not (a.name == "noop_with_empty_axes" and a.i == 0)
            ]
            del node.attribute[:]
            node.attribute.extend(keep)


def _opset(graph) -> int:
    return next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))


def _add_metadata(graph, model: VideoModel) -> None:
    """Store how to feed the graph (input size, channels, normalisation, classes) in it."""
    m = model.meta
    assert m is not None
    info = {
        "input_size": m.input_size,
        "channels": m.channels,
        "mean": list(m.mean),
        "std": list(m.std),
        "classes": list(CLASSES),
        "clip_length": model.clip_length,
        "stride": model.stride,
        "smooth": model.smooth,
        "encoder_meta": json.loads(m.to_json()),
    }
    for k, v in info.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = k, json.dumps(v)


def max_abs_diff(
    model: VideoModel, onnx_path: str | Path, *, batch: int = 3, length: int = 9, seed: int = 0
) -> float:
    """Max absolute difference between ONNX Runtime and PyTorch on random input (fp32)."""
    import onnxruntime as ort

    net = _Probs(model).eval()
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(_example(model, batch, length).shape, generator=g)
    present = torch.rand(batch, length, generator=g) > 0.2
    present[:, 0] = True
    with torch.no_grad():
        ref = net(frames, present).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["probs"], {"frames": frames.numpy(), "present": present.numpy()})[0]
    return float(np.abs(got - ref).max())


class _ImageProbs(nn.Module):
    """An image classifier's graph: normalised images → softmax probabilities (no mirror)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier.proba(images, flip=False)


def export_encoder_onnx(stem: str | Path, *, opset: int = 17, half: bool = False) -> Path:
    """Write ``<stem>.onnx``, the ONNX copy of the encoder pair ``stem`` that ``vnaw predict``
    runs without PyTorch (:mod:`vnaw.models.onnx_frames`): ``images (N, C, S, S)`` normalised →
    ``probs (N, 8)``, computed in fp32, with the hash of the weights file in its metadata.

    ``half`` stores the weights in fp16 (half the file; ONNX Runtime casts them back to fp32 once,
    when it loads the graph, so speed is unchanged). The exporter has folded batch norm into the
    convolutions, so this rounds other numbers than the fp16 pair does: for the shipped encoder,
    probabilities move by ≤ 0.003 and 1 of FERPlus's 3,137 test faces changes class."""
    import onnx

    from vnaw.files import file_hash
    from vnaw.models.encoder import ImageClassifier, encoder_paths
    from vnaw.models.onnx_frames import WEIGHTS_HASH_KEY, onnx_path

    clf = ImageClassifier.from_file(stem).eval()
    m = clf.meta
    example = torch.zeros(2, m.channels, m.input_size, m.input_size)
    with torch.no_grad():
        program = torch.onnx.export(
            _ImageProbs(clf).eval(),
            (example,),
            input_names=["images"],
            output_names=["probs"],
            dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
            opset_version=max(opset, EXPORTER_OPSET),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        program.optimize()
        graph = _at_opset(program.model_proto, opset)
    if half:
        _store_half(graph)
    entry = graph.metadata_props.add()
    entry.key, entry.value = WEIGHTS_HASH_KEY, file_hash(encoder_paths(stem)[0])
    out = onnx_path(stem)
    with atomic_path(out) as tmp:
        onnx.save(graph, str(tmp))
    return out


def _store_half(graph) -> None:
    """Store ``graph``'s fp32 weight tensors as fp16, each read through a Cast back to fp32."""
    import onnx
    from onnx import numpy_helper

    casts = []
    for init in list(graph.graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        half = numpy_helper.from_array(
            numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16"
        )
        casts.append(
            onnx.helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT)
        )
        graph.graph.initializer.remove(init)
        graph.graph.initializer.append(half)
    nodes = casts + list(graph.graph.node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    onnx.checker.check_model(graph)
