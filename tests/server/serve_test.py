#!/usr/bin/python3
"""Integration tests for `kiln serve`: real HTTP clients (requests, raw sockets) on loopback.

    serve_test.py --kiln build/kiln

Starts the server on ephemeral ports over repositories built at test time (make_repository.py),
checks every endpoint, JSON and binary inference for every datatype, batching of concurrent requests,
bad input of every kind while the server keeps serving, the explicit repository API, hot reload in
poll mode under load with zero failed requests, metrics, and that SIGTERM drains in-flight requests
and exits 0. Prints one line per check; exits 1 on a failure.
"""
import argparse
import concurrent.futures
import importlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_repository  # noqa: E402

FAILURES = []


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"), flush=True)
    if not condition:
        FAILURES.append(name)


class Server:
    """A `kiln serve` process; reads the ports it picked from its banner."""

    def __init__(self, kiln, repo, *extra):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([kiln, "serve", "--model-repository", repo, "--http-port", "0",
                                      "--grpc-port", "0", "--metrics-port", "0", "--threads", "2", *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        self.port = self.metrics_port = self.grpc_port = None
        while time.time() < deadline and self.metrics_port is None:
            if self.proc.poll() is not None:
                raise RuntimeError("kiln serve exited early:\n" + self.output())
            text = self.output()
            http = re.search(r"HTTP \(KServe v2\) listening on [\d.]+:(\d+)", text)
            metrics = re.search(r"metrics listening on [\d.]+:(\d+)", text)
            grpc = re.search(r"gRPC \(KServe v2\) listening on [\d.]+:(\d+)", text)
            if http and metrics and grpc:
                self.port, self.metrics_port = int(http.group(1)), int(metrics.group(1))
                self.grpc_port = int(grpc.group(1))
            time.sleep(0.05)
        if self.metrics_port is None:
            raise RuntimeError("kiln serve did not print its ports:\n" + self.output())
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()  # keep-alive, as real clients do

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def get(self, path):
        return self.http.get(self.url + path, timeout=30)

    def post(self, path, body=None, **kw):
        return self.http.post(self.url + path, data=body, timeout=30, **kw)

    def infer(self, model, inputs, outputs=None, **params):
        body = {"inputs": inputs}
        if outputs is not None:
            body["outputs"] = outputs
        if params:
            body["parameters"] = params
        return self.post(f"/v2/models/{model}/infer", json.dumps(body))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def grpc_messages(proto, protoc, tmp):
    """Generates the Python messages of `proto` into tmp and imports them (the gRPC suites' `pb`)."""
    gen = os.path.join(tmp, "gen")
    os.makedirs(gen)
    subprocess.run([protoc, f"--python_out={gen}", "-I", os.path.dirname(os.path.abspath(proto)),
                    os.path.abspath(proto)], check=True)
    sys.path.insert(0, gen)
    return importlib.import_module("grpc_predict_v2_pb2")


class GrpcClient:
    """Unary calls of inference.GRPCInferenceService by method name, with the suite's generated messages
    (grpc_messages)."""

    def __init__(self, port, messages):
        import grpc  # only the gRPC suites need it
        self.grpc = grpc
        self.messages = messages
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def stub(self, method):
        return self.channel.unary_unary(f"/inference.GRPCInferenceService/{method}",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=getattr(self.messages, method + "Response").FromString)

    def call(self, method, request, timeout=30):
        return self.stub(method)(request, timeout=timeout)

    def future(self, method, request, timeout=30):
        """The call in flight; its .result() waits for the answer."""
        return self.stub(method).future(request, timeout=timeout)

    def code_of(self, method, request):
        """(status code, details) of the call: OK and "" when it succeeds."""
        try:
            self.call(method, request)
            return self.grpc.StatusCode.OK, ""
        except self.grpc.RpcError as e:
            return e.code(), e.details()


def grpc_suite_args():
    """The command line of a suite that also speaks gRPC (tests.cmake's kiln_add_grpc_server_test):
    --kiln BINARY --proto FILE [--protoc PROTOC]."""
    p = argparse.ArgumentParser()
    p.add_argument("--kiln", required=True)
    p.add_argument("--proto", required=True)
    p.add_argument("--protoc", default="protoc")
    return p.parse_args()


def run_suite(server, body, prefix=""):
    """Runs body() against server, then what every suite ends with: the server is still up and exits 0 on
    SIGTERM; its output is printed when anything failed. Returns the process exit code for main()."""
    try:
        body()
        check(f"{prefix}the server process is still running", server.proc.poll() is None)
    finally:
        code = server.stop()
        check(f"{prefix}SIGTERM exits 0", code == 0, server.output()[-500:])
        if FAILURES:
            print("--- server output ---\n" + server.output()[-3000:])
    return summary()


def summary():
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    return 1 if FAILURES else 0


def error_of(response):
    try:
        return response.json().get("error", "")
    except ValueError:
        return "<not JSON: " + response.text[:100] + ">"


# ---------------------------------------------------------------------------------------------------
# Endpoints

def test_health_and_metadata(s):
    r = s.get("/v2/health/live")
    check("GET /v2/health/live is 200", r.status_code == 200, r.text)
    r = s.get("/v2/health/ready")
    check("GET /v2/health/ready is 200", r.status_code == 200 and r.json() == {"ready": True}, r.text)
    r = s.get("/v2")
    meta = r.json()
    check("GET /v2 names the server and its extensions",
          r.status_code == 200 and meta["name"] == "kiln" and "binary_tensor_data" in meta["extensions"], r.text)
    r = s.get("/v2/models/simple")
    m = r.json()
    check("GET /v2/models/simple gives inputs/outputs with -1 for the batch dim",
          r.status_code == 200 and m["name"] == "simple" and m["versions"] == ["1"]
          and m["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
          and m["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}], r.text)
    r = s.get("/v2/models/versioned")
    check("model metadata lists every loaded version", r.json().get("versions") == ["1", "2"], r.text)
    r = s.get("/v2/models/versioned/versions/1")
    check("GET /v2/models/{m}/versions/{v} is 200", r.status_code == 200, r.text)
    r = s.get("/v2/models/simple/ready")
    check("GET /v2/models/simple/ready is 200", r.status_code == 200 and r.json()["ready"] is True, r.text)
    r = s.get("/v2/models/versioned/versions/2/ready")
    check("GET .../versions/2/ready is 200", r.status_code == 200, r.text)
    r = s.get("/v2/models/versioned/versions/3/ready")
    check("a version that is not loaded is 404", r.status_code == 404, r.text)
    r = s.get("/v2/models/nope/ready")
    check("readiness of an unknown model is 404", r.status_code == 404, r.text)
    r = s.get("/v2/models/matmul/config")
    c = r.json()
    check("GET /v2/models/matmul/config reflects config.pbtxt",
          c.get("max_batch_size") == 16 and c["dynamic_batching"]["max_queue_delay_microseconds"] == 100000
          and c["input"][0]["dims"] == [3], r.text)
    r = s.get("/v2/models/types")
    check("a model without config.pbtxt is auto-completed from the ONNX model",
          r.status_code == 200 and len(r.json()["inputs"]) == len(make_repository.TYPES)
          and r.json()["inputs"][0] == {"name": "in_BOOL", "datatype": "BOOL", "shape": [-1]}, r.text)
    r = s.post("/v2/repository/index")
    index = {(e["name"], e.get("version")): e["state"] for e in r.json()}
    check("POST /v2/repository/index lists every model version as READY",
          index == {("matmul", "1"): "READY", ("simple", "1"): "READY", ("types", "1"): "READY",
                    ("typed_contents", "1"): "READY", ("versioned", "1"): "READY", ("versioned", "2"): "READY"},
          r.text)
    r = s.post("/v2/repository/models/simple/unload")
    check("unload in control mode none is refused with 400", r.status_code == 400 and "explicit" in error_of(r), r.text)


def test_statistics_and_config(s):
    """Triton's statistics extension and the effective config; run after test_json_inference."""
    r = s.get("/v2/models/versioned/versions/1/stats")
    stats = r.json().get("model_stats", [])
    one = stats[0] if stats else {}
    inf = one.get("inference_stats", {})
    check("GET .../versions/1/stats counts the one request and execution with their durations",
          r.status_code == 200 and len(stats) == 1 and one["name"] == "versioned" and one["version"] == "1"
          and one["inference_count"] == 1 and one["execution_count"] == 1 and inf["success"]["count"] == 1
          and inf["success"]["ns"] > 0 and inf["queue"]["count"] == 1 and inf["compute_infer"]["count"] == 1
          and inf["compute_infer"]["ns"] > 0 and inf["fail"]["count"] == 0 and one["last_inference"] > 1.6e12
          and one["batch_stats"][0]["batch_size"] == 1 and one["batch_stats"][0]["compute_infer"]["count"] == 1,
          r.text)
    r = s.get("/v2/models/versioned/stats")
    check("GET /v2/models/{m}/stats lists every loaded version",
          [m["version"] for m in r.json()["model_stats"]] == ["1", "2"], r.text)
    r = s.get("/v2/models/stats")
    names = sorted({m["name"] for m in r.json()["model_stats"]})
    check("GET /v2/models/stats lists every model",
          names == ["matmul", "simple", "typed_contents", "types", "versioned"], r.text)
    before = s.get("/v2/models/simple/stats").json()["model_stats"][0]["inference_stats"]["fail"]["count"]
    s.infer("simple", [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}])
    after = s.get("/v2/models/simple/stats").json()["model_stats"][0]["inference_stats"]["fail"]["count"]
    check("a rejected request counts as a failure", after == before + 1, (before, after))
    check("stats of an unknown model is 404", s.get("/v2/models/nope/stats").status_code == 404)
    check("stats of a version not loaded is 404", s.get("/v2/models/versioned/versions/7/stats").status_code == 404)
    c = s.get("/v2/models/versioned/versions/2/config").json()
    check("the config shows the effective values, auto-completed ones included",
          c["name"] == "versioned" and c["version_policy"] == {"all": {}} and c["max_batch_size"] == 4
          and c["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [3]}]
          and c["instance_group"] == [{"count": 1, "kind": "KIND_CPU"}]
          and c["default_model_filename"] == "model.onnx"
          and c["parameters"]["intra_op_threads"]["string_value"] == "2", c)
    check("GET /v2 lists the statistics extension", "statistics" in s.get("/v2").json()["extensions"])


# ---------------------------------------------------------------------------------------------------
# Inference

def test_json_inference(s):
    r = s.infer("simple", [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                            "data": [[1, 2, 3, 4], [0.1, -0.5, 1e-3, 3.25]]}])
    out = r.json()
    check("JSON inference on simple", r.status_code == 200 and out["model_name"] == "simple"
          and out["model_version"] == "1" and out["outputs"][0]["shape"] == [2, 4]
          and out["outputs"][0]["data"] == [1, 2, 3, 4, 0.1, -0.5, 1e-3, 3.25], r.text)
    body = {"id": "req-42", "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
            "outputs": [{"name": "y"}]}
    r = s.post("/v2/models/matmul/versions/1/infer", json.dumps(body))
    check("matmul with id and requested outputs", r.status_code == 200 and r.json()["id"] == "req-42"
          and r.json()["outputs"][0]["data"] == [4, 5], r.text)
    log = re.search(r"POST /v2/models/matmul/versions/1/infer 200 [\d.]+ms model=matmul version=1 id=req-42 ", s.output())
    check("the access log has a line for the request with its id, model, version and status", log, s.output()[-500:])
    for version, expect in (("1", [4, 5]), ("2", [8, 10])):
        r = s.post(f"/v2/models/versioned/versions/{version}/infer",
                   json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}))
        check(f"version {version} answers with its own weights",
              r.status_code == 200 and r.json()["outputs"][0]["data"] == expect, r.text)
    r = s.infer("versioned", [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}])
    check("no version picks the latest", r.json().get("model_version") == "2", r.text)


TYPE_VALUES = {
    "BOOL": [True, False, True], "UINT8": [0, 7, 255], "UINT16": [0, 1, 65535], "UINT32": [0, 1, 4294967295],
    "UINT64": [0, 1, 18446744073709551615], "INT8": [-128, 0, 127], "INT16": [-32768, 5, 32767],
    "INT32": [-2147483648, 5, 2147483647], "INT64": [-9223372036854775808, 5, 9223372036854775807],
    "FP16": [0.5, -2.0, 65504.0], "BF16": [1.5, -3.0, 256.0], "FP32": [0.1, -1.5, 3.4e38],
    "FP64": [0.1, -1e300, 2.5], "BYTES": ["hello", "", "w\u00f6rld"],
}


def to_binary(dtype, values):
    """The binary tensor data extension's bytes for one tensor."""
    if dtype == "BYTES":
        out = b""
        for v in values:
            b = v.encode("utf-8")
            out += struct.pack("<I", len(b)) + b
        return out
    if dtype == "BF16":
        bits = np.array(values, dtype=np.float32).view(np.uint32) >> 16
        return bits.astype("<u2").tobytes()
    np_type = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
               "INT8": np.int8, "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2",
               "FP32": "<f4", "FP64": "<f8"}[dtype]
    return np.array(values, dtype=np_type).tobytes()


