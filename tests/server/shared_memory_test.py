#!/usr/bin/python3
"""Triton's system shared memory extension in `kiln serve`, over HTTP and gRPC.

    shared_memory_test.py --kiln build/kiln --proto src/serve/grpc/grpc_predict_v2.proto --protoc protoc

The test creates POSIX shared memory objects itself (multiprocessing.shared_memory: shm_open under
/dev/shm, as tritonclient.utils.shared_memory does), registers windows of them, and runs inferences
whose inputs and outputs live there; each result is compared with the same request sent with its
tensors in the body. Then every bad case: unknown key or region, a window outside the object or the
region, a size that does not match the tensor, an output region too small, a region used after it
was unregistered, and the server keeps serving.
"""
import json
import os
import struct
import sys
import tempfile
from multiprocessing import shared_memory

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_repository  # noqa: E402
from serve_test import GrpcClient, Server, check, grpc_messages, grpc_suite_args, run_suite, split_binary_response  # noqa: E402

pb = None  # the generated module


def two_outputs(repo):
    """x float[4] -> double = x + x and same = x; bytes_in BYTES[n] -> bytes_out (Identity)."""
    helper, TensorProto = make_repository.helper, make_repository.TensorProto
    nodes = [helper.make_node("Add", ["x", "x"], ["double"]), helper.make_node("Identity", ["x"], ["same"]),
             helper.make_node("Identity", ["bytes_in"], ["bytes_out"])]
    graph = helper.make_graph(nodes, "two_outputs",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                               helper.make_tensor_value_info("bytes_in", TensorProto.STRING, ["n"])],
                              [helper.make_tensor_value_info("double", TensorProto.FLOAT, [4]),
                               helper.make_tensor_value_info("same", TensorProto.FLOAT, [4]),
                               helper.make_tensor_value_info("bytes_out", TensorProto.STRING, ["n"])])
    make_repository.save(os.path.join(repo, "two_outputs"), 1, graph, "max_batch_size: 0\n")


def bytes_raw(items):
    return b"".join(struct.pack("<I", len(s)) + s for s in items)


X = np.array([1.5, -2.0, 3.25, 100.0], dtype=np.float32)
WORDS = [b"kiln", b"", b"shared memory"]


class Regions:
    """Two POSIX objects: `inputs` (256 bytes) and `outputs` (8192 bytes), removed at the end."""

    def __init__(self):
        tag = f"kiln_shm_test_{os.getpid()}"
        self.inputs = shared_memory.SharedMemory(name=tag + "_in", create=True, size=256)
        self.outputs = shared_memory.SharedMemory(name=tag + "_out", create=True, size=8192)
        self.in_key, self.out_key = "/" + self.inputs.name.lstrip("/"), "/" + self.outputs.name.lstrip("/")
        self.inputs.buf[16:32] = X.tobytes()
        raw = bytes_raw(WORDS)
        self.inputs.buf[64:64 + len(raw)] = raw
        self.words_size = len(raw)

    def close(self):
        for s in (self.inputs, self.outputs):
            s.close()
            s.unlink()


def register_http(s, name, key, offset, byte_size):
    return s.post(f"/v2/systemsharedmemory/region/{name}/register",
                  json.dumps({"key": key, "offset": offset, "byte_size": byte_size}))


def http_input(name, datatype, shape, region, byte_size, offset=0):
    """tritonclient's InferInput.set_shared_memory: the offset only when it is not 0."""
    params = {"shared_memory_region": region, "shared_memory_byte_size": byte_size}
    if offset:
        params["shared_memory_offset"] = offset
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": params}


def http_output(name, region, byte_size, offset=0):
    params = {"shared_memory_region": region, "shared_memory_byte_size": byte_size}
    if offset:
        params["shared_memory_offset"] = offset
    return {"name": name, "parameters": params}


