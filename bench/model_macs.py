#!/usr/bin/python3
"""Multiply-adds per input row of an ONNX model: the nominal work of its Conv, ConvTranspose, Gemm and
MatMul nodes, as written (a Winograd or other fast algorithm does fewer, so GFLOP/s from these counts is nominal).

    /usr/bin/python3 bench/model_macs.py MODEL.onnx [NAME=VALUE ...]   dims other than the batch's

Used by bench/perf_report.py to put each model's GFLOP/s beside the core's FMA ceiling (bench/fma_peak.c).
"""
import sys

import onnx
from onnx import shape_inference


def _dims(value_info):
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(d.dim_value)
    return dims


def _product(values):
    p = 1
    for v in values:
        p *= v
    return p


def macs_per_row(path, dims=None):
    """Multiply-adds of one row (batch 1, `dims` fixing any other named dimension), or None when a
    Conv, ConvTranspose, Gemm or MatMul has a shape that shape inference leaves unknown."""
    model = onnx.load(path)
    fixed = dict(dims or {})
    for graph_input in model.graph.input:
        for i, d in enumerate(graph_input.type.tensor_type.shape.dim):
            if d.HasField("dim_param"):
                d.dim_value = 1 if i == 0 else fixed.get(d.dim_param, 1)
    model = shape_inference.infer_shapes(model)
    shapes = {}
    for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        shapes[v.name] = _dims(v)
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        ins = [shapes.get(name) for name in node.input[:2]]
        out = shapes.get(node.output[0])
        if out is None or any(s is None for s in ins):
            return None
        if node.op_type == "Conv":
            w = ins[1]  # [M, C/group, k...]
            total += _product(out) * _product(w[1:])
        elif node.op_type == "ConvTranspose":
            w = ins[1]  # [C, M/group, k...]: each input element meets M/group * k weights
            total += _product(ins[0]) * _product(w[1:])
        elif node.op_type == "Gemm":
            trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
            a = ins[0]
            total += _product(out) * (a[0] if trans_a else a[1])
        else:
            total += _product(out) * ins[0][-1]
    return total


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    dims = dict(arg.split("=", 1) for arg in sys.argv[2:])
    macs = macs_per_row(sys.argv[1], {k: int(v) for k, v in dims.items()})
    print("unknown" if macs is None else macs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