def split_binary_response(r):
    header_len = int(r.headers["Inference-Header-Content-Length"])
    header = json.loads(r.content[:header_len])
    blobs, pos = {}, header_len
    for o in header["outputs"]:
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            blobs[o["name"]] = r.content[pos:pos + size]
            pos += size
    return header, blobs, pos == len(r.content)


def test_datatypes(s):
    inputs = [{"name": "in_" + t, "shape": [3], "datatype": t, "data": v} for t, v in TYPE_VALUES.items()]
    r = s.infer("types", inputs)
    check("JSON inference with all 14 datatypes is 200", r.status_code == 200, r.text[:300])
    if r.status_code == 200:
        got = {o["name"]: o for o in r.json()["outputs"]}
        for t, v in TYPE_VALUES.items():
            o = got["out_" + t]
            check(f"JSON {t} round-trips", o["datatype"] == t and o["shape"] == [3] and o["data"] == v, o)
    # Binary in, binary out, for every datatype.
    header = {"inputs": [], "outputs": [{"name": "out_" + t, "parameters": {"binary_data": True}}
                                        for t in TYPE_VALUES]}
    blob = b""
    for t, v in TYPE_VALUES.items():
        data = to_binary(t, v)
        header["inputs"].append({"name": "in_" + t, "shape": [3], "datatype": t,
                                 "parameters": {"binary_data_size": len(data)}})
        blob += data
    head = json.dumps(header).encode()
    r = s.post("/v2/models/types/infer", head + blob,
               headers={"Inference-Header-Content-Length": str(len(head)),
                        "Content-Type": "application/octet-stream"})
    check("binary inference with all 14 datatypes is 200", r.status_code == 200, r.text[:300])
    if r.status_code == 200:
        out_header, blobs, exact = split_binary_response(r)
        check("binary response sections add up to the body", exact)
        for t, v in TYPE_VALUES.items():
            check(f"binary {t} round-trips", blobs.get("out_" + t) == to_binary(t, v))
    # Mixed: binary input, JSON output (binary_data_output false by default).
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    head = json.dumps({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    r = s.post("/v2/models/simple/infer", head + x.tobytes(),
               headers={"Inference-Header-Content-Length": str(len(head))})
    check("binary input with JSON output", r.status_code == 200
          and r.json()["outputs"][0]["data"] == x.flatten().tolist(), r.text[:300])
    # JSON input, binary output via the request-level parameter.
    r = s.infer("simple", [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                binary_data_output=True)
    _, blobs, _ = split_binary_response(r)
    check("binary_data_output returns every output in binary",
          np.frombuffer(blobs["y"], dtype="<f4").tolist() == [1, 2, 3, 4], r.content[:200])


def metric(server, name, model):
    text = requests.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).text
    m = re.search(name + r'\{model="' + model + r'",version="1"\} ([\d.e+]+)', text)
    return float(m.group(1)) if m else None


def test_batching(s):
    executions_before = metric(s, "nv_inference_exec_count", "matmul")
    n = 12

    def one(i):
        x = [float(i), float(2 * i), 1.0]
        r = requests.post(s.url + "/v2/models/matmul/infer", timeout=30,
                          data=json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": x}]}))
        return i, r.status_code, r.json()

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    own = all(code == 200 and body["outputs"][0]["data"] == [i + 1.0, 2 * i + 1.0] for i, code, body in results)
    check(f"{n} concurrent requests each get their own result", own, [r for r in results if r[1] != 200][:2])
    executions = metric(s, "nv_inference_exec_count", "matmul") - executions_before
    check(f"concurrent requests were batched ({n} requests, {executions:.0f} executions)", executions < n)
    inferences = metric(s, "nv_inference_count", "matmul")
    check("nv_inference_count counts rows", inferences is not None and inferences >= n, inferences)
    text = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=10).text
    check("metrics expose the latency histogram and durations",
          "kiln_inference_request_latency_seconds_bucket" in text and "nv_inference_queue_duration_us" in text
          and "nv_inference_compute_infer_duration_us" in text)
    rss = re.search(r"^process_resident_memory_bytes ([\d.e+]+)", text, re.M)
    check("metrics expose the process's resident memory", rss and float(rss.group(1)) > 1e6, rss)


# ---------------------------------------------------------------------------------------------------
# Bad input: each must be answered with the right code, and the server must keep serving.

def raw_http(port, payload, hang_up=False):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data


def test_bad_input(s):
    x_ok = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
    cases = [
        ("malformed JSON", "/v2/models/simple/infer", '{"inputs": [', {}, 400, "malformed JSON"),
        ("a body that is not an object", "/v2/models/simple/infer", "[1, 2]", {}, 400, "object"),
        ("wrong shape", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, shape=[1, 3], data=[1, 2, 3])]}), {}, 400, "expected shape"),
        ("data count not matching shape", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, shape=[2, 4])]}), {}, 400, "needs 8 elements"),
        ("wrong datatype", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, datatype="INT32")]}), {}, 400, "expected datatype FP32"),
        ("unknown datatype", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, datatype="FP128")]}), {}, 400, "unknown datatype"),
        ("wrong input name", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, name="z")]}), {}, 400, "unknown input 'z'"),
        ("missing input", "/v2/models/simple/infer", json.dumps({"inputs": []}), {}, 400, "missing input 'x'"),
        ("unknown requested output", "/v2/models/simple/infer",
         json.dumps({"inputs": [x_ok], "outputs": [{"name": "nope"}]}), {}, 400, "unknown output"),
        ("element of the wrong JSON type", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, data=[1, "2", 3, 4])]}), {}, 400, "element 1"),
        ("integer out of range", "/v2/models/types/infer",
         json.dumps({"inputs": [{"name": "in_UINT8", "shape": [1], "datatype": "UINT8", "data": [256]}]}),
         {}, 400, "UINT8"),
        ("batch larger than max_batch_size", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, shape=[9, 4], data=[0] * 36)]}), {}, 400, "max_batch_size"),
        ("huge shape with tiny data", "/v2/models/simple/infer",
         json.dumps({"inputs": [dict(x_ok, shape=[1 << 40, 1 << 30])]}), {}, 400, "too large"),
        ("JSON nested 200000 deep", "/v2/models/simple/infer", '{"inputs": ' + "[" * 200000, {}, 400,
         "malformed JSON"),
        ("data nested 100 deep", "/v2/models/simple/infer",
         '{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": ' + "[" * 100 + "1" + "]" * 100
         + "}]}", {}, 400,
         "nested"),
        ("unknown model", "/v2/models/nope/infer", json.dumps({"inputs": [x_ok]}), {}, 404, "unknown model"),
        ("unknown version", "/v2/models/simple/versions/7/infer", json.dumps({"inputs": [x_ok]}), {}, 404,
         "no version 7"),
        ("bad version", "/v2/models/simple/versions/x/infer", json.dumps({"inputs": [x_ok]}), {}, 400, "version"),
        ("unknown endpoint", "/v2/nothing/here", "", {}, 404, "unknown endpoint"),
    ]
    head = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                   "parameters": {"binary_data_size": 16}}]}).encode()
    cases += [
        ("truncated binary section", "/v2/models/simple/infer", head + b"\0" * 10,
         {"Inference-Header-Content-Length": str(len(head))}, 400, "exceeds the 10 bytes left"),
        ("binary section longer than declared", "/v2/models/simple/infer", head + b"\0" * 20,
         {"Inference-Header-Content-Length": str(len(head))}, 400, "bytes of binary data follow"),
        ("header length beyond the body", "/v2/models/simple/infer", head,
         {"Inference-Header-Content-Length": str(len(head) + 100)}, 400, "exceeds the body"),
        ("binary_data_size without the header", "/v2/models/simple/infer", head, {}, 400,
         "Inference-Header-Content-Length"),
        ("oversize body", "/v2/models/simple/infer", b"{" + b" " * (2 << 20) + b"}", {}, 413, "exceeds the limit"),
    ]
    for name, path, body, headers, code, text in cases:
        r = s.post(path, body, headers=headers)
        err = error_of(r)
        check(f"{name} -> {code}", r.status_code == code and text in err, f"{r.status_code} {err}")
    big = json.dumps({"id": "x" * 600000, "inputs": [x_ok]}).encode()
    start = time.time()
    reply = raw_http(s.port, b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: "
                     + str(len(big)).encode() + b"\r\n\r\n" + big)
    check("Expect: 100-continue is answered, then the request served",
          reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200") and time.time() - start < 1, reply[:80])
    reply = raw_http(s.port, b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 99999999\r\n\r\n")
    check("an oversize body announced with Expect: 100-continue gets 413 without a go-ahead",
          reply.startswith(b"HTTP/1.1 413"), reply[:80])
    r = s.get("/v2/models/simple/infer")
    check("GET on infer -> 405", r.status_code == 405, r.status_code)
    reply = raw_http(s.port, b"THIS IS NOT HTTP\r\n\r\n")
    check("garbage on the socket -> 400", reply.startswith(b"HTTP/1.1 400"), reply[:80])
    start = time.time()
    reply = raw_http(s.port, b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"in",
                     hang_up=True)
    check("a client that hangs up mid-body is dropped at once, not served",
          time.time() - start < 5 and not reply.startswith(b"HTTP/1.1 200"), reply[:80])
    r = s.infer("simple", [x_ok])
    check("the server still serves after all the bad input", r.status_code == 200, r.text)
    check("the server process is still running", s.proc.poll() is None)


# ---------------------------------------------------------------------------------------------------
# Connection limits: slow clients and the connection cap

def test_connection_limits(kiln, repo):
    # The idle timeout must outlast the time it takes a loaded CI machine to open the three idle
    # connections and the fourth; 1 s proved too short there.
    s = Server(kiln, repo, "--idle-timeout", "2", "--max-connections", "3")
    try:
        slow = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        slow.sendall(b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        x = [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]
        check("a slow client does not stop others being served",
              requests.post(s.url + "/v2/models/simple/infer", data=json.dumps({"inputs": x}), timeout=5).ok)
        start = time.time()
        closed = slow.recv(100) == b""
        check("a client that never finishes its headers is cut off at the idle timeout",
              closed and time.time() - start < 5, time.time() - start)
        slow.close()
        idle = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(3)]
        time.sleep(0.3)
        reply = raw_http(s.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        check("a connection beyond --max-connections gets 503", reply.startswith(b"HTTP/1.1 503"), reply[:60])
        for sock in idle:
            sock.close()
        time.sleep(0.2)
        check("closed connections free their slots", requests.get(s.url + "/v2/health/live", timeout=5).ok)
    finally:
        check("limits: SIGTERM exits 0", s.stop() == 0, s.output()[-500:])


# ---------------------------------------------------------------------------------------------------
# Explicit model control

def test_explicit(kiln, repo):
    s = Server(kiln, repo, "--model-control-mode", "explicit")
    try:
        x = [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]
        r = s.post("/v2/repository/index")
        check("explicit: nothing is loaded at start",
              {e["name"]: e["state"] for e in r.json()} == {"broken": "UNAVAILABLE", "simple": "UNAVAILABLE"}, r.text)
        check("explicit: inference before load is 404", s.infer("simple", x).status_code == 404)
        r = s.post("/v2/repository/models/simple/load")
        check("explicit: load is 200", r.status_code == 200, r.text)
        check("explicit: loaded model is ready", s.get("/v2/models/simple/ready").status_code == 200)
        check("explicit: loaded model infers", s.infer("simple", x).status_code == 200)
        r = s.post("/v2/repository/models/simple/load")
        check("explicit: reloading a loaded model is 200", r.status_code == 200, r.text)
        r = s.post("/v2/repository/models/broken/load")
        check("explicit: a broken model fails to load with 400 naming it",
              r.status_code == 400 and "broken" in error_of(r), f"{r.status_code} {r.text}")
        index = {e["name"]: e for e in s.post("/v2/repository/index").json()}
        check("explicit: index reports why the broken model is unavailable",
              index["broken"]["state"] == "UNAVAILABLE" and index["broken"].get("reason"), index)
        check("explicit: the good model keeps serving", s.infer("simple", x).status_code == 200)
        r = s.post("/v2/repository/models/ghost/load")
        check("explicit: loading a model that is not in the repository is 404", r.status_code == 404, r.text)
        r = s.post("/v2/repository/models/..%2F..%2Fetc/load")
        check("explicit: a path as a model name is refused", r.status_code in (400, 404), r.text)
        r = s.post("/v2/repository/models/simple/unload")
        check("explicit: unload is 200", r.status_code == 200, r.text)
        check("explicit: unloaded model is 404", s.infer("simple", x).status_code == 404)
        r = s.post("/v2/repository/models/simple/unload")
        check("explicit: unloading twice is 404", r.status_code == 404, r.text)
    finally:
        check("explicit: SIGTERM exits 0", s.stop() == 0, s.output()[-500:])


def test_labels(kiln, tmp):
    """Triton's label_filename: classification answers "value:index:label"; the config reports the file;
    a config naming a missing label file fails that model's load with 400 naming the file."""
    repo = os.path.join(tmp, "labels")
    config = """
max_batch_size: 16
output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] label_filename: "labels.txt" } ]
"""
    for name in ("labeled", "missing_labels"):
        make_repository.save(os.path.join(repo, name), 1, make_repository.matmul_graph(1), config)
    with open(os.path.join(repo, "labeled", "labels.txt"), "w") as f:
        f.write("left\nright\n")
    s = Server(kiln, repo, "--model-control-mode", "explicit", "--load-model", "labeled")
    try:
        x = [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 0, 0, 0, 1, 0]}]  # y = x @ W
        r = s.infer("labeled", x, outputs=[{"name": "y", "parameters": {"classification": 1}}])
        check("labels: classification appends each class's label",
              r.status_code == 200 and r.json()["outputs"][0]["data"] == ["1.000000000:0:left", "1.000000000:1:right"],
              r.text)
        r = s.get("/v2/models/labeled/config")
        check("labels: the config reports label_filename", r.json()["output"][0].get("label_filename") == "labels.txt",
              r.text)
        r = s.post("/v2/repository/models/missing_labels/load")
        missing = os.path.join(repo, "missing_labels", "labels.txt")
        check("labels: a missing label file fails the load with 400 naming it",
              r.status_code == 400 and error_of(r) == f"model 'missing_labels' output 'y': no label file {missing}",
              f"{r.status_code} {r.text}")
    finally:
        check("labels: SIGTERM exits 0", s.stop() == 0, s.output()[-500:])


def test_drain(s):
    """SIGTERM while requests wait in the batcher's 100 ms delay: all are answered, exit code 0."""

    def one(i):
        r = requests.post(s.url + "/v2/models/matmul/infer", timeout=30, data=json.dumps(
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [float(i), 0.0, 0.0]}]}))
        return r.status_code, r.json()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, i) for i in range(4)]
        time.sleep(0.05)
        code = s.stop()
        results = [f.result() for f in futures]
    check("SIGTERM drains queued requests (all answered 200)",
          all(c == 200 and b["outputs"][0]["data"] == [float(i), 0.0] for i, (c, b) in enumerate(results)), results)
    check("SIGTERM exits 0", code == 0, s.output()[-500:])


