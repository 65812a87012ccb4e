#!/usr/bin/python3
"""Existing KServe v2 clients against `kiln serve`, unchanged: Triton's tritonclient (Python HTTP, C++
HTTP, gRPC), perf_analyzer, the KServe SDK (InferenceRESTClient, InferenceGRPCClient) and curl.

    client_compat_test.py --kiln build/kiln --proto src/serve/grpc/grpc_predict_v2.proto --protoc protoc

None of those clients installs here (no PyPI), so each test replays one client's requests as its public
source builds them (the file and function are named beside each: method, path, headers, body bytes)
over a raw http.client connection that adds and decodes nothing, and reads the answer the way that
client's code parses it. docs/protocol.md ("Clients") lists what each client needs and what kiln does.
Prints one line per check; exits 1 on a failure.
"""
import gzip
import http.client
import json
import os
import sys
import tempfile
import uuid
import zlib
from multiprocessing import shared_memory

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_repository  # noqa: E402
from serve_test import Server, check, grpc_messages, grpc_suite_args, run_suite  # noqa: E402

pb = None  # the generated gRPC messages
MAX_REQUEST_BYTES = 1 << 20


def call(port, method, path, body=b"", headers=None):
    """One request on a fresh connection, sent and read back byte for byte: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, str(value))
        if method == "POST":
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body if method == "POST" else None)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def error_text(body):
    """tritonclient/http/_utils.py _get_error: the body must be JSON with an "error" string."""
    try:
        return json.loads(body.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError):
        return "<not a JSON error: " + body[:100].decode("utf-8", "replace") + ">"


# ---------------------------------------------------------------------------------------------------
# tritonclient, Python HTTP (src/python/library/tritonclient/http)

def triton_input(name, array, binary_data=True):
    """_infer_input.py InferInput after set_data_from_numpy: (its _get_tensor(), its _get_binary_data())."""
    datatype = {np.float32: "FP32", np.int64: "INT64", np.object_: "BYTES"}[array.dtype.type]
    tensor = {"name": name, "shape": list(array.shape), "datatype": datatype}
    if not binary_data:
        tensor["data"] = [v.decode() if isinstance(v, bytes) else v.item() for v in array.flatten()]
        return tensor, None
    if datatype == "BYTES":
        raw = b"".join(len(v).to_bytes(4, "little") + v for v in array.flatten())
    else:
        raw = array.tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    return tensor, raw


def triton_output(name, binary_data=True, class_count=0):
    """_requested_output.py InferRequestedOutput._get_tensor()."""
    params = {"binary_data": binary_data}
    if class_count:
        params["classification"] = class_count
    return {"name": name, "parameters": params}


def triton_request(inputs, outputs=None, request_id="", timeout=None):
    """_utils.py _get_inference_request: (body, json_size or None). python-rapidjson writes compact JSON."""
    infer_request, parameters = {}, {}
    if request_id != "":
        infer_request["id"] = request_id
    if timeout is not None:
        parameters["timeout"] = timeout
    infer_request["inputs"] = [tensor for tensor, _ in inputs]
    if outputs:
        infer_request["outputs"] = outputs
    else:
        parameters["binary_data_output"] = True
    if parameters:
        infer_request["parameters"] = parameters
    request_json = json.dumps(infer_request, separators=(",", ":"))
    body = [request_json.encode()] + [raw for _, raw in inputs if raw is not None]
    if len(body) == 1:
        return body[0], None
    return b"".join(body), len(request_json)


def triton_infer(port, model, inputs, outputs=None, model_version="", request_id="", query="",
                 request_compression_algorithm=None, response_compression_algorithm=None):
    """_client.py InferenceServerClient.infer: compression, headers and path as it builds them."""
    body, json_size = triton_request(inputs, outputs, request_id)
    headers = {}
    if request_compression_algorithm == "gzip":
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body)
    elif request_compression_algorithm == "deflate":
        headers["Content-Encoding"] = "deflate"
        body = zlib.compress(body)
    if response_compression_algorithm in ("gzip", "deflate"):
        headers["Accept-Encoding"] = response_compression_algorithm
    if json_size is not None:
        headers["Inference-Header-Content-Length"] = json_size
    path = f"/v2/models/{model}/versions/{model_version}/infer" if model_version else f"/v2/models/{model}/infer"
    return call(port, "POST", path + query, body, headers)


class TritonInferResult:
    """_infer_result.py InferResult: decompress by Content-Encoding, split at the header length."""

    def __init__(self, headers, body):
        encoding = headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        header_length = headers.get("Inference-Header-Content-Length")
        self.buffers = {}
        if header_length is None:
            self.result = json.loads(body)
            return
        header_length = int(header_length)
        self.result = json.loads(body[:header_length])
        pos = header_length
        for output in self.result["outputs"]:
            size = (output.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                self.buffers[output["name"]] = body[pos:pos + size]
                pos += size

    def as_numpy(self, name):
        for output in self.result["outputs"]:
            if output["name"] != name:
                continue
            np_type = {"FP32": np.float32, "INT64": np.int64, "BYTES": np.object_}[output["datatype"]]
            if name in self.buffers:
                raw = self.buffers[name]
                if output["datatype"] == "BYTES":
                    items, pos = [], 0
                    while pos < len(raw):
                        n = int.from_bytes(raw[pos:pos + 4], "little")
                        items.append(raw[pos + 4:pos + 4 + n])
                        pos += 4 + n
                    array = np.array(items, dtype=np.object_)
                else:
                    array = np.frombuffer(raw, dtype=np_type)
            else:
                array = np.array(output["data"], dtype=np_type)
            return array.reshape(output["shape"])
        return None


def test_tritonclient_http_metadata(port):
    ok = lambda path: call(port, "GET", path)[0] == 200  # noqa: E731  (is_*_ready: status 200)
    check("tritonclient is_server_live / is_server_ready", ok("/v2/health/live") and ok("/v2/health/ready"))
    check("tritonclient is_model_ready with and without a version",
          ok("/v2/models/simple/ready") and ok("/v2/models/simple/versions/1/ready"))
    check("a percent-escaped model name (tritonclient quotes names) is decoded", ok("/v2/models/%73imple/ready"))
    status, _, body = call(port, "GET", "/v2")
    meta = json.loads(body)
    check("tritonclient get_server_metadata", status == 200 and meta["name"] == "kiln" and
          "binary_tensor_data" in meta["extensions"] and "classification" in meta["extensions"] and
          "system_shared_memory" in meta["extensions"] and "cuda_shared_memory" not in meta["extensions"], meta)
    status, _, body = call(port, "GET", "/v2/models/simple?a=1")
    check("tritonclient get_model_metadata with query_params", status == 200 and json.loads(body)["name"] == "simple")
    status, _, body = call(port, "GET", "/v2/models/simple/versions/1/config")
    check("tritonclient get_model_config of a version", status == 200 and json.loads(body)["max_batch_size"] == 8)
    status, _, body = call(port, "GET", "/v2/models/nope")
    check("tritonclient _get_error reads a 404's error", status == 404 and "nope" in error_text(body), body)


def test_tritonclient_http_infer(port):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    status, headers, body = triton_infer(port, "simple", [triton_input("x", x)], request_id="7")
    result = TritonInferResult(headers, body) if status == 200 else None
    check("tritonclient infer, binary input, no outputs named (binary_data_output)",
          result is not None and np.array_equal(result.as_numpy("y"), x) and result.result["id"] == "7" and
          result.result["model_version"] == "1", body[:200])
    status, headers, body = triton_infer(port, "simple", [triton_input("x", x, binary_data=False)],
                                         [triton_output("y", binary_data=False)], model_version="1")
    result = TritonInferResult(headers, body) if status == 200 else None
    check("tritonclient infer, JSON input and output, model_version '1'",
          result is not None and headers.get("Inference-Header-Content-Length") is None and
          np.array_equal(result.as_numpy("y"), x), body[:200])
    status, headers, body = call(port, "POST", "/v2/models/simple/versions//infer?verbose=1",
                                 *triton_request([triton_input("x", x, binary_data=False)])[:1])
    check("an empty version (.../versions//infer) is the latest", status == 200 and
          np.array_equal(TritonInferResult(headers, body).as_numpy("y"), x), body[:200])

    big = np.linspace(-1, 1, 1000, dtype=np.float32)
    text = np.array([b"kiln", b""], dtype=np.object_)
    inputs = [triton_input("in_FP32", big), triton_input("in_BYTES", text)]
    for request_coding in ("gzip", "deflate"):
        for response_coding in ("gzip", "deflate"):
            status, headers, body = triton_infer(port, "echo", inputs, request_compression_algorithm=request_coding,
                                                 response_compression_algorithm=response_coding)
            result = TritonInferResult(headers, body) if status == 200 else None
            check(f"tritonclient infer with request_compression_algorithm={request_coding}, "
                  f"response_compression_algorithm={response_coding}",
                  result is not None and headers.get("Content-Encoding") == response_coding and
                  np.array_equal(result.as_numpy("out_FP32"), big) and
                  list(result.as_numpy("out_BYTES")) == [b"kiln", b""], (status, dict(headers), body[:200]))
    status, headers, body = triton_infer(port, "simple", [triton_input("x", x)], response_compression_algorithm="gzip")
    check("a small answer goes out uncompressed even when asked (tritonclient reads it either way)",
          status == 200 and headers.get("Content-Encoding") is None and
          np.array_equal(TritonInferResult(headers, body).as_numpy("y"), x), dict(headers))

    # Classification: the top 2 of each batch entry as BYTES "value:index", binary as tritonclient asks.
    status, headers, body = triton_infer(port, "simple", [triton_input("x", x)], [triton_output("y", class_count=2)])
    result = TritonInferResult(headers, body) if status == 200 else None
    check("tritonclient infer with InferRequestedOutput(class_count=2)", result is not None and
          result.result["outputs"][0]["datatype"] == "BYTES" and result.as_numpy("y").tolist() ==
          [[b"3.000000000:3", b"2.000000000:2"], [b"7.000000000:3", b"6.000000000:2"]], body[:300])
    status, _, body = triton_infer(port, "echo", inputs, [triton_output("out_BYTES", class_count=1)])
    check("classification of a BYTES output is a clear 400", status == 400 and error_text(body) ==
          "model 'echo' output 'out_BYTES': classification needs integer, FP32 or FP64 values, not BYTES", body)


def test_tritonclient_http_statistics_and_repository(port):
    for path in ("/v2/models/stats", "/v2/models/simple/stats", "/v2/models/simple/versions/1/stats"):
        status, _, body = call(port, "GET", path)
        stats = json.loads(body)["model_stats"] if status == 200 else []
        check(f"tritonclient get_inference_statistics: GET {path}", status == 200 and len(stats) >= 1, body[:200])
    status, _, body = call(port, "POST", "/v2/repository/index", b"")
    check("tritonclient get_model_repository_index (empty body)", status == 200 and
          {"name": "simple", "version": "1", "state": "READY"} in json.loads(body), body)
    # load_model sends json.dumps({}); unload_model its unload_dependents parameter.
    status, _, body = call(port, "POST", "/v2/repository/models/simple/unload",
                           b'{"parameters":{"unload_dependents":false}}')
    check("tritonclient unload_model", status == 200, body)
    status, _, body = call(port, "POST", "/v2/repository/models/simple/load", b"{}")
    check("tritonclient load_model", status == 200 and call(port, "GET", "/v2/models/simple/ready")[0] == 200, body)


def test_shared_memory_trace_logging(port):
    # tritonclient's simple_http_shm_client.py: clean up, create and register regions (utils/shared_memory:
    # shm_open of the key), infer with the input and the output in them, read the output, unregister.
    status, _, body = call(port, "POST", "/v2/systemsharedmemory/unregister", b"")
    check("tritonclient unregister_system_shared_memory() with none registered", status == 200, body)
    tag = uuid.uuid4().hex[:8]
    regions = {name: shared_memory.SharedMemory(name=f"kiln_compat_{tag}_{name}", create=True, size=32)
               for name in ("input_data", "output_data")}
    try:
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        regions["input_data"].buf[:32] = x.tobytes()
        for name, region in regions.items():
            # http/_client.py register_system_shared_memory: the body is {"key", "offset", "byte_size"}.
            register = json.dumps({"key": "/" + region.name.lstrip("/"), "offset": 0, "byte_size": 32}).encode()
            status, _, body = call(port, "POST", f"/v2/systemsharedmemory/region/{name}/register", register)
            check(f"tritonclient register_system_shared_memory('{name}')", status == 200, body)
        status, _, body = call(port, "GET", "/v2/systemsharedmemory/status")
        check("tritonclient get_system_shared_memory_status", status == 200 and
              sorted(r["name"] for r in json.loads(body)) == ["input_data", "output_data"], body)
        # InferInput.set_shared_memory drops binary_data_size; InferRequestedOutput.set_shared_memory drops
        # binary_data. No binary input is left, so the body is plain JSON.
        shm_input = ({"name": "x", "shape": [2, 4], "datatype": "FP32",
                      "parameters": {"shared_memory_region": "input_data", "shared_memory_byte_size": 32}}, None)
        shm_output = {"name": "y", "parameters": {"shared_memory_region": "output_data",
                                                  "shared_memory_byte_size": 32}}
        request, json_size = triton_request([shm_input], [shm_output])
        status, _, body = call(port, "POST", "/v2/models/simple/infer", request)
        output = json.loads(body)["outputs"][0] if status == 200 else {}
        check("tritonclient infer with the input and the output in system shared memory", status == 200 and
              json_size is None and "data" not in output and output["shape"] == [2, 4] and
              np.array_equal(np.frombuffer(bytes(regions["output_data"].buf[:32]), np.float32).reshape(2, 4), x),
              body)
        for name in regions:
            status, _, body = call(port, "POST", f"/v2/systemsharedmemory/region/{name}/unregister", b"")
            check(f"tritonclient unregister_system_shared_memory('{name}')", status == 200, body)
        status, _, body = call(port, "GET", "/v2/systemsharedmemory/status")
        check("no system shared memory region is left", status == 200 and json.loads(body) == [], body)
    finally:
        for region in regions.values():
            region.close()
            region.unlink()
    status, _, body = call(port, "POST", "/v2/models/simple/infer", triton_request([shm_input])[0])
    check("an input in an unregistered region is a clear 400", status == 400 and error_text(body) ==
          "model 'simple': input 'x': system shared memory region 'input_data' is not registered", body)

    # CUDA shared memory needs a GPU: kiln has none to register, and says so.
    status, _, body = call(port, "GET", "/v2/cudasharedmemory/status")
    check("CUDA shared memory status lists no region", status == 200 and json.loads(body) == [], body)
    status, _, body = call(port, "GET", "/v2/cudasharedmemory/region/r0/status")
    check("CUDA shared memory status of a region is 404", status == 404 and
          error_text(body) == "CUDA shared memory region 'r0' is not registered (kiln has no CUDA shared memory)", body)
    register = b'{"raw_handle":{"b64":"AA=="},"device_id":0,"byte_size":64}'
    status, _, body = call(port, "POST", "/v2/cudasharedmemory/region/r0/register", register)
    check("CUDA shared memory register is a clear 400", status == 400 and
          error_text(body) == "CUDA shared memory region 'r0': kiln runs on the CPU and has no CUDA shared memory; "
                              "register system shared memory (/v2/systemsharedmemory) or send tensors in the "
                              "request body", body)
    for path in ("/v2/cudasharedmemory/unregister", "/v2/cudasharedmemory/region/r0/unregister"):
        status, _, body = call(port, "POST", path, b"")
        check(f"CUDA shared memory unregister has nothing to do: POST {path}", status == 200, body)
    for name in ("systemsharedmemory", "cudasharedmemory"):
        check(f"{name} status by POST is 405", call(port, "POST", f"/v2/{name}/status")[0] == 405)
    for method, path in (("GET", "/v2/trace/setting"), ("POST", "/v2/trace/setting"),
                         ("GET", "/v2/models/simple/trace/setting"), ("GET", "/v2/logging"), ("POST", "/v2/logging")):
        status, _, body = call(port, method, path, b"{}")
        check(f"{method} {path} is a clear 400", status == 400 and "kiln does not support Triton's" in error_text(body),
              body)


def test_bad_content_coding(port):
    body, _ = triton_request([triton_input("x", np.zeros((1, 4), dtype=np.float32), binary_data=False)])
    status, _, answer = call(port, "POST", "/v2/models/simple/infer", body, {"Content-Encoding": "br"})
    check("Content-Encoding br is 415", status == 415 and error_text(answer) ==
          "Content-Encoding 'br' is not supported (supported: gzip, deflate, identity)", answer)
    status, _, answer = call(port, "POST", "/v2/models/simple/infer", b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"})
    check("a corrupt gzip body is 400", status == 400 and error_text(answer).startswith("the gzip request body is"),
          answer)
    bomb = gzip.compress(b" " * (MAX_REQUEST_BYTES * 8))
    status, _, answer = call(port, "POST", "/v2/models/simple/infer", bomb, {"Content-Encoding": "gzip"})
    check("a gzip body that decodes past --max-request-bytes is 413 (decompression bomb)",
          len(bomb) < MAX_REQUEST_BYTES // 10 and status == 413 and error_text(answer) ==
          f"the gzip request body decodes to more than the limit of {MAX_REQUEST_BYTES} bytes", answer)
    status, _, answer = call(port, "POST", "/v2/models/simple/infer", body, {"Content-Encoding": "identity"})
    check("Content-Encoding identity is the body as it is", status == 200, answer)


# ---------------------------------------------------------------------------------------------------
# tritonclient C++ HTTP (src/c++/library/http_client.cc), which perf_analyzer uses

def test_tritonclient_cpp_and_perf_analyzer(port):
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    # HttpInferRequest::PrepareRequestJson: "id" always (empty here), every input binary, every named
    # output {"binary_data": true}. PreRunProcessing: Inference-Header-Content-Length always,
    # "Expect:" (curl then sends no Expect), Content-Type: application/octet-stream.
    header = json.dumps({"id": "", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                                               "parameters": {"binary_data_size": 16}}],
                         "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}, separators=(",", ":"))
    body = header.encode() + x.tobytes()
    base = {"Inference-Header-Content-Length": len(header), "Content-Type": "application/octet-stream"}
    for coding in (None, "gzip", "deflate"):
        headers = dict(base)
        sent = body
        if coding == "gzip":  # CompressData: deflateInit2 with windowBits 15 | 16
            c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15 | 16)
            sent = c.compress(body) + c.flush()
            headers["Content-Encoding"] = "gzip"
        elif coding == "deflate":  # deflateInit: the zlib format
            sent = zlib.compress(body)
            headers["Content-Encoding"] = "deflate"
        status, answer_headers, answer = call(port, "POST", "/v2/models/simple/infer", sent, headers)
        # InferResultHttp: JSON up to the header length (0 or absent: the whole body); an output with
        # "parameters" must carry binary_data_size, its bytes follow in output order.
        json_size = int(answer_headers.get("Inference-Header-Content-Length") or 0)
        result = json.loads(answer[:json_size] if json_size else answer) if status == 200 else {}
        outputs = result.get("outputs", [])
        good = status == 200 and json_size > 0 and len(outputs) == 1 and outputs[0]["parameters"]["binary_data_size"] == 16 and \
            np.array_equal(np.frombuffer(answer[json_size:json_size + 16], np.float32), x.flatten())
        check(f"tritonclient C++ Infer ({coding or 'uncompressed'} body)", good, (status, answer[:200]))

    # perf_analyzer, model_parser.cc ModelParser::InitTriton: metadata name, inputs/outputs name,
    # datatype and shape; config max_batch_size, input[].name (and optional), output[].name, and
    # dynamic_batching or sequence_batching for the scheduler type.
    meta = json.loads(call(port, "GET", "/v2/models/simple")[2])
    config = json.loads(call(port, "GET", "/v2/models/simple/config")[2])
    check("perf_analyzer reads model metadata", meta["name"] == "simple" and
          [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [("x", "FP32", [-1, 4])] and
          [t["name"] for t in meta["outputs"]] == ["y"], meta)
    check("perf_analyzer reads the model config", config["max_batch_size"] == 8 and
          [t["name"] for t in config["input"]] == ["x"] and [t["name"] for t in config["output"]] == ["y"] and
          "dynamic_batching" in config and "sequence_batching" not in config, config)
    # perf_analyzer's ParseStatistics indexes every one of these without checking it exists.
    stats = json.loads(call(port, "GET", "/v2/models/simple/stats")[2])["model_stats"]
    missing = [(s.get("name"), key) for s in stats for key in ("name", "version", "inference_count", "execution_count")
               if key not in s]
    missing += [(s["name"], kind, field) for s in stats
                for kind in ("success", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit",
                             "cache_miss")
                for field in ("count", "ns") if field not in s["inference_stats"].get(kind, {})]
    check("perf_analyzer reads every statistic it needs (cache_hit and cache_miss included)",
          stats and not missing and isinstance(stats[0]["version"], str), missing or stats)


# ---------------------------------------------------------------------------------------------------
# KServe SDK, InferenceRESTClient (python/kserve/kserve/inference_client.py, protocol/infer_type.py)

def kserve_from_bytes(headers, body):
    """InferenceRESTClient.infer (httpx has already decoded any Content-Encoding) and InferResponse.from_bytes."""
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    elif headers.get("Content-Encoding") == "deflate":
        body = zlib.decompress(body)
    json_length = int(headers.get("inference-header-content-length", len(body)))
    response = json.loads(body[:json_length])
    outputs, start = {}, json_length
    for output in response["outputs"]:
        parameters = output.get("parameters")
        if parameters and "binary_data_size" in parameters:
            end = start + parameters["binary_data_size"]
            outputs[output["name"]] = body[start:end]
            start = end
        else:
            if output.get("data") is None:
                raise ValueError(f"'data' field is missing for output '{output['name']}'")
            outputs[output["name"]] = output["data"]
    return response, outputs


def test_kserve_rest(port):
    # httpx sends Accept-Encoding: gzip, deflate on every request.
    accept = {"accept-encoding": "gzip, deflate"}
    for path, key in (("/v2/health/ready", "ready"), ("/v2/health/live", "live"), ("/v2/models/simple/ready", "ready")):
        status, headers, body = call(port, "GET", path, headers=accept)
        check(f"KServe InferenceRESTClient GET {path}", status == 200 and json.loads(body).get(key) is True, body)
    # InferRequest.to_rest without binary inputs: a dict that orjson.dumps writes, "id" a uuid.
    request_id = str(uuid.uuid4())
    body = json.dumps({"id": request_id, "model_name": "simple", "inputs": [
        {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}]}, separators=(",", ":"))
    status, headers, answer = call(port, "POST", "/v2/models/simple/infer", body.encode(), accept)
    response, outputs = kserve_from_bytes(headers, answer) if status == 200 else ({}, {})
    check("KServe InferenceRESTClient.infer, JSON", response.get("id") == request_id and
          response.get("model_name") == "simple" and response.get("model_version") == "1" and
          outputs.get("y") == [1, 2, 3, 4], answer[:200])
    # With binary inputs: the JSON length in a lower-case header, and "data": null beside an empty
    # binary BYTES tensor (to_rest leaves out raw data that is empty, and keeps its data, None).
    big = np.linspace(0, 1, 1000, dtype=np.float32)
    header = json.dumps({"id": request_id, "model_name": "echo", "inputs": [
        {"name": "in_FP32", "shape": [1000], "datatype": "FP32", "parameters": {"binary_data_size": 4000}},
        {"name": "in_BYTES", "shape": [0], "datatype": "BYTES", "parameters": {"binary_data_size": 0}, "data": None}],
        "outputs": [{"name": "out_FP32", "parameters": {"binary_data": True}}, {"name": "out_BYTES"}]},
        separators=(",", ":"))
    headers = dict(accept, **{"inference-header-content-length": str(len(header)),
                              "content-type": "application/octet-stream"})
    status, answer_headers, answer = call(port, "POST", "/v2/models/echo/infer", header.encode() + big.tobytes(),
                                          headers)
    response, outputs = kserve_from_bytes(answer_headers, answer) if status == 200 else ({}, {})
    check("KServe InferenceRESTClient.infer, binary, compressed answer (httpx decodes it)",
          answer_headers.get("Content-Encoding") == "gzip" and
          np.array_equal(np.frombuffer(outputs.get("out_FP32", b""), np.float32), big) and
          outputs.get("out_BYTES") == [], (status, answer[:200]))
    status, headers, answer = call(port, "POST", "/v2/models/nope/infer", body.encode(), accept)
    check("KServe _construct_http_status_error finds an application/json error",
          status == 404 and headers.get("content-type") == "application/json" and "nope" in error_text(answer), answer)


# ---------------------------------------------------------------------------------------------------
# gRPC: tritonclient.grpc (compression_algorithm), perf_analyzer, KServe InferenceGRPCClient

def test_grpc(port):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def stub(method, response_type):
        return channel.unary_unary(f"/inference.GRPCInferenceService/{method}",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=response_type.FromString)

    infer = stub("ModelInfer", pb.ModelInferResponse)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    # tritonclient/grpc/_utils.py _get_inference_request: id, model_name, model_version, raw contents.
    request = pb.ModelInferRequest(model_name="simple", model_version="", id="r1")
    request.inputs.add(name="x", datatype="FP32", shape=[2, 4])
    request.outputs.add(name="y")
    request.raw_input_contents.append(x.tobytes())
    for name, compression in (("gzip", grpc.Compression.Gzip), ("deflate", grpc.Compression.Deflate)):
        response = infer(request, timeout=30, compression=compression)
        check(f"tritonclient.grpc infer with compression_algorithm={name}", response.id == "r1" and
              response.model_version == "1" and
              np.array_equal(np.frombuffer(response.raw_output_contents[0], np.float32).reshape(2, 4), x), response)
    # tritonclient.grpc InferRequestedOutput(class_count=1): the parameter as an int64.
    classify = pb.ModelInferRequest(model_name="simple", id="r2")
    classify.inputs.add(name="x", datatype="FP32", shape=[2, 4])
    classify.outputs.add(name="y").parameters["classification"].int64_param = 1
    classify.raw_input_contents.append(x.tobytes())
    response = infer(classify, timeout=30)
    check("tritonclient.grpc infer with classification", response.outputs[0].datatype == "BYTES" and
          list(response.outputs[0].shape) == [2, 1] and
          response.raw_output_contents[0] == b"\x0d\0\0\0" + b"3.000000000:3" + b"\x0d\0\0\0" + b"7.000000000:3",
          response)
    bomb = pb.ModelInferRequest(model_name="simple")
    bomb.raw_input_contents.append(bytes(2 * MAX_REQUEST_BYTES))
    try:
        infer(bomb, timeout=30, compression=grpc.Compression.Gzip)
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    check("a gzip gRPC message that decodes past --max-request-bytes is RESOURCE_EXHAUSTED",
          code == grpc.StatusCode.RESOURCE_EXHAUSTED, code)
    stats = stub("ModelStatistics", pb.ModelStatisticsResponse)(pb.ModelStatisticsRequest(name="simple"), timeout=30)
    inf = stats.model_stats[0].inference_stats
    check("grpc ModelStatistics carries cache_hit and cache_miss (zero), as Triton's",
          inf.HasField("cache_hit") and inf.HasField("cache_miss") and inf.cache_miss.count == 0, stats)
    # RPCs of Triton's that kiln does not have answer UNIMPLEMENTED, and the server keeps serving.
    raw = channel.unary_unary("/inference.GRPCInferenceService/CudaSharedMemoryStatus",
                              request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        raw(b"", timeout=30)
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    check("grpc CudaSharedMemoryStatus is UNIMPLEMENTED", code == grpc.StatusCode.UNIMPLEMENTED, code)
    check("grpc serves on after it", infer(request, timeout=30).model_name == "simple")
    channel.close()


def test_grpc_stream(port):
    """tritonclient.grpc start_stream(compression_algorithm=...) + async_stream_infer, and perf_analyzer
    --streaming: ModelInferRequests on one ModelStreamInfer call (tritonclient/grpc/_infer_stream.py
    _RequestIterator); each answer's error_message decides between InferResult(infer_response) and an
    InferenceServerException (_infer_stream.py _process_response)."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stream = channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=pb.ModelStreamInferResponse.FromString)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    requests = []
    for request_id, model in (("s1", "simple"), ("s2", "nope"), ("s3", "simple")):
        request = pb.ModelInferRequest(model_name=model, model_version="", id=request_id)
        request.inputs.add(name="x", datatype="FP32", shape=[2, 4])
        request.raw_input_contents.append(x.tobytes())
        requests.append(request)
    answers = list(stream(iter(requests), timeout=30, compression=grpc.Compression.Gzip))
    check("tritonclient.grpc async_stream_infer: each request is answered with its id",
          [a.infer_response.id for a in answers] == ["s1", "s2", "s3"], answers)
    check("tritonclient.grpc async_stream_infer: results come in infer_response",
          all(a.error_message == "" and np.array_equal(
              np.frombuffer(a.infer_response.raw_output_contents[0], np.float32).reshape(2, 4), x)
              for a in (answers[0], answers[2])), answers)
    check("tritonclient.grpc async_stream_infer: a failed request comes back as error_message",
          "unknown model" in answers[1].error_message, answers[1])
    # async_stream_infer(enable_empty_final_response=True) (tritonclient/grpc/_utils.py): clients then read
    # answers until one carries the parameter triton_final_response.
    flagged = pb.ModelInferRequest()
    flagged.CopyFrom(requests[0])
    flagged.parameters["triton_enable_empty_final_response"].bool_param = True
    answers = list(stream(iter([flagged, requests[1]]), timeout=30))
    final = [a.infer_response.parameters.get("triton_final_response") for a in answers]
    check("tritonclient.grpc enable_empty_final_response: the answer is flagged triton_final_response",
          answers[0].error_message == "" and final[0] is not None and final[0].bool_param and final[1] is None,
          answers)
    channel.close()


