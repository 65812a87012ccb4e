#!/usr/bin/python3
"""ModelStreamInfer of `kiln serve`, as tritonclient.grpc's start_stream()/async_stream_infer() and
perf_analyzer --streaming use it, with python3-grpcio.

    grpc_stream_test.py --kiln build/kiln --proto src/serve/grpc/grpc_predict_v2.proto --protoc protoc

Message classes are generated at test time from the project's own .proto. Checks that every request of
a stream is answered with its id and the same outputs as ModelInfer gives, in request order (as Triton
answers a model that is not decoupled); that requests of one stream are batched together; that a bad
request mid-stream is answered with error_message and the stream goes on; that a half-closed stream
gets every answer and ends OK; that a client sending far more than the server reads ahead before it
reads any answer gets them all; that cancelling a stream answers its queued requests at once while other
streams are served; several streams at once; and a clean SIGTERM exit with a stream still open.
Prints one line per check; exits 1 on a failure.
"""
import concurrent.futures
import os
import queue
import re
import sys
import tempfile
import threading
import time

import grpc
import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_repository  # noqa: E402
from serve_test import Server, check, grpc_messages, grpc_suite_args, metric, run_suite  # noqa: E402

pb = None  # the generated gRPC message module
SERVICE = "/inference.GRPCInferenceService/"


class Stream:
    """One ModelStreamInfer call: send() queues a request, close() half-closes, answers() reads on."""

    def __init__(self, channel, timeout=60):
        self.requests = queue.Queue()
        method = channel.stream_stream(SERVICE + "ModelStreamInfer",
                                       request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=pb.ModelStreamInferResponse.FromString)
        self.call = method(iter(self.requests.get, None), timeout=timeout)

    def send(self, request):
        self.requests.put(request)

    def close(self):
        self.requests.put(None)

    def answers(self, n):
        return [next(self.call) for _ in range(n)]


def request(model, x, request_id, shape=None, version=""):
    req = pb.ModelInferRequest(model_name=model, model_version=version, id=request_id)
    req.inputs.add(name="x", datatype="FP32", shape=shape or [1, len(x)])
    req.raw_input_contents.append(np.asarray(x, dtype="<f4").tobytes())
    return req


def unary(channel, req):
    return channel.unary_unary(SERVICE + "ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=pb.ModelInferResponse.FromString)(req, timeout=30)


def outputs(response):
    return [(o.name, o.datatype, list(o.shape), bytes(raw))
            for o, raw in zip(response.outputs, response.raw_output_contents)]


def stats(channel, model):
    r = channel.unary_unary(SERVICE + "ModelStatistics", request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=pb.ModelStatisticsResponse.FromString)(
        pb.ModelStatisticsRequest(name=model), timeout=30)
    return r.model_stats[0].inference_stats


def inflight(s):
    text = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=10).text
    m = re.search(r"^kiln_inflight_requests ([\d.e+]+)$", text, re.M)
    return float(m.group(1)) if m else None


def wait_until(predicate, within=30):
    deadline = time.time() + within
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_many_requests(channel):
    """200 requests on one stream, to two models: each answer carries its request's id and equals the
    unary answer; the answers come in request order; the statistics count each request."""
    before = stats(channel, "simple").success.count
    sent = []
    for i in range(200):
        if i % 4 == 3:
            sent.append(request("matmul", [i, -i, 1], f"m{i}"))
        else:
            sent.append(request("simple", [i, i / 2, -i, 7], f"s{i}"))
    stream = Stream(channel)
    for req in sent:
        stream.send(req)
    got = stream.answers(len(sent))
    stream.close()
    check("stream: every answer has no error", all(a.error_message == "" for a in got),
          [a.error_message for a in got if a.error_message][:3])
    check("stream: answers come in request order, each with its request's id",
          [a.infer_response.id for a in got] == [r.id for r in sent], [a.infer_response.id for a in got][:10])
    by_id = {a.infer_response.id: a.infer_response for a in got}
    wrong = [r.id for r in sent[:40] if outputs(by_id[r.id]) != outputs(unary(channel, r))]
    check("stream: each answer equals the ModelInfer answer to the same request", not wrong, wrong[:5])
    check("stream: answers name the model and version", by_id["m3"].model_name == "matmul"
          and by_id["m3"].model_version == "1", by_id["m3"])
    check("stream: the call ends OK after the half-close", list(stream.call) == [] and
          stream.call.code() == grpc.StatusCode.OK, stream.call.code())
    counted = stats(channel, "simple").success.count - before
    check("stream: ModelStatistics counts the stream's requests (150 streamed + 30 unary)", counted == 180, counted)


