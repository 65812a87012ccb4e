#!/usr/bin/python3
"""Request deadlines and cancellation in `kiln serve`, over HTTP and gRPC.

    deadline_test.py --kiln build/kiln --proto src/serve/grpc/grpc_predict_v2.proto --protoc protoc

The `endless` model is a Loop that runs for ages (make_repository.py). With --threads 2 its one
instance computes on both budgeted threads, so while it runs nothing else computes: each check that
`simple` still answers proves the endless run was stopped, not left holding the budget. Checks a
request timeout (HTTP `timeout` parameter, gRPC client deadline) stops the running Loop with 503 /
DEADLINE_EXCEEDED naming the node, a client that hangs up (HTTP) or cancels (gRPC) stops it too, and
the statistics count each as a failure. Prints one line per check; exits 1 on a failure.
"""
import concurrent.futures
import json
import os
import socket
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_repository  # noqa: E402
from serve_test import Server, check, error_of, grpc_messages, grpc_suite_args, run_suite  # noqa: E402

pb = None  # the generated gRPC message module

HUGE = 2 ** 62  # Loop iterations: centuries at any speed
X_SIMPLE = [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]


def endless_body(n=HUGE, **params):
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0]},
                       {"name": "n", "shape": [1], "datatype": "INT64", "data": [n]}]}
    if params:
        body["parameters"] = params
    return json.dumps(body)


def simple_answers(s):
    """True when `simple` answers within 20 s (it cannot while an endless run holds the budget)."""
    try:
        r = s.http.post(s.url + "/v2/models/simple/infer", data=json.dumps({"inputs": X_SIMPLE}), timeout=20)
        return r.status_code == 200
    except Exception:  # noqa: BLE001 - a timeout is the failure being checked
        return False


def stats_of(s, model):
    return s.get(f"/v2/models/{model}/stats").json()["model_stats"][0]


def test_http_deadline(s):
    r = s.infer("endless", [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0]},
                            {"name": "n", "shape": [1], "datatype": "INT64", "data": [3]}])
    check("endless with a small trip count answers x + n", r.status_code == 200
          and r.json()["outputs"][0]["data"] == [3], r.text)
    start = time.time()
    r = s.post("/v2/models/endless/infer", endless_body(timeout=300000))  # 300 ms, in microseconds
    check("HTTP: a running request past its timeout fails with 503 naming the Loop node",
          r.status_code == 503 and "endless_loop" in error_of(r) and "deadline" in error_of(r), (r.status_code, r.text))
    check("HTTP: ... well before the loop could end", time.time() - start < 15, time.time() - start)
    check("HTTP: the server keeps serving other models afterwards", simple_answers(s))
    # While one endless request runs to its deadline, a request for another model waits for the budget
    # and is then served.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(s.http.post, s.url + "/v2/models/endless/infer", data=endless_body(timeout=1000000),
                           timeout=30)
        time.sleep(0.2)
        other = pool.submit(simple_answers, s)
        check("HTTP: a request for another model is served once the endless one times out",
              other.result() and slow.result().status_code == 503, slow.result().text)


def test_http_pipelining(s):
    """The watch for a client leaving reads the socket while a request runs: bytes of a next request
    that arrive meanwhile must be kept for it, not taken for a hang-up."""
    body = json.dumps({"inputs": X_SIMPLE}).encode()
    req = b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sends = {"in one write": lambda: sock.sendall(req + req),
                 "in two writes": lambda: (sock.sendall(req), time.sleep(0.001), sock.sendall(req))}
        for how, send in sends.items():
            send()
            data, start = b"", time.time()
            while data.count(b"HTTP/1.1 200") < 2 and time.time() - start < 10:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            check(f"HTTP: two requests sent back to back on one connection ({how}) are both answered",
                  data.count(b"HTTP/1.1 200") == 2, data[:200])


def test_http_disconnect(s):
    before = stats_of(s, "endless")["inference_stats"]["fail"]["count"]
    body = endless_body().encode()
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(b"POST /v2/models/endless/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        time.sleep(0.3)  # let it start running
    check("HTTP: a client that hangs up cancels its running request (other models are served again)",
          simple_answers(s))
    # The budget is released before the completion is recorded, so allow the statistics a moment.
    deadline = time.time() + 10
    while stats_of(s, "endless")["inference_stats"]["fail"]["count"] == before and time.time() < deadline:
        time.sleep(0.05)
    after = stats_of(s, "endless")["inference_stats"]["fail"]["count"]
    check("HTTP: the cancelled request counts as a failure in the statistics", after == before + 1, (before, after))
    check("HTTP: the access log records the cancelled request as 499",
          " /v2/models/endless/infer 499 " in s.output(), s.output()[-800:])


def grpc_endless_request():
    req = pb.ModelInferRequest(model_name="endless")
    req.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(0)
    req.inputs.add(name="n", datatype="INT64", shape=[1]).contents.int64_contents.append(HUGE)
    return req


def test_grpc(s):
    channel = grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}")
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=pb.ModelInferResponse.FromString)
    start = time.time()
    try:
        infer(grpc_endless_request(), timeout=0.3)
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    check("gRPC: a client deadline ends the call with DEADLINE_EXCEEDED", code == grpc.StatusCode.DEADLINE_EXCEEDED,
          code)
    check("gRPC: ... and stops the running Loop (other models are served again)", simple_answers(s),
          time.time() - start)
    req = grpc_endless_request()
    req.parameters["timeout"].int64_param = 300000
    try:
        infer(req, timeout=30)
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        code, details = e.code(), e.details()
    check("gRPC: the timeout parameter fails a running request with DEADLINE_EXCEEDED naming the node",
          code == grpc.StatusCode.DEADLINE_EXCEEDED and "endless_loop" in details, (code, details))
    future = infer.future(grpc_endless_request(), timeout=60)
    time.sleep(0.3)
    future.cancel()
    check("gRPC: a cancelled call stops its running request (other models are served again)", simple_answers(s))
    channel.close()


def main():
    global pb
    args = grpc_suite_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb = grpc_messages(args.proto, args.protoc, tmp)
        make_repository.main(tmp)
        s = Server(args.kiln, os.path.join(tmp, "deadline"), "--access-log")
        def suite():
            check("the endless model runs on the whole budget of 2 threads",
                  "model endless version 1: READY, 1 instance(s) x 2 intra-op thread(s)" in s.output(), s.output())
            test_http_deadline(s)
            test_http_pipelining(s)
            test_http_disconnect(s)
            test_grpc(s)

        return run_suite(s, suite)


if __name__ == "__main__":
    sys.exit(main())