# ---------------------------------------------------------------------------------------------------
# Poll mode: hot reload under load

def wait_for(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_poll(kiln, tmp):
    repo = os.path.join(tmp, "poll")
    live = os.path.join(repo, "live")
    staging = os.path.join(repo, ".staging")  # hidden folders are not models

    def stage(version, graph=None, garbage=False):
        """Writes a version beside the repository, then renames it in, as an operator should."""
        if garbage:
            os.makedirs(os.path.join(staging, str(version)))
            with open(os.path.join(staging, str(version), "model.onnx"), "wb") as f:
                f.write(b"not a model")
        else:
            make_repository.save(staging, version, graph)
        os.rename(os.path.join(staging, str(version)), os.path.join(live, str(version)))

    make_repository.save(live, 1, make_repository.matmul_graph(1))
    s = Server(kiln, repo, "--model-control-mode", "poll", "--repository-poll-secs", "0.1")
    results, stop = [], threading.Event()

    def load():
        http = requests.Session()
        body = json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})
        while not stop.is_set():
            r = http.post(s.url + "/v2/models/live/infer", data=body, timeout=30)
            results.append((r.status_code, r.json()["outputs"][0]["data"] if r.status_code == 200 else r.text))

    threads = [threading.Thread(target=load) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: len(results) > 20)
        stage(2, make_repository.matmul_graph(2))
        check("poll: a new version is picked up",
              wait_for(lambda: s.get("/v2/models/live").json().get("versions") == ["2"]), s.output()[-500:])
        n = len(results)
        wait_for(lambda: len(results) > n + 20)
        check("poll: requests after the swap get the new version's answer", results[-1] == (200, [8.0, 10.0]),
              results[-1])
        stage(3, garbage=True)
        reason = lambda: [e for e in s.post("/v2/repository/index").json() if e["state"] == "UNAVAILABLE"]
        check("poll: a broken new version is reported in the index", wait_for(reason), s.output()[-500:])
        check("poll: ... and in the log", "poll: model 'live' version 3" in s.output(), s.output()[-500:])
        n = len(results)
        wait_for(lambda: len(results) > n + 20)
        check("poll: the old version keeps serving beside the broken one", results[-1] == (200, [8.0, 10.0]),
              results[-1])
        check("poll: the server stays ready", s.get("/v2/health/ready").status_code == 200)
    finally:
        stop.set()
        for t in threads:
            t.join()
    failed = [r for r in results if r[0] != 200 or r[1] not in ([4.0, 5.0], [8.0, 10.0])]
    check(f"poll: zero failed requests across reloads ({len(results)} requests)", not failed, failed[:3])
    import shutil
    shutil.rmtree(live)
    check("poll: a removed model is unloaded", wait_for(lambda: s.get("/v2/models/live").status_code == 404))
    check("poll: SIGTERM exits 0", s.stop() == 0, s.output()[-500:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiln", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_repository.main(tmp)
        s = Server(args.kiln, os.path.join(tmp, "main"), "--max-request-bytes", str(1 << 20), "--access-log")
        try:
            check("startup banner lists the loaded models", "model simple version 1: READY" in s.output(), s.output())
            test_health_and_metadata(s)
            test_json_inference(s)
            test_statistics_and_config(s)
            test_datatypes(s)
            test_batching(s)
            test_bad_input(s)
            test_drain(s)
        finally:
            s.stop()
            if FAILURES:
                print("--- server output ---\n" + s.output()[-3000:])
        test_explicit(args.kiln, os.path.join(tmp, "explicit"))
        test_labels(args.kiln, tmp)
        test_connection_limits(args.kiln, os.path.join(tmp, "main"))
        test_poll(args.kiln, tmp)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
