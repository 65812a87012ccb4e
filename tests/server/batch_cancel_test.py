#!/usr/bin/python3
"""Cancelling merged batches in `kiln serve`: a batch stops once none of its clients waits.

    batch_cancel_test.py --kiln build/kiln --proto src/serve/grpc/grpc_predict_v2.proto --protoc protoc

The `endless_batched` model (make_repository.py) batches two requests at once and loops max(n) times,
so one request with a huge n makes the merged run endless. With --threads 2 its one instance computes
on both budgeted threads: while a batch runs, `simple` cannot answer, so each check that `simple`
answers again proves the batch was stopped. Checks that a merged batch stops when both its clients
hang up, that it keeps running for a client still waiting when only the other left (and stops at that
client's timeout, answering it 503), that a request whose client left while its batch was forming
is not merged into it, and that two cancelled gRPC calls stop their merged batch too.

A request whose client leaves while it waits in the queue is answered (499 in the access log, a failure
in the statistics) at once, not when a worker next looks at the queue: behind an endless batch, and in
a batch of `patient_matmul` that would wait an hour for company; over HTTP and gRPC. Prints one line
per check; exits 1 on a failure.
"""
import concurrent.futures
import json
import os
import re
import socket
import sys
import tempfile
import time

import grpc
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_repository  # noqa: E402
from serve_test import Server, check, error_of, grpc_messages, grpc_suite_args, run_suite  # noqa: E402

pb = None  # the generated gRPC message module

HUGE = 2 ** 62  # Loop iterations: centuries at any speed
X_SIMPLE = [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]


def endless_body(n=HUGE, **params):
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0]},
                       {"name": "n", "shape": [1, 1], "datatype": "INT64", "data": [n]}]}
    if params:
        body["parameters"] = params
    return json.dumps(body).encode()