def test_http_registry(s, r):
    r0 = register_http(s, "in", r.in_key, 0, 256)
    check("register a system shared memory region", r0.status_code == 200 and r0.json() == {}, r0.text)
    # The output region starts 4100 bytes into its object: not on a page boundary.
    r1 = register_http(s, "out", r.out_key, 4100, 4092)
    check("register a region at an offset that is not page-aligned", r1.status_code == 200, r1.text)
    status = s.get("/v2/systemsharedmemory/status")
    check("status lists every region with Triton's fields", status.status_code == 200 and sorted(
        status.json(), key=lambda e: e["name"]) == [
        {"name": "in", "key": r.in_key, "offset": 0, "byte_size": 256},
        {"name": "out", "key": r.out_key, "offset": 4100, "byte_size": 4092}], status.text)
    one = s.get("/v2/systemsharedmemory/region/out/status")
    check("status of one region", one.status_code == 200 and [e["name"] for e in one.json()] == ["out"], one.text)
    missing = s.get("/v2/systemsharedmemory/region/nope/status")
    check("status of an unknown region is 404", missing.status_code == 404 and
          missing.json()["error"] == "system shared memory region 'nope' is not registered", missing.text)
    again = register_http(s, "in", r.in_key, 0, 16)
    check("registering a name twice is a 400", again.status_code == 400 and
          "'in' is already registered" in again.json()["error"], again.text)
    unknown = register_http(s, "x", "/kiln_no_such_object", 0, 16)
    check("an unknown key is a 400 naming the key and the reason", unknown.status_code == 400 and
          "'/kiln_no_such_object'" in unknown.json()["error"] and
          "No such file or directory" in unknown.json()["error"], unknown.text)
    for offset, size, what in ((0, 257, "exceeds the object's 256 bytes"), (200, 100, "exceeds the object's"),
                               (2 ** 64 - 1, 2, "out of range"), (0, 0, "byte_size must be positive")):
        bad = register_http(s, "x", r.in_key, offset, size)
        check(f"register offset {offset} byte_size {size}: 400 '{what}'",
              bad.status_code == 400 and what in bad.json()["error"], bad.text)
    for body in (b"", b"[]", b'{"key": 1, "byte_size": 4}', b'{"key": "/k", "byte_size": -4}',
                 b'{"key": "/k", "byte_size": 4, "offset": "0"}'):
        bad = s.post("/v2/systemsharedmemory/region/x/register", body)
        check(f"a malformed register body is a 400: {body!r}", bad.status_code == 400, bad.text)
    check("no region was registered by the bad calls",
          sorted(e["name"] for e in s.get("/v2/systemsharedmemory/status").json()) == ["in", "out"])
    meta = s.get("/v2").json()
    check("server metadata lists system_shared_memory", "system_shared_memory" in meta["extensions"], meta)


def test_http_infer(s, r):
    body_path = s.infer("two_outputs", [
        {"name": "x", "datatype": "FP32", "shape": [4], "data": X.tolist()},
        {"name": "bytes_in", "datatype": "BYTES", "shape": [3], "data": [w.decode() for w in WORDS]}])
    check("the body-data reference inference", body_path.status_code == 200, body_path.text)
    reference = {o["name"]: o["data"] for o in body_path.json()["outputs"]}

    res = s.infer("two_outputs",
                  [http_input("x", "FP32", [4], "in", 16, 16),
                   http_input("bytes_in", "BYTES", [3], "in", r.words_size, 64)],
                  [http_output("double", "out", 16), {"name": "same"},
                   http_output("bytes_out", "out", 64, 32)])
    check("inference with inputs and outputs in shared memory", res.status_code == 200, res.text)
    if res.status_code != 200:
        return
    outputs = {o["name"]: o for o in res.json()["outputs"]}
    base = 4100
    double = np.frombuffer(bytes(r.outputs.buf[base:base + 16]), dtype=np.float32)
    check("an output in shared memory holds what the body path returns",
          double.tolist() == reference["double"], (double, reference["double"]))
    check("an output in shared memory is answered with its parameters and no data",
          outputs["double"] == {"name": "double", "datatype": "FP32", "shape": [4], "parameters": {
              "shared_memory_region": "out", "shared_memory_byte_size": 16}}, outputs["double"])
    check("an output not in shared memory still comes in the body", outputs["same"].get("data") == reference["same"],
          outputs["same"])
    raw = bytes(r.outputs.buf[base + 32:base + 32 + r.words_size])
    check("BYTES round-trip through shared memory", raw == bytes_raw(WORDS), raw)
    check("a BYTES output's parameters carry the offset and the bytes written",
          outputs["bytes_out"]["parameters"] == {"shared_memory_region": "out", "shared_memory_offset": 32,
                                                 "shared_memory_byte_size": r.words_size}, outputs["bytes_out"])

    # Binary outputs beside one in shared memory: the binary section holds only the others.
    res = s.post("/v2/models/two_outputs/infer", json.dumps({
        "inputs": [http_input("x", "FP32", [4], "in", 16, 16),
                   {"name": "bytes_in", "datatype": "BYTES", "shape": [0], "data": []}],
        "outputs": [http_output("double", "out", 16, 100), {"name": "same", "parameters": {"binary_data": True}}]}))
    header, blobs, whole = split_binary_response(res)
    check("binary outputs beside one in shared memory", res.status_code == 200 and whole and list(blobs) == ["same"]
          and np.frombuffer(blobs["same"], dtype=np.float32).tolist() == X.tolist() and
          np.frombuffer(bytes(r.outputs.buf[base + 100:base + 116]), dtype=np.float32).tolist() == reference["double"],
          (res.status_code, header))