def echo(repo):
    """in_FP32 -> out_FP32 and in_BYTES -> out_BYTES, each of any length: answers large enough to compress."""
    helper, TensorProto = make_repository.helper, make_repository.TensorProto
    nodes = [helper.make_node("Identity", ["in_FP32"], ["out_FP32"]),
             helper.make_node("Identity", ["in_BYTES"], ["out_BYTES"])]
    io = [(TensorProto.FLOAT, "FP32", "n"), (TensorProto.STRING, "BYTES", "m")]
    graph = helper.make_graph(nodes, "echo", [helper.make_tensor_value_info("in_" + t, e, [d]) for e, t, d in io],
                              [helper.make_tensor_value_info("out_" + t, e, [d]) for e, t, d in io])
    # Without a config kiln would batch it (every dimension dynamic) and cap the length at 4.
    make_repository.save(os.path.join(repo, "echo"), 1, graph, "max_batch_size: 0\n")


def main():
    global pb
    args = grpc_suite_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb = grpc_messages(args.proto, args.protoc, tmp)
        repo = os.path.join(tmp, "repo")
        make_repository.simple(repo)
        echo(repo)
        s = Server(args.kiln, repo, "--model-control-mode", "explicit", "--load-model", "simple",
                   "--load-model", "echo", "--max-request-bytes", str(MAX_REQUEST_BYTES), "--allow-client-shm")

        def body():
            test_tritonclient_http_metadata(s.port)
            test_tritonclient_http_infer(s.port)
            test_tritonclient_http_statistics_and_repository(s.port)
            test_shared_memory_trace_logging(s.port)
            test_bad_content_coding(s.port)
            test_tritonclient_cpp_and_perf_analyzer(s.port)
            test_kserve_rest(s.port)
            test_grpc(s.grpc_port)
            test_grpc_stream(s.grpc_port)

        return run_suite(s, body)


if __name__ == "__main__":
    sys.exit(main())