def test_batched_within_a_stream(s, channel):
    """matmul waits 100 ms for a batch: 8 requests sent at once on one stream run in fewer than 8 runs,
    each answered with its own rows."""
    before = metric(s, "nv_inference_exec_count", "matmul")
    stream = Stream(channel)
    for i in range(8):
        stream.send(request("matmul", [i, 2 * i, 1], f"b{i}"))
    got = stream.answers(8)
    stream.close()
    rows = [np.frombuffer(a.infer_response.raw_output_contents[0], "<f4").tolist() for a in got]
    check("stream: requests batched together each get their own rows",
          rows == [[i + 1.0, 2 * i + 1.0] for i in range(8)], rows)
    executions = metric(s, "nv_inference_exec_count", "matmul") - before
    check(f"stream: requests of one stream were batched (8 requests, {executions:.0f} executions)", executions < 8)


def test_errors_mid_stream(channel):
    """Bad requests between good ones: each is answered with error_message and its id, and the requests
    after it succeed (Triton's behaviour)."""
    cases = [
        request("simple", [1, 2, 3, 4], "good1"),
        request("nope", [1, 2, 3, 4], "unknown-model"),
        request("simple", [1, 2, 3], "wrong-shape"),
        request("simple", [1, 2, 3, 4], "bad-version", version="v1"),
        request("simple", [1, 2, 3, 4], "good2"),
    ]
    expected = {"unknown-model": "unknown model", "wrong-shape": "expected shape", "bad-version": "version"}
    stream = Stream(channel)
    for req in cases:
        stream.send(req)
    got = stream.answers(len(cases))
    stream.close()
    for a, req in zip(got, cases):
        if req.id in expected:
            check(f"stream: {req.id} is answered with error_message and its id",
                  expected[req.id] in a.error_message and a.infer_response.id == req.id
                  and len(a.infer_response.outputs) == 0, a)
        else:
            check(f"stream: {req.id} succeeds", a.error_message == "" and a.infer_response.id == req.id
                  and np.frombuffer(a.infer_response.raw_output_contents[0], "<f4").tolist() == [1, 2, 3, 4], a)
    check("stream: a stream with failed requests still ends OK", list(stream.call) == [] and
          stream.call.code() == grpc.StatusCode.OK, stream.call.code())


def test_half_close_right_away(channel):
    """Requests then the half-close at once: the server reads the end of the stream before the answers
    are ready, and still writes every answer before it finishes the call."""
    stream = Stream(channel)
    for i in range(30):
        stream.send(request("matmul", [i, 0, 0], f"h{i}"))
    stream.close()
    got = list(stream.call)
    check("stream: a half-closed stream gets every answer, then ends OK",
          [a.infer_response.id for a in got] == [f"h{i}" for i in range(30)]
          and stream.call.code() == grpc.StatusCode.OK, (len(got), stream.call.code()))
    stream = Stream(channel)
    stream.close()
    check("stream: an empty stream ends OK", list(stream.call) == [] and stream.call.code() == grpc.StatusCode.OK)


def echo(repo):
    """`echo`: Identity of float[n], so answers can be as large as a test needs."""
    helper, TensorProto = make_repository.helper, make_repository.TensorProto
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "echo",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    make_repository.save(os.path.join(repo, "echo"), 1, g, """
name: "echo"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
""")