def test_http_bad_cases(s, r):
    x_body = {"name": "x", "datatype": "FP32", "shape": [4], "data": X.tolist()}
    empty = {"name": "bytes_in", "datatype": "BYTES", "shape": [0], "data": []}
    cases = [
        ("an unknown region", [http_input("x", "FP32", [4], "nope", 16), empty], None,
         "model 'two_outputs': input 'x': system shared memory region 'nope' is not registered"),
        ("an offset past the region", [http_input("x", "FP32", [4], "in", 16, 250), empty], None,
         "input 'x': shared_memory_offset 250 + shared_memory_byte_size 16 exceeds the 256 bytes of region 'in'"),
        ("an offset that overflows", [http_input("x", "FP32", [4], "in", 16, 2 ** 64 - 8), empty], None,
         "exceeds the 256 bytes of region 'in'"),
        ("a size that does not match the shape", [http_input("x", "FP32", [4], "in", 12), empty], None,
         "input 'x': shape [4] of FP32 needs 16 bytes, shared_memory_byte_size is 12"),
        ("data beside shared memory", [dict(http_input("x", "FP32", [4], "in", 16), data=X.tolist()), empty], None,
         "input 'x': has 'shared_memory_region' and also 'data' or 'binary_data_size'"),
        ("a region without a byte size", [{"name": "x", "datatype": "FP32", "shape": [4],
                                           "parameters": {"shared_memory_region": "in"}}, empty], None,
         "input 'x': parameter 'shared_memory_region' needs 'shared_memory_byte_size'"),
        ("an output region that is unknown", [x_body, empty], [http_output("double", "nope", 16)],
         "output 'double': system shared memory region 'nope' is not registered"),
        ("an output region too small", [x_body, empty], [http_output("double", "out", 8)],
         "output 'double': 16 bytes do not fit in shared_memory_byte_size 8 of region 'out'"),
    ]
    for name, inputs, outputs, error in cases:
        res = s.infer("two_outputs", inputs, outputs)
        check(f"HTTP {name} is a 400 naming the tensor", res.status_code == 400 and error in res.json().get("error", ""),
              res.text)
    res = s.post("/v2/systemsharedmemory/region/in/unregister")
    check("unregister one region", res.status_code == 200 and res.json() == {}, res.text)
    res = s.infer("two_outputs", [http_input("x", "FP32", [4], "in", 16, 16), empty])
    check("an unregistered region is a 400", res.status_code == 400 and
          "region 'in' is not registered" in res.json()["error"], res.text)
    res = s.post("/v2/systemsharedmemory/region/in/unregister")
    check("unregistering an unknown region succeeds (clients clean up)", res.status_code == 200, res.text)
    check("HTTP inference keeps working", s.infer("two_outputs", [x_body, empty]).status_code == 200)


def shm_params(params, region, byte_size, offset=0):
    """tritonclient.grpc InferInput.set_shared_memory: int64 byte size, the offset only when not 0."""
    params["shared_memory_region"].string_param = region
    params["shared_memory_byte_size"].int64_param = byte_size
    if offset:
        params["shared_memory_offset"].int64_param = offset


