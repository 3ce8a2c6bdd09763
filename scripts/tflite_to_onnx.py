"""Convert MediaPipe's face models (.tflite, Apache-2.0) to the ONNX files in src/vnaw/weights/.

Run once at development time, in a scratch environment (not a vnaw dependency):

    python -m venv /tmp/conv && /tmp/conv/bin/pip install tflite onnx onnxruntime ai-edge-litert
    /tmp/conv/bin/python scripts/tflite_to_onnx.py MEDIAPIPE_DIR/modules src/vnaw/weights

The graphs use a dozen TFLite operators (convolutions, PReLU, pads, pools, adds, bilinear resize,
depth-to-space, reshapes); their weights are float16 (DEQUANTIZE) and, in the full-range detector,
block-sparse (DENSIFY). LiteRT's interpreter runs each model once to hand back those constant
tensors dense and in float32, so this script needs no sparse-format decoder. The graph is written
in NCHW (ONNX's layout) with the NHWC input and outputs of the original, and each converted model
is checked against LiteRT on random input before it is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import tflite
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from onnx import TensorProto, helper, numpy_helper

MODELS = {
    "face_detection/face_detection_full_range_sparse.tflite": "face_detection_full_range.onnx",
    "face_landmark/face_landmark.tflite": "face_landmark.onnx",
}
OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
ACT = {0: None, 1: "Relu", 3: "Relu6"}
NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def options(op, cls):
    table = op.BuiltinOptions()
    o = cls()
    o.Init(table.Bytes, table.Pos)
    return o


def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (more at the end when odd)."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


class Converter:
    def __init__(self, path: Path) -> None:
        buf = path.read_bytes()
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.g = self.model.Subgraphs(0)
        # Constants, dense float32, as the interpreter computes them.
        # Without the XNNPACK delegate, which would keep the intermediate tensors to itself.
        interp = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=True,
        )
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        interp.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
        interp.invoke()
        self.interp = interp
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.consts: dict[int, np.ndarray] = {}
        for i in range(self.g.OperatorsLength()):
            op = self.g.Operators(i)
            if self.opname(op) in ("DEQUANTIZE", "DENSIFY"):
                t = op.Outputs(0)
                self.consts[t] = interp.get_tensor(t).astype(np.float32)
        for i in range(self.g.TensorsLength()):
            t = self.g.Tensors(i)
            if t.Buffer() and self.model.Buffers(t.Buffer()).DataLength() and i not in self.consts:
                self.consts[i] = interp.get_tensor(i)

    def opname(self, op) -> str:
        oc = self.model.OperatorCodes(op.OpcodeIndex())
        return OPS[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]

    def shape(self, t: int) -> list[int]:
        return [int(s) for s in self.g.Tensors(t).ShapeAsNumpy()]

    def name(self, t: int) -> str:
        return f"t{t}"

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = value
        return name

    def node(self, kind: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(kind, inputs, [output], **attrs))
        return output

    def act(self, fused: int, out: str, pre: str) -> None:
        if ACT[fused] is None:
            self.node("Identity", [pre], out)
        elif ACT[fused] == "Relu6":
            self.node(
                "Clip",
                [pre, self.const("zero", np.float32(0)), self.const("six", np.float32(6))],
                out,
            )
        else:
            self.node(ACT[fused], [pre], out)

    def convert(self) -> onnx.ModelProto:
        g = self.g
        in_t, outs = g.Inputs(0), [g.Outputs(i) for i in range(g.OutputsLength())]
        self.node("Transpose", ["input"], self.name(in_t), perm=NCHW)
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            kind = self.opname(op)
            if kind in ("DEQUANTIZE", "DENSIFY"):
                continue
            getattr(self, "op_" + kind.lower())(op)
        outputs = []
        for k, t in enumerate(outs):
            shp = self.shape(t)
            name = f"output{k}"
            if len(shp) == 4:
                self.node("Transpose", [self.name(t)], name, perm=NHWC)
            else:
                self.node("Identity", [self.name(t)], name)
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shp))
        graph = helper.make_graph(
            self.nodes,
            "mediapipe",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, self.shape(in_t))],
            outputs,
            [numpy_helper.from_array(v, k) for k, v in self.inits.items()],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    # ---- operators (4-D tensors are NCHW in the ONNX graph) ----
    def op_conv_2d(self, op, depthwise: bool = False) -> None:
        x, w, b = op.Inputs(0), op.Inputs(1), op.Inputs(2)
        o = options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
        weight = self.consts[w]
        if depthwise:  # (1, kh, kw, C·m) → (C·m, 1, kh, kw)
            weight = weight.transpose(3, 0, 1, 2)
        else:  # (O, kh, kw, I) → (O, I, kh, kw)
            weight = weight.transpose(0, 3, 1, 2)
        _, h, wd, c = self.shape(x)
        kh, kw = weight.shape[2:]
        sh, sw = o.StrideH(), o.StrideW()
        dh, dw = o.DilationHFactor(), o.DilationWFactor()
        if o.Padding() == tflite.Padding.SAME:
            (t0, t1), (l0, l1) = same_pads(h, kh, sh, dh), same_pads(wd, kw, sw, dw)
        else:
            t0 = t1 = l0 = l1 = 0
        inputs = [self.name(x), self.const(f"w{w}", np.ascontiguousarray(weight))]
        if b >= 0:
            inputs.append(self.const(f"b{b}", self.consts[b]))
        pre = self.name(op.Outputs(0)) + "_pre"
        self.node(
            "Conv",
            inputs,
            pre,
            strides=[sh, sw],
            dilations=[dh, dw],
            pads=[t0, l0, t1, l1],
            group=c if depthwise else 1,
        )
        self.act(o.FusedActivationFunction(), self.name(op.Outputs(0)), pre)

    def op_depthwise_conv_2d(self, op) -> None:
        self.op_conv_2d(op, depthwise=True)

    def op_add(self, op) -> None:
        a, b = op.Inputs(0), op.Inputs(1)
        o = options(op, tflite.AddOptions)
        pre = self.name(op.Outputs(0)) + "_pre"
        self.node("Add", [self.operand(a), self.operand(b)], pre)
        self.act(o.FusedActivationFunction(), self.name(op.Outputs(0)), pre)

    def operand(self, t: int) -> str:
        if t not in self.consts:
            return self.name(t)
        return self.const(f"c{t}", self.operand_value(t))

    def op_relu(self, op) -> None:
        self.node("Relu", [self.name(op.Inputs(0))], self.name(op.Outputs(0)))

    def op_prelu(self, op) -> None:
        x, alpha = op.Inputs(0), op.Inputs(1)
        # Relu(x) − α·Relu(−x): ONNX Runtime's PRelu kernel with per-channel α took 60 % of
        # FaceMesh's time; these element-wise kernels run in its blocked conv layout.
        a, y = self.name(x), self.name(op.Outputs(0))
        neg = self.node("Relu", [self.node("Neg", [a], y + "_neg")], y + "_negrelu")
        alpha_neg = self.const(f"na{alpha}", -self.operand_value(alpha))  # (C, 1, 1)
        self.node(
            "Add",
            [self.node("Relu", [a], y + "_pos"), self.node("Mul", [neg, alpha_neg], y + "_m")],
            y,
        )

    def operand_value(self, t: int) -> np.ndarray:
        """A constant operand as :meth:`operand` lays it out (NCHW or per channel)."""
        v = self.consts[t]
        if v.ndim == 4:
            return np.ascontiguousarray(v.transpose(NCHW))
        return v.reshape(-1, 1, 1) if v.ndim in (1, 3) else v

    def op_pad(self, op) -> None:
        x, p = op.Inputs(0), op.Inputs(1)
        pads = self.consts[p].astype(np.int64)[NCHW]  # (4, 2) rows in NHWC order
        self.node(
            "Pad", [self.name(x), self.const(f"p{p}", pads.T.reshape(-1))], self.name(op.Outputs(0))
        )

    def op_max_pool_2d(self, op) -> None:
        x = op.Inputs(0)
        o = options(op, tflite.Pool2DOptions)
        _, h, w, _ = self.shape(x)
        kh, kw, sh, sw = o.FilterHeight(), o.FilterWidth(), o.StrideH(), o.StrideW()
        if o.Padding() == tflite.Padding.SAME:
            (t0, t1), (l0, l1) = same_pads(h, kh, sh), same_pads(w, kw, sw)
        else:
            t0 = t1 = l0 = l1 = 0
        self.node(
            "MaxPool",
            [self.name(x)],
            self.name(op.Outputs(0)),
            kernel_shape=[kh, kw],
            strides=[sh, sw],
            pads=[t0, l0, t1, l1],
        )

    def op_resize_bilinear(self, op) -> None:
        x, size = op.Inputs(0), op.Inputs(1)
        o = options(op, tflite.ResizeBilinearOptions)
        mode = (
            "align_corners"
            if o.AlignCorners()
            else "half_pixel"
            if o.HalfPixelCenters()
            else "asymmetric"
        )
        n, _, _, c = self.shape(x)
        hw = self.consts[size].astype(np.int64)
        sizes = self.const(f"s{size}", np.array([n, c, *hw], np.int64))
        self.node(
            "Resize",
            [self.name(x), "", "", sizes],
            self.name(op.Outputs(0)),
            mode="linear",
            coordinate_transformation_mode=mode,
        )

    def op_depth_to_space(self, op) -> None:
        o = options(op, tflite.DepthToSpaceOptions)
        self.node(
            "DepthToSpace",
            [self.name(op.Inputs(0))],
            self.name(op.Outputs(0)),
            blocksize=o.BlockSize(),
            mode="DCR",
        )

    def op_reshape(self, op) -> None:
        x, y = op.Inputs(0), op.Outputs(0)
        src = self.name(x)
        if len(self.shape(x)) == 4:  # reshape works on NHWC order
            src = self.node("Transpose", [src], src + "_nhwc", perm=NHWC)
        shape = self.const(f"r{y}", np.array(self.shape(y), np.int64))
        self.node("Reshape", [src, shape], self.name(y))

    def op_concatenation(self, op) -> None:
        o = options(op, tflite.ConcatenationOptions)
        ins = [op.Inputs(i) for i in range(op.InputsLength())]
        axis = o.Axis()
        if len(self.shape(ins[0])) == 4:
            axis = NCHW.index(axis % 4)
        self.node("Concat", [self.name(t) for t in ins], self.name(op.Outputs(0)), axis=axis)


def check(path: Path, model: onnx.ModelProto) -> float:
    """Largest difference of the ONNX model's outputs from LiteRT's on random input."""
    import onnxruntime as ort

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    x = np.random.default_rng(0).uniform(-1, 1, inp["shape"]).astype(np.float32)
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    want = [interp.get_tensor(o["index"]) for o in interp.get_output_details()]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x})
    # LiteRT lists outputs in its own order: match them by shape
    err = 0.0
    for w in want:
        g = next(g for g in got if g.shape == w.shape)
        err = max(err, float(np.abs(g - w).max() / (np.abs(w).max() + 1e-9)))
    return err


def main(src: str, dst: str) -> None:
    for rel, out in MODELS.items():
        path = Path(src) / rel
        model = Converter(path).convert()
        err = check(path, model)
        print(f"{rel} → {out}: largest relative difference from LiteRT {err:.2e}")
        if err > 1e-4:
            raise SystemExit(f"{rel}: the converted model disagrees with LiteRT ({err:.2e})")
        onnx.save(model, str(Path(dst) / out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
