#!/usr/bin/python3
"""Integration tests for the KServe v2 gRPC frontend of `kiln serve`, with python3-grpcio.

    grpc_test.py --kiln build/kiln --proto src/serve/grpc/grpc_predict_v2.proto --protoc protoc

Message classes are generated at test time from the project's own .proto (protoc --python_out); calls
go through grpc's generic unary API, so no grpc_tools are needed. Checks every RPC, typed and raw
tensor contents for every datatype, concurrent requests batched yet each answered with its own rows,
bad requests mapped to gRPC codes while the server keeps serving, and a clean SIGTERM exit.
"""
import concurrent.futures
import os
import re
import sys
import tempfile
import time

import grpc
import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_repository  # noqa: E402
from serve_test import TYPE_VALUES, GrpcClient, Server, check, grpc_messages, grpc_suite_args, metric, run_suite, to_binary  # noqa: E402

pb = None  # the generated module


def infer_request(model, inputs, raw=None, version=""):
    req = pb.ModelInferRequest(model_name=model, model_version=version)
    for name, datatype, shape, contents in inputs:
        t = req.inputs.add(name=name, datatype=datatype, shape=shape)
        for field, values in (contents or {}).items():
            getattr(t.contents, field).extend(values)
    if raw is not None:
        req.raw_input_contents.extend(raw)
    return req