def test_grpc(port, r):
    c = GrpcClient(port, pb)
    c.call("SystemSharedMemoryRegister", pb.SystemSharedMemoryRegisterRequest(
        name="in", key=r.in_key, offset=0, byte_size=256))
    status = c.call("SystemSharedMemoryStatus", pb.SystemSharedMemoryStatusRequest())
    check("grpc SystemSharedMemoryStatus lists the regions of both protocols",
          sorted(status.regions) == ["in", "out"] and status.regions["out"].offset == 4100 and
          status.regions["in"].key == r.in_key and status.regions["in"].byte_size == 256, status)
    code, details = c.code_of("SystemSharedMemoryRegister", pb.SystemSharedMemoryRegisterRequest(
        name="in", key=r.in_key, offset=0, byte_size=16))
    check("grpc registering a name twice is INVALID_ARGUMENT",
          code == grpc.StatusCode.INVALID_ARGUMENT and "already registered" in details, (code, details))
    code, details = c.code_of("SystemSharedMemoryRegister", pb.SystemSharedMemoryRegisterRequest(
        name="x", key=r.in_key, offset=2 ** 64 - 1, byte_size=2))
    check("grpc a window that overflows is INVALID_ARGUMENT", code == grpc.StatusCode.INVALID_ARGUMENT, (code, details))
    code, details = c.code_of("SystemSharedMemoryStatus", pb.SystemSharedMemoryStatusRequest(name="nope"))
    check("grpc status of an unknown region is NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, (code, details))

    # x in shared memory; bytes_in in raw_input_contents (the only raw entry: tritonclient sends none for
    # inputs in shared memory); double to shared memory, same and bytes_out in raw_output_contents.
    req = pb.ModelInferRequest(model_name="two_outputs")
    x = req.inputs.add(name="x", datatype="FP32", shape=[4])
    shm_params(x.parameters, "in", 16, 16)
    req.inputs.add(name="bytes_in", datatype="BYTES", shape=[3])
    req.raw_input_contents.append(bytes_raw(WORDS))
    double = req.outputs.add(name="double")
    shm_params(double.parameters, "out", 16, 200)
    req.outputs.add(name="same")
    req.outputs.add(name="bytes_out")
    res = c.call("ModelInfer", req)
    outputs = {o.name: (o, raw) for o, raw in zip(res.outputs, res.raw_output_contents)}
    base = 4100 + 200
    check("grpc an output in shared memory holds x + x",
          np.frombuffer(bytes(r.outputs.buf[base:base + 16]), dtype=np.float32).tolist() == (X + X).tolist())
    o, raw = outputs["double"]
    check("grpc an output in shared memory: its parameters, an empty raw entry",
          raw == b"" and o.parameters["shared_memory_region"].string_param == "out" and
          o.parameters["shared_memory_byte_size"].int64_param == 16 and
          o.parameters["shared_memory_offset"].int64_param == 200 and list(o.shape) == [4], o)
    check("grpc the other outputs keep their raw entries",
          len(res.raw_output_contents) == len(res.outputs) == 3 and
          np.frombuffer(outputs["same"][1], dtype=np.float32).tolist() == X.tolist() and
          outputs["bytes_out"][1] == bytes_raw(WORDS), res)

    # The same request on a ModelStreamInfer call: the answer comes the same way, and a request whose
    # output does not fit its region gets an error_message while the stream goes on.
    r.outputs.buf[base:base + 16] = bytes(16)
    too_small = pb.ModelInferRequest()
    too_small.CopyFrom(req)
    too_small.id = "too small"
    shm_params(too_small.outputs[0].parameters, "out", 15, 200)
    stream = c.channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=pb.ModelStreamInferResponse.FromString)
    answers = list(stream(iter([req, too_small, req]), timeout=30))
    ok = [a for a in answers if not a.error_message]
    streamed = {o.name: raw for o, raw in zip(ok[0].infer_response.outputs, ok[0].infer_response.raw_output_contents)} \
        if ok else {}
    check("grpc stream: an output in shared memory holds x + x and answers with an empty raw entry",
          len(ok) == 2 and streamed.get("double") == b"" and streamed.get("same") == X.tobytes() and
          np.frombuffer(bytes(r.outputs.buf[base:base + 16]), dtype=np.float32).tolist() == (X + X).tolist(), answers)
    failed = [a for a in answers if a.error_message]
    check("grpc stream: an output region too small is that request's error_message, the stream goes on",
          len(failed) == 1 and failed[0].infer_response.id == "too small" and
          "output 'double': 16 bytes do not fit in shared_memory_byte_size 15" in failed[0].error_message, answers)

    def bad(name, mutate, code, text):
        req = pb.ModelInferRequest(model_name="two_outputs")
        x = req.inputs.add(name="x", datatype="FP32", shape=[4])
        shm_params(x.parameters, "in", 16, 16)
        req.inputs.add(name="bytes_in", datatype="BYTES", shape=[0])
        req.raw_input_contents.append(b"")
        mutate(req)
        got, details = c.code_of("ModelInfer", req)
        check(f"grpc {name}: {code.name} naming the tensor", got == code and text in details, (got, details))

    bad("an unknown region", lambda q: shm_params(q.inputs[0].parameters, "nope", 16),
        grpc.StatusCode.INVALID_ARGUMENT, "input 'x': system shared memory region 'nope' is not registered")
    bad("an offset past the region", lambda q: shm_params(q.inputs[0].parameters, "in", 16, 248),
        grpc.StatusCode.INVALID_ARGUMENT, "input 'x': shared_memory_offset 248 + shared_memory_byte_size 16")
    bad("a size that does not match the shape", lambda q: shm_params(q.inputs[0].parameters, "in", 20),
        grpc.StatusCode.INVALID_ARGUMENT, "input 'x': shape [4] of FP32 needs 16 bytes, shared_memory_byte_size is 20")
    bad("a negative offset", lambda q: q.inputs[0].parameters["shared_memory_offset"].__setattr__("int64_param", -1),
        grpc.StatusCode.INVALID_ARGUMENT, "input 'x': parameter 'shared_memory_offset' must be an int64 >= 0")
    bad("a raw entry for an input in shared memory", lambda q: q.raw_input_contents.append(X.tobytes()),
        grpc.StatusCode.INVALID_ARGUMENT, "raw_input_contents has 2 entries for 1 inputs not in shared memory")
    bad("an output region too small", lambda q: shm_params(q.outputs.add(name="double").parameters, "out", 15),
        grpc.StatusCode.INVALID_ARGUMENT, "output 'double': 16 bytes do not fit in shared_memory_byte_size 15")
    c.call("SystemSharedMemoryUnregister", pb.SystemSharedMemoryUnregisterRequest(name="in"))
    bad("an unregistered region", lambda q: None, grpc.StatusCode.INVALID_ARGUMENT,
        "system shared memory region 'in' is not registered")
    c.call("SystemSharedMemoryUnregister", pb.SystemSharedMemoryUnregisterRequest())
    status = c.call("SystemSharedMemoryStatus", pb.SystemSharedMemoryStatusRequest())
    check("grpc unregister with no name removes every region", len(status.regions) == 0, status)
    meta = c.call("ServerMetadata", pb.ServerMetadataRequest())
    check("grpc server metadata lists system_shared_memory", "system_shared_memory" in meta.extensions, meta)
    c.channel.close()