def test_client_reads_late(channel):
    """3000 requests of 4 KiB sent before any answer is read: the answers fill the connection's
    flow-control window, and the server reads ahead no more than StreamInferCall::kMaxPending (1024)
    requests, so it stops reading until the client reads; then every request is answered, in order."""
    stream = Stream(channel)
    n = 3000
    for i in range(n):
        stream.send(request("echo", [i] * 1024, f"late{i}", shape=[1024]))
    stream.close()
    time.sleep(1)  # the answers fill the connection's flow-control window and the server's queue
    got = list(stream.call)
    wrong = [(i, a.infer_response.id) for i, a in enumerate(got)
             if a.infer_response.id != f"late{i}"
             or np.frombuffer(a.infer_response.raw_output_contents[0], "<f4")[0] != i]
    check(f"stream: {n} requests sent before reading are all answered in order",
          len(got) == n and not wrong and stream.call.code() == grpc.StatusCode.OK,
          (len(got), wrong[:3], stream.call.code()))


def test_cancel_with_queued_requests(s, channel):
    """patient_matmul waits an hour for a batch of four: three requests of a stream stay queued until the
    client cancels the stream; then they fail at once, nothing stays in flight, and another stream
    opened before goes on being served."""
    before = stats(channel, "patient_matmul").fail.count
    other = Stream(channel)
    other.send(request("simple", [1, 1, 1, 1], "o1"))
    check("stream cancel: the other stream is served", other.answers(1)[0].infer_response.id == "o1")
    waiting = inflight(s)
    stream = Stream(channel)
    for i in range(3):
        stream.send(request("patient_matmul", [i, 0, 0], f"p{i}"))
    check("stream cancel: the three requests reach the queue", wait_until(lambda: inflight(s) >= waiting + 3),
          inflight(s))
    stream.call.cancel()
    check("stream cancel: the queued requests fail at once",
          wait_until(lambda: stats(channel, "patient_matmul").fail.count - before == 3, within=30),
          stats(channel, "patient_matmul").fail.count - before)
    check("stream cancel: ... and are no longer in flight", wait_until(lambda: inflight(s) <= waiting, within=10),
          inflight(s))
    other.send(request("simple", [2, 2, 2, 2], "o2"))
    check("stream cancel: the other stream is still served", other.answers(1)[0].infer_response.id == "o2")
    other.close()
    check("stream cancel: the other stream ends OK", list(other.call) == [] and other.call.code() == grpc.StatusCode.OK)


def test_concurrent_streams(s, port):
    """Eight streams at once, each on its own connection, each sending while it reads."""
    def one(k):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stream = Stream(channel)
        wrong = []

        def sender():
            for i in range(50):
                stream.send(request("simple", [k, i, k * i, 1], f"{k}-{i}"))
            stream.close()

        t = threading.Thread(target=sender)
        t.start()
        for i, a in enumerate(stream.call):
            y = np.frombuffer(a.infer_response.raw_output_contents[0], "<f4").tolist()
            if a.infer_response.id != f"{k}-{i}" or y != [k, i, k * i, 1]:
                wrong.append((k, i, a.infer_response.id, y))
        t.join()
        ok = stream.call.code() == grpc.StatusCode.OK and i == 49
        channel.close()
        return ok, wrong

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    check("stream: 8 concurrent streams of 50 requests each get their own answers, and end OK",
          all(ok and not wrong for ok, wrong in results), [r for r in results if not r[0] or r[1]][:2])
    check("stream: nothing is left in flight", wait_until(lambda: inflight(s) == 0, within=10), inflight(s))


def main():
    global pb
    args = grpc_suite_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb = grpc_messages(args.proto, args.protoc, tmp)
        repo = os.path.join(tmp, "stream")
        for make in (make_repository.simple, make_repository.matmul, make_repository.patient_matmul, echo):
            make(repo)
        s = Server(args.kiln, repo)
        channel = grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}")
        left_open = None

        def suite():
            nonlocal left_open
            test_many_requests(channel)
            test_batched_within_a_stream(s, channel)
            test_errors_mid_stream(channel)
            test_half_close_right_away(channel)
            test_client_reads_late(channel)
            test_cancel_with_queued_requests(s, channel)
            test_concurrent_streams(s, s.grpc_port)
            # A stream still open when the server is told to stop: shutdown cancels it after its grace.
            left_open = Stream(channel)
            left_open.send(request("simple", [1, 2, 3, 4], "last"))
            check("stream: a stream left open is served", left_open.answers(1)[0].infer_response.id == "last")

        code = run_suite(s, suite, prefix="stream: ")
        channel.close()
        return code


if __name__ == "__main__":
    sys.exit(main())
