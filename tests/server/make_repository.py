"""Builds the tiny model repositories the server tests use, with onnx.helper.

    python3 make_repository.py DIR      writes DIR/main (control mode none) and DIR/explicit

Models (only operators every kiln build has: Identity, MatMul):
  simple     Identity float[batch,4]; config.pbtxt: max_batch_size 8, dynamic batching
  matmul     y = x @ W, float[batch,3] -> float[batch,2]; batching with a 100 ms queue delay, so
             concurrent requests merge and each must get its own rows back
  types      one Identity per KServe datatype (BOOL ... BYTES); no config.pbtxt, so kiln infers it
             (every first dim is dynamic: max_batch_size 4)
  typed_contents  the same without FP16 and BF16 (gRPC's typed contents have no field for them)
  versioned  versions 1 and 2 (y = x @ I and y = x @ 2I) with version_policy all
  broken     (explicit repository only) a model.onnx that is not a model
  endless    (deadline repository, beside simple) y = x + n: a Loop of trip count n adding 1 per
             iteration; n = 2**62 runs for ages, so only a deadline or a cancellation ends it
  endless_batched  (batch_cancel repository, beside simple) the same over rows, float[batch,1] and
             int64[batch,1]: y = x + max(n); dynamic batching that waits up to 10 s for a second
             request and runs two at once (preferred size 2), so two clients share one endless run
  patient_matmul  (batch_cancel repository) matmul with dynamic batching that waits an hour for a
             batch of four (preferred size 4): a request only leaves the queue early when its
             client does
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# KServe datatype -> ONNX element type; the order the types model declares its inputs in.
TYPES = {
    "BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32, "UINT64": TensorProto.UINT64, "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16, "INT32": TensorProto.INT32, "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16, "BF16": TensorProto.BFLOAT16, "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE, "BYTES": TensorProto.STRING,
}


def save(model_dir, version, graph, config=None):
    os.makedirs(os.path.join(model_dir, str(version)), exist_ok=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(model_dir, str(version), "model.onnx"))
    if config is not None:
        with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
            f.write(config)


def simple(root):
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "simple",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    save(os.path.join(root, "simple"), 1, g, """
name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
dynamic_batching { max_queue_delay_microseconds: 2000 }
""")


def matmul_graph(scale):
    w = numpy_helper.from_array(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32) * scale, "W")
    return helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "matmul",
                             [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
                             initializer=[w])


def matmul(root):
    save(os.path.join(root, "matmul"), 1, matmul_graph(1), """
name: "matmul"
max_batch_size: 16
dynamic_batching { max_queue_delay_microseconds: 100000 }
instance_group [ { count: 1 kind: KIND_CPU } ]
""")


def types(root, model="types", names=tuple(TYPES)):
    nodes, inputs, outputs = [], [], []
    for name in names:
        elem = TYPES[name]
        nodes.append(helper.make_node("Identity", ["in_" + name], ["out_" + name]))
        inputs.append(helper.make_tensor_value_info("in_" + name, elem, ["n"]))
        outputs.append(helper.make_tensor_value_info("out_" + name, elem, ["n"]))
    save(os.path.join(root, model), 1, helper.make_graph(nodes, model, inputs, outputs))


def typed_contents(root):
    """The types model without FP16 and BF16, which gRPC can only carry in raw form."""
    types(root, "typed_contents", [t for t in TYPES if t not in ("FP16", "BF16")])


def versioned(root):
    d = os.path.join(root, "versioned")
    save(d, 1, matmul_graph(1))
    save(d, 2, matmul_graph(2), 'version_policy: { all { } }\nmax_batch_size: 4\n')


def endless(root):
    # Warm-up at load feeds zeros, so n = 0 loads at once; clients send a huge n.
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "one"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(np.ones(1, np.float32), "one")])
    g = helper.make_graph([helper.make_node("Loop", ["n", "", "x"], ["y"], name="endless_loop", body=body)],
                          "endless",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
                           helper.make_tensor_value_info("n", TensorProto.INT64, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    save(os.path.join(root, "endless"), 1, g)


def endless_batched(root):
    # The trip count is the largest n of the batch: one request with a huge n makes the merged run
    # endless, and a batch of small n's ends at once.
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "one"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, ["batch", 1])],
        initializer=[numpy_helper.from_array(np.ones(1, np.float32), "one")])
    g = helper.make_graph([helper.make_node("ReduceMax", ["n"], ["trips"], keepdims=0),
                           helper.make_node("Loop", ["trips", "", "x"], ["y"], name="endless_loop", body=body)],
                          "endless_batched",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1]),
                           helper.make_tensor_value_info("n", TensorProto.INT64, ["batch", 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])])
    save(os.path.join(root, "endless_batched"), 1, g, """
name: "endless_batched"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] }, { name: "n" data_type: TYPE_INT64 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
dynamic_batching { preferred_batch_size: [ 2 ] max_queue_delay_microseconds: 10000000 }
""")


def patient_matmul(root):
    save(os.path.join(root, "patient_matmul"), 1, matmul_graph(1), """
name: "patient_matmul"
max_batch_size: 8
dynamic_batching { preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 3600000000 }
""")


def main(out):
    main_repo = os.path.join(out, "main")
    for make in (simple, matmul, types, typed_contents, versioned):
        make(main_repo)
    explicit = os.path.join(out, "explicit")
    simple(explicit)
    os.makedirs(os.path.join(explicit, "broken", "1"), exist_ok=True)
    with open(os.path.join(explicit, "broken", "1", "model.onnx"), "wb") as f:
        f.write(b"this is not an ONNX model")
    deadline = os.path.join(out, "deadline")
    simple(deadline)
    endless(deadline)
    batch_cancel = os.path.join(out, "batch_cancel")
    simple(batch_cancel)
    endless_batched(batch_cancel)
    patient_matmul(batch_cancel)


if __name__ == "__main__":
    main(sys.argv[1])