def main():
    global pb
    args = grpc_suite_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb = grpc_messages(args.proto, args.protoc, tmp)
        repo = os.path.join(tmp, "repo")
        two_outputs(repo)
        regions = Regions()
        # Without --allow-client-shm (the default, as in Triton) no client may register a region.
        closed = Server(args.kiln, repo)
        try:
            res = register_http(closed, "in", regions.in_key, 0, 16)
            check("without --allow-client-shm registering is a 400 naming the flag", res.status_code == 400 and
                  "--allow-client-shm" in res.json()["error"], res.text)
            code, details = GrpcClient(closed.grpc_port, pb).code_of("SystemSharedMemoryRegister",
                                                           pb.SystemSharedMemoryRegisterRequest(
                                                               name="in", key=regions.in_key, byte_size=16))
            check("without --allow-client-shm grpc registering is INVALID_ARGUMENT",
                  code == grpc.StatusCode.INVALID_ARGUMENT and "--allow-client-shm" in details, (code, details))
        finally:
            closed.stop()
        s = Server(args.kiln, repo, "--allow-client-shm")

        def body():
            test_http_registry(s, regions)
            test_http_infer(s, regions)
            test_http_bad_cases(s, regions)
            test_grpc(s.grpc_port, regions)
            res = s.post("/v2/systemsharedmemory/unregister")
            check("HTTP unregister with no region removes every region", res.status_code == 200 and
                  s.get("/v2/systemsharedmemory/status").json() == [], res.text)

        try:
            return run_suite(s, body)
        finally:
            regions.close()


if __name__ == "__main__":
    sys.exit(main())