def test_rpcs(c):
    check("grpc ServerLive", c.call("ServerLive", pb.ServerLiveRequest()).live)
    check("grpc ServerReady", c.call("ServerReady", pb.ServerReadyRequest()).ready)
    meta = c.call("ServerMetadata", pb.ServerMetadataRequest())
    check("grpc ServerMetadata", meta.name == "kiln" and "model_repository" in meta.extensions, meta)
    m = c.call("ModelMetadata", pb.ModelMetadataRequest(name="simple"))
    check("grpc ModelMetadata", m.name == "simple" and list(m.versions) == ["1"] and m.inputs[0].name == "x"
          and m.inputs[0].datatype == "FP32" and list(m.inputs[0].shape) == [-1, 4], m)
    m = c.call("ModelMetadata", pb.ModelMetadataRequest(name="versioned", version="1"))
    check("grpc ModelMetadata of a version lists all versions", list(m.versions) == ["1", "2"], m)
    check("grpc ModelReady", c.call("ModelReady", pb.ModelReadyRequest(name="simple")).ready)
    check("grpc ModelReady of a version", c.call("ModelReady", pb.ModelReadyRequest(name="versioned", version="2")).ready)
    code, _ = c.code_of("ModelReady", pb.ModelReadyRequest(name="nope"))
    check("grpc ModelReady of an unknown model is NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, code)
    index = c.call("RepositoryIndex", pb.RepositoryIndexRequest())
    check("grpc RepositoryIndex", sorted((m.name, m.version, m.state) for m in index.models) ==
          [("matmul", "1", "READY"), ("simple", "1", "READY"), ("typed_contents", "1", "READY"),
           ("types", "1", "READY"), ("versioned", "1", "READY"), ("versioned", "2", "READY")], index)
    code, details = c.code_of("RepositoryModelUnload", pb.RepositoryModelUnloadRequest(model_name="simple"))
    check("grpc unload in control mode none is FAILED_PRECONDITION", code == grpc.StatusCode.FAILED_PRECONDITION,
          (code, details))


def test_infer(c):
    r = c.call("ModelInfer", infer_request("simple", [("x", "FP32", [2, 4], {"fp32_contents": range(8)})]))
    y = np.frombuffer(r.raw_output_contents[0], dtype="<f4")
    check("grpc ModelInfer with fp32_contents", r.model_name == "simple" and r.model_version == "1"
          and r.outputs[0].name == "y" and list(r.outputs[0].shape) == [2, 4] and y.tolist() == list(range(8)), r)
    r = c.call("ModelInfer", infer_request("versioned", [("x", "FP32", [1, 3], {"fp32_contents": [1, 2, 3]})],
                                           version="1"))
    check("grpc ModelInfer of a given version", np.frombuffer(r.raw_output_contents[0], "<f4").tolist() == [4, 5])
    # Every datatype in raw form, in and out.
    names = list(TYPE_VALUES)
    req = infer_request("types", [("in_" + t, t, [3], None) for t in names], raw=[to_binary(t, TYPE_VALUES[t])
                                                                                 for t in names])
    r = c.call("ModelInfer", req)
    got = {o.name: (o.datatype, bytes(raw)) for o, raw in zip(r.outputs, r.raw_output_contents)}
    for t in names:
        check(f"grpc raw {t} round-trips", got.get("out_" + t) == (t, to_binary(t, TYPE_VALUES[t])))
    # Typed contents for every type that has a field.
    fields = {"BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
              "UINT32": "uint_contents", "UINT64": "uint64_contents", "INT8": "int_contents",
              "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
              "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
    inputs = []
    for t in names:
        values = TYPE_VALUES[t]
        if t == "BYTES":
            values = [v.encode() for v in values]
        if t in ("FP16", "BF16"):
            continue
        inputs.append(("in_" + t, t, [3], {fields[t]: values}))
    code, details = c.code_of("ModelInfer", infer_request("types", [("in_FP16", "FP16", [3], None)]))
    check("grpc FP16 without raw contents is INVALID_ARGUMENT naming the input",
          code == grpc.StatusCode.INVALID_ARGUMENT and "in_FP16" in details, (code, details))
    r = c.call("ModelInfer", infer_request("typed_contents", inputs))
    got = {o.name: bytes(raw) for o, raw in zip(r.outputs, r.raw_output_contents)}
    for t in fields:
        check(f"grpc typed {t} contents", got.get("out_" + t) == to_binary(t, TYPE_VALUES[t]), got.get("out_" + t))


def test_statistics_and_config(c):
    """ModelStatistics and ModelConfig; run after test_infer."""
    r = c.call("ModelStatistics", pb.ModelStatisticsRequest(name="versioned", version="1"))
    st = r.model_stats[0] if r.model_stats else None
    check("grpc ModelStatistics of a version counts its request and execution",
          len(r.model_stats) == 1 and st.name == "versioned" and st.version == "1" and st.inference_count == 1
          and st.execution_count == 1 and st.inference_stats.success.count == 1
          and st.inference_stats.compute_infer.ns > 0 and st.inference_stats.queue.count == 1
          and st.last_inference > 0 and st.batch_stats[0].batch_size == 1, r)
    r = c.call("ModelStatistics", pb.ModelStatisticsRequest(name="versioned"))
    check("grpc ModelStatistics of a model lists every loaded version",
          [m.version for m in r.model_stats] == ["1", "2"], r)
    r = c.call("ModelStatistics", pb.ModelStatisticsRequest())
    check("grpc ModelStatistics without a name lists every model",
          sorted({m.name for m in r.model_stats}) == ["matmul", "simple", "typed_contents", "types", "versioned"])
    code, _ = c.code_of("ModelStatistics", pb.ModelStatisticsRequest(name="nope"))
    check("grpc ModelStatistics of an unknown model is NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, code)
    cfg = c.call("ModelConfig", pb.ModelConfigRequest(name="matmul")).config
    check("grpc ModelConfig gives the effective config",
          cfg.name == "matmul" and cfg.max_batch_size == 16 and cfg.input[0].name == "x"
          and cfg.input[0].data_type == pb.TYPE_FP32 and list(cfg.input[0].dims) == [3]
          and cfg.dynamic_batching.max_queue_delay_microseconds == 100000
          and cfg.instance_group[0].count == 1 and cfg.instance_group[0].kind == pb.ModelInstanceGroup.KIND_CPU
          and cfg.version_policy.latest.num_versions == 1 and cfg.parameters["intra_op_threads"].string_value == "2",
          cfg)
    cfg = c.call("ModelConfig", pb.ModelConfigRequest(name="types")).config
    check("grpc ModelConfig of an auto-completed model names BYTES as TYPE_STRING",
          cfg.max_batch_size == 4 and cfg.input[-1].data_type == pb.TYPE_STRING, cfg)
    code, _ = c.code_of("ModelConfig", pb.ModelConfigRequest(name="nope"))
    check("grpc ModelConfig of an unknown model is NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, code)
    meta = c.call("ServerMetadata", pb.ServerMetadataRequest())
    check("grpc ServerMetadata lists the statistics extension", "statistics" in meta.extensions, meta)


def test_batching(s, c):
    before = metric(s, "nv_inference_exec_count", "matmul")

    def one(i):
        r = c.call("ModelInfer", infer_request("matmul", [("x", "FP32", [1, 3], {"fp32_contents": [i, 2 * i, 1]})]))
        return i, np.frombuffer(r.raw_output_contents[0], "<f4").tolist()

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(one, range(12)))
    check("grpc: 12 concurrent requests each get their own result",
          all(y == [i + 1.0, 2 * i + 1.0] for i, y in results), results)
    executions = metric(s, "nv_inference_exec_count", "matmul") - before
    check(f"grpc: concurrent requests were batched (12 requests, {executions:.0f} executions)", executions < 12)


def test_many_streams(s, c):
    """Far more calls in flight on one connection than the server asks gRPC for ahead on each of its
    completion queues (16): the rest wait in gRPC's list of unmatched calls, and each call, batched with
    others or not, gets its own rows back."""
    n = 400
    futures = [c.future("ModelInfer", infer_request("simple", [("x", "FP32", [1, 4],
                                                                  {"fp32_contents": [i, -i, i / 2, 7]})]))
               for i in range(n)]
    wrong = []
    for i, f in enumerate(futures):
        y = np.frombuffer(f.result().raw_output_contents[0], "<f4").tolist()
        if y != [i, -i, i / 2, 7]:
            wrong.append((i, y))
    check(f"grpc: {n} concurrent calls on one connection each get their own result", not wrong, wrong[:5])


def test_cancelled_streams(s, c):
    """Calls cancelled by the client while in flight: the cancelled ones end CANCELLED, the others are
    answered, and the server holds nothing for them afterwards."""
    n = 200
    futures = [c.future("ModelInfer", infer_request("simple", [("x", "FP32", [1, 4],
                                                                  {"fp32_contents": [i, i, i, i]})]))
               for i in range(n)]
    for f in futures[::2]:
        f.cancel()
    wrong = []
    for i, f in enumerate(futures):
        try:
            y = np.frombuffer(f.result().raw_output_contents[0], "<f4").tolist()
            if y != [float(i)] * 4:
                wrong.append((i, y))
        except grpc.FutureCancelledError:
            if i % 2:
                wrong.append((i, "cancelled without being asked"))
    check("grpc: with every other call cancelled, the rest get their own results", not wrong, wrong[:5])
    inflight = None
    for _ in range(100):
        text = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=10).text
        inflight = re.search(r"^kiln_inflight_requests ([\d.e+]+)", text, re.M)
        if inflight and float(inflight.group(1)) == 0:
            break
        time.sleep(0.05)
    check("grpc: no request is left in flight after the cancellations", inflight and float(inflight.group(1)) == 0,
          inflight and inflight.group(0))
    r = c.call("ModelInfer", infer_request("simple", [("x", "FP32", [1, 4], {"fp32_contents": [1, 2, 3, 4]})]))
    check("grpc: the server still serves after the cancellations",
          np.frombuffer(r.raw_output_contents[0], "<f4").tolist() == [1, 2, 3, 4])


def test_bad_input(c):
    x = ("x", "FP32", [1, 4], {"fp32_contents": [1, 2, 3, 4]})
    cases = [
        ("unknown model", infer_request("nope", [x]), grpc.StatusCode.NOT_FOUND, "unknown model"),
        ("unknown version", infer_request("simple", [x], version="9"), grpc.StatusCode.NOT_FOUND, "no version 9"),
        ("bad version", infer_request("simple", [x], version="v1"), grpc.StatusCode.INVALID_ARGUMENT, "version"),
        ("wrong shape", infer_request("simple", [("x", "FP32", [1, 3], {"fp32_contents": [1, 2, 3]})]),
         grpc.StatusCode.INVALID_ARGUMENT, "expected shape"),
        ("count not matching shape", infer_request("simple", [("x", "FP32", [2, 4], {"fp32_contents": [1]})]),
         grpc.StatusCode.INVALID_ARGUMENT, "needs 8 elements"),
        ("wrong datatype", infer_request("simple", [("x", "INT32", [1, 4], {"int_contents": [1, 2, 3, 4]})]),
         grpc.StatusCode.INVALID_ARGUMENT, "expected datatype FP32"),
        ("unknown datatype", infer_request("simple", [("x", "FP8", [1, 4], None)]), grpc.StatusCode.INVALID_ARGUMENT,
         "unknown datatype"),
        ("wrong input name", infer_request("simple", [("z", "FP32", [1, 4], {"fp32_contents": [1, 2, 3, 4]})]),
         grpc.StatusCode.INVALID_ARGUMENT, "unknown input 'z'"),
        ("out-of-range INT8", infer_request("types", [("in_INT8", "INT8", [1], {"int_contents": [300]})]),
         grpc.StatusCode.INVALID_ARGUMENT, "INT8"),
        ("truncated raw contents", infer_request("simple", [("x", "FP32", [1, 4], None)], raw=[b"\0" * 10]),
         grpc.StatusCode.INVALID_ARGUMENT, "needs 16 bytes"),
        ("raw count not matching inputs", infer_request("simple", [("x", "FP32", [1, 4], None)], raw=[b"", b""]),
         grpc.StatusCode.INVALID_ARGUMENT, "raw_input_contents has 2 entries"),
        ("oversize message", infer_request("simple", [("x", "FP32", [1, 4], None)], raw=[b"\0" * (2 << 20)]),
         grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
    ]
    for name, req, code, text in cases:
        got, details = c.code_of("ModelInfer", req)
        check(f"grpc {name} -> {code.name}", got == code and text in details, (got, details))
    r = c.call("ModelInfer", infer_request("simple", [x]))
    check("grpc: the server still serves after the bad requests", len(r.raw_output_contents) == 1)


def main():
    global pb
    args = grpc_suite_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb = grpc_messages(args.proto, args.protoc, tmp)
        make_repository.main(tmp)
        s = Server(args.kiln, os.path.join(tmp, "main"), "--max-request-bytes", str(1 << 20))
        def suite():
            c = GrpcClient(s.grpc_port, pb)
            test_rpcs(c)
            test_infer(c)
            test_statistics_and_config(c)
            test_batching(s, c)
            test_many_streams(s, c)
            test_cancelled_streams(s, c)
            test_bad_input(c)

        return run_suite(s, suite, prefix='grpc: ')


if __name__ == "__main__":
    sys.exit(main())