def send_raw(s, body, model="endless_batched"):
    """Sends an infer request on a new connection and returns the open socket."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def matmul_body(row):
    return json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": row}]}).encode()


def simple_answers(s, within=20):
    """True when `simple` answers within `within` seconds (it cannot while an endless batch holds the
    budget)."""
    try:
        r = requests.post(s.url + "/v2/models/simple/infer", data=json.dumps({"inputs": X_SIMPLE}), timeout=within)
        return r.status_code == 200
    except Exception:  # noqa: BLE001 - a timeout is the failure being checked
        return False


def wait_inflight(s, n):
    """Waits (up to 30 s) until the server handles at least n requests: sent is not yet received on a
    busy machine, and a check made before would test nothing."""
    deadline = time.time() + 30
    while time.time() < deadline:
        text = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=10).text
        m = re.search(r"^kiln_inflight_requests ([\d.e+]+)$", text, re.M)
        if m and float(m.group(1)) >= n:
            return True
        time.sleep(0.05)
    return False


def budget_held(s):
    """True once `simple` cannot answer within 1 s, tried up to 5 times: the requests just sent may
    take a moment to form their batch and start on a busy machine; if they never hold the budget,
    every try answers."""
    return any(not simple_answers(s, 1) for _ in range(5))


def inflight(s):
    text = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=10).text
    m = re.search(r"^kiln_inflight_requests ([\d.e+]+)$", text, re.M)
    return float(m.group(1)) if m else None


def inflight_falls_to(s, n, within=10):
    """True once at most n requests are in flight (the count falls just after the statistics count a
    request), within `within` seconds."""
    deadline = time.time() + within
    while time.time() < deadline:
        if inflight(s) <= n:
            return True
        time.sleep(0.05)
    return False


def stats_of(s, model="endless_batched"):
    return s.get(f"/v2/models/{model}/stats").json()["model_stats"][0]["inference_stats"]


def settled_failures(s, expected, before, model="endless_batched", within=10):
    """The failure count once it reaches before + expected (completions are recorded just after the
    budget is released), or what it is after `within` seconds."""
    deadline = time.time() + within
    while stats_of(s, model)["fail"]["count"] < before + expected and time.time() < deadline:
        time.sleep(0.05)
    return stats_of(s, model)["fail"]["count"] - before


def test_all_clients_leave(s):
    before = stats_of(s)["fail"]["count"]
    first, second = send_raw(s, endless_body()), send_raw(s, endless_body())
    wait_inflight(s, 2)  # two requests make a preferred batch: it runs at once
    check("the two requests run (as one batch: each waits for a second) and hold the budget", budget_held(s))
    first.close()
    second.close()
    check("a merged batch stops once both its clients hung up (other models are served again)", simple_answers(s))
    check("both cancelled requests count as failures", settled_failures(s, 2, before) == 2)


def test_one_client_stays(s):
    before = stats_of(s)["fail"]["count"]
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The staying client asks for a 2 s timeout; the other hangs up at once.
        staying = pool.submit(s.http.post, s.url + "/v2/models/endless_batched/infer",
                              data=endless_body(timeout=2000000), timeout=60)
        leaving = send_raw(s, endless_body())
        wait_inflight(s, 2)
        time.sleep(0.2)  # merged and running
        leaving.close()
        r = staying.result()
    elapsed = time.time() - start
    # On 2 threads the batch computes as two parts, one per request (docs/protocol.md), so the staying
    # request's part runs to its own deadline; on one thread the merged run stops for it there.
    check("the batch kept running for the client still waiting, until its timeout",
          r.status_code == 503 and elapsed >= 1.9
          and ("timed out while its batch ran" in error_of(r) or "the run's deadline passed" in error_of(r)),
          (r.status_code, r.text, elapsed))
    check("... and then stopped (other models are served again)", simple_answers(s))
    check("both requests count as failures", settled_failures(s, 2, before) == 2)


def test_left_while_forming(s):
    """A request whose client left while its batch waited for a second one is not merged: the next
    request (3 iterations) runs without it, and answers, instead of joining an endless run."""
    before = stats_of(s)["fail"]["count"]
    gone = send_raw(s, endless_body())
    wait_inflight(s, 1)  # queued, waiting up to 10 s for a second request
    gone.close()
    settled_failures(s, 1, before)  # the server saw the hang-up and answered the request
    start = time.time()
    r = s.http.post(s.url + "/v2/models/endless_batched/infer", data=endless_body(3, timeout=15000000), timeout=60)
    check("a request whose client left while its batch formed is dropped; the next one runs without it",
          r.status_code == 200 and r.json()["outputs"][0]["data"] == [3], (r.status_code, r.text))
    check("... at once (it ran alone, not in an endless batch)", time.time() - start < 12, time.time() - start)


def test_left_while_queued_behind_a_running_batch(s):
    """The only instance runs an endless batch; a third request queues behind it and its client leaves:
    the request is answered at once, while the batch still runs, and a fourth one, whose client stays,
    is answered once the batch is gone."""
    first, second = send_raw(s, endless_body()), send_raw(s, endless_body())
    wait_inflight(s, 2)
    check("behind: an endless batch holds the only instance", budget_held(s))
    before = stats_of(s)["fail"]["count"]
    # Requests to `simple` that budget_held gave up on wait for the budget too, so count from here.
    waiting = inflight(s)
    third = send_raw(s, endless_body())
    check("behind: a third request reaches the queue", wait_inflight(s, waiting + 1))
    third.close()
    # No worker looks at the queue before the endless batch ends, so only the hang-up can answer it.
    check("behind: a queued request whose client left is answered at once, while the batch runs",
          settled_failures(s, 1, before, within=30) == 1 and inflight_falls_to(s, waiting), inflight(s))
    check("behind: ... and the batch still runs", budget_held(s))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = inflight(s)
        staying = pool.submit(s.http.post, s.url + "/v2/models/endless_batched/infer",
                              data=endless_body(3, timeout=60000000), timeout=90)
        wait_inflight(s, waiting + 1)
        first.close()
        second.close()
        r = staying.result()  # runs alone after the 10 s queue delay
    check("behind: a queued request whose client stayed is answered after the batch stopped",
          r.status_code == 200 and r.json()["outputs"][0]["data"] == [3], (r.status_code, r.text))
    check("behind: the three cancelled requests count as failures", settled_failures(s, 3, before) == 3)


def test_left_while_alone_in_a_forming_batch(s):
    """patient_matmul waits an hour for four requests. One client sends one and leaves: the server
    answers it (a failure, 499 in the access log) at once, and four later requests make a batch of
    their own."""
    before = stats_of(s, "patient_matmul")["fail"]["count"]
    waiting = inflight(s)
    gone = send_raw(s, matmul_body([9, 9, 9]), model="patient_matmul")
    check("forming: the request reaches the queue", wait_inflight(s, waiting + 1))
    gone.close()
    check("forming: a request whose client left its forming batch counts as a failure at once",
          settled_failures(s, 1, before, model="patient_matmul", within=30) == 1)
    check("forming: ... and is no longer in flight", inflight_falls_to(s, waiting), inflight(s))
    check("forming: the access log shows it as 499 (client closed request)",
          re.search(r"POST /v2/models/patient_matmul/infer 499 ", s.output()) is not None, s.output()[-2000:])
    rows = [[i, 0, 0] for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda row: requests.post(s.url + "/v2/models/patient_matmul/infer",
                                                          data=matmul_body(row), timeout=60), rows))
    check("forming: four later requests form a batch without it, each answered with its own row",
          all(r.status_code == 200 and r.json()["outputs"][0]["data"] == [row[0], 0]
              for r, row in zip(answers, rows)), [(r.status_code, r.text) for r in answers])


def test_grpc_call_cancelled_while_forming(s):
    before = stats_of(s, "patient_matmul")["fail"]["count"]
    channel = grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}")
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=pb.ModelInferResponse.FromString)
    req = pb.ModelInferRequest(model_name="patient_matmul")
    req.inputs.add(name="x", datatype="FP32", shape=[1, 3]).contents.fp32_contents.extend([1, 2, 3])
    waiting = inflight(s)
    call = infer.future(req, timeout=120)
    check("gRPC forming: the call reaches the queue", wait_inflight(s, waiting + 1))
    call.cancel()
    check("gRPC forming: a call cancelled while its batch formed counts as a failure at once",
          settled_failures(s, 1, before, model="patient_matmul", within=30) == 1)
    check("gRPC forming: ... and is no longer in flight", inflight_falls_to(s, waiting), inflight(s))
    channel.close()


def test_grpc_all_calls_cancelled(s):
    before = stats_of(s)["fail"]["count"]
    channel = grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}")
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=pb.ModelInferResponse.FromString)
    calls = []
    for _ in range(2):
        req = pb.ModelInferRequest(model_name="endless_batched")
        req.inputs.add(name="x", datatype="FP32", shape=[1, 1]).contents.fp32_contents.append(0)
        req.inputs.add(name="n", datatype="INT64", shape=[1, 1]).contents.int64_contents.append(HUGE)
        calls.append(infer.future(req, timeout=120))
    check("gRPC: the two calls reach the server", wait_inflight(s, 2))
    check("gRPC: the two calls run as one batch and hold the budget", budget_held(s))
    for call in calls:
        call.cancel()
    check("gRPC: a merged batch stops once both its calls were cancelled (other models are served again)",
          simple_answers(s))
    check("gRPC: both cancelled calls count as failures", settled_failures(s, 2, before) == 2)
    channel.close()


def main():
    global pb
    args = grpc_suite_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb = grpc_messages(args.proto, args.protoc, tmp)
        make_repository.main(tmp)
        s = Server(args.kiln, os.path.join(tmp, "batch_cancel"), "--access-log")
        def suite():
            check("endless_batched runs on the whole budget of 2 threads",
                  "model endless_batched version 1: READY, 1 instance(s) x 2 intra-op thread(s)" in s.output(),
                  s.output())
            test_all_clients_leave(s)
            test_one_client_stays(s)
            test_left_while_forming(s)
            test_left_while_queued_behind_a_running_batch(s)
            test_left_while_alone_in_a_forming_batch(s)
            test_grpc_call_cancelled_while_forming(s)
            test_grpc_all_calls_cancelled(s)

        return run_suite(s, suite)


if __name__ == "__main__":
    sys.exit(main())
