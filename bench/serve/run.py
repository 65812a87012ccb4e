#!/usr/bin/python3
"""The server load benchmark: `kiln serve` under wrk (HTTP) and kiln_grpc_load (gRPC) on loopback.

    /usr/bin/python3 bench/serve/run.py                  the full run; rewrites the serve section of docs/benchmarks.md
    /usr/bin/python3 bench/serve/run.py --smoke          seconds long, on tiny models; checks the scripts, writes no doc

Scenarios (issue 4):
- tiny: an Identity model ([N, 4] FP32) over HTTP JSON, HTTP binary extension and gRPC (a call per
  request, and ModelStreamInfer: the requests on one stream) at concurrency 1, 8 and 64, and nginx
  answering a static body of the size of kiln's JSON response, the ceiling of HTTP/1.1 on this machine.
  The server (kiln --threads 1, or nginx with one worker) gets CPU 1 and the load generator (wrk -t1,
  kiln_grpc_load) CPU 0, so they do not take turns on one core.
- resnet18: HTTP binary extension at concurrency 1 to 32, into the same model with and without
  dynamic_batching (max_batch_size 32), kiln --threads 2 on both cores. The binary extension is what
  clients sending images use: the same request as JSON (150528 numbers as text) costs kiln's I/O
  threads about 3.8 ms of CPU per request, against 1.0 ms with the binary extension (their CPU time
  in /proc over wrk runs at concurrency 4, 2026-11-23), a quarter of the model run's own CPU time.
  --batch-instances N serves both models with N instances (instance_group), each then computing on
  --threads/N threads.

Every run is counted twice: by the load generator (responses, non-2xx, socket errors) and by the
server's Prometheus counters (nv_inference_request_success/failure), which must agree. Each figure is
the median of --repeats runs; the clients take turns within each repeat, so noise from the shared
machine falls on all of them alike. Raw results: bench/results/serve/<time>/results.jsonl.

Needs wrk and nginx (scripts/install-deps.sh --bench), build/kiln and build/kiln_grpc_load. In
--smoke mode a missing wrk or nginx skips those clients with a message; exit code 77 means nothing
could run. Exits 1 when a run had an error or the counts disagree.
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import processes  # noqa: E402
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LUA = os.path.join(ROOT, "bench", "serve", "infer.lua")
SKIP = 77  # CTest's SKIP_RETURN_CODE


def write_identity_model(path):
    """An Identity model with input 'input' and output 'output', [batch, 4] FP32 (bench/models/identity's
    graph), made here so that the benchmark needs no exported model."""
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "identity", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def add_model(repo, name, model_file, config):
    os.makedirs(os.path.join(repo, name, "1"))
    os.symlink(os.path.abspath(model_file), os.path.join(repo, name, "1", "model.onnx"))
    with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
        f.write(f'name: "{name}"\n{config}')


def binary_body(folder, name, input_name, shape, raw):
    """The binary tensor data extension: JSON header then the raw bytes; returns (file, header length)."""
    header = json.dumps({"inputs": [{"name": input_name, "shape": shape, "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}, separators=(",", ":")).encode()
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(header + raw)
    return path, len(header)


class Bench:
    def __init__(self, args, out_dir):
        self.args = args
        self.out = open(os.path.join(out_dir, "results.jsonl"), "a")
        self.problems = []
        self.wrk = shutil.which("wrk")
        self.nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        two_cores = (os.cpu_count() or 1) >= 2 and shutil.which("taskset")
        self.client_cpus, self.server_cpus = ("0", "1") if two_cores and not args.no_pin else ("", "")

    def record(self, result):
        # The machine is shared: say how busy it was (1-minute load average, runnable threads per core).
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
        self.out.write(json.dumps(result) + "\n")
        self.out.flush()
        shown = {k: result.get(k) for k in ("scenario", "client", "model", "concurrency", "rps", "p50_ms", "p99_ms",
                                            "requests", "errors", "server_success", "server_failure")}
        print("   " + json.dumps(shown), file=sys.stderr, flush=True)

    def problem(self, text):
        self.problems.append(text)
        print("   PROBLEM: " + text, file=sys.stderr, flush=True)

    def wrk_run(self, url, concurrency, body, header_length=None, cpus=""):
        argv = [self.wrk, "-t1", f"-c{concurrency}", f"-d{self.args.duration:g}s", "--timeout", "30s", "-s", LUA, url,
                "--", body] + ([str(header_length)] if header_length else [])
        done = subprocess.run(processes.pinned(cpus, argv), capture_output=True, text=True, timeout=self.args.duration + 120)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return json.loads(lines[-1])

    def grpc_run(self, port, model, input_name, shape, concurrency, cpus="", duration=None, streaming=False):
        """One kiln_grpc_load run of `duration` s (--duration) with no warm-up inside it; see grpc_warmup.
        streaming: the requests go on one ModelStreamInfer call instead of a call each."""
        duration = self.args.duration if duration is None else duration
        argv = [self.args.grpc_load, "--target", f"127.0.0.1:{port}", "--model", model, "--input", input_name,
                "--shape", ",".join(map(str, shape)), "--concurrency", str(concurrency),
                "--duration", f"{duration:g}", "--warmup", "0", "--streaming", "1" if streaming else "0"]
        done = subprocess.run(processes.pinned(cpus, argv), capture_output=True, text=True, timeout=duration + 120)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"kiln_grpc_load failed ({done.returncode}): {done.stderr.strip()}")
        return json.loads(lines[-1])

    def grpc_warmup(self, port, model, input_name, shape, concurrency, cpus="", streaming=False):
        """A warm-up run of its own (--warmup s), before the measured one and outside the server's count
        of it. As kiln_grpc_load waits for its calls in flight at the end, its answers and the server's
        successes over the measured run are then the same number. (Warm-up calls inside the measured
        run were counted by the server but not in the client's requests.)"""
        if self.args.warmup > 0:
            self.grpc_run(port, model, input_name, shape, concurrency, cpus, duration=self.args.warmup,
                          streaming=streaming)

    def measured(self, server, model, concurrency, run):
        """Runs `run()` (a load generator) and adds the server's own count of what it answered meanwhile."""
        before = server.settled_metrics()
        result = run()
        after = server.settled_metrics()
        delta = {k: after.get((k, model), 0) - before.get((k, model), 0)
                 for k in ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
                           "nv_inference_exec_count")}
        result["server_success"] = int(delta["nv_inference_request_success"])
        result["server_failure"] = int(delta["nv_inference_request_failure"])
        if delta["nv_inference_exec_count"] > 0:
            result["server_avg_batch"] = round(delta["nv_inference_count"] / delta["nv_inference_exec_count"], 2)
        # wrk stops with up to `concurrency` requests in flight and closes their connections: the server
        # either answers them (a success wrk does not count) or, seeing the client gone, cancels them
        # (a failure). kiln_grpc_load waits for its calls, and warms up in a run of its own before this
        # one (grpc_warmup), so its count must equal the server's.
        expected = result["requests"] + result.get("warmup_requests", 0)
        slack = 0 if "warmup_requests" in result else concurrency
        answered = result["server_success"] + result["server_failure"]
        if result["errors"] or result["server_failure"] > slack:
            self.problem(f"{model} c={concurrency}: {result['errors']} client errors, {result['server_failure']} "
                         f"server failures {result.get('first_error', '')}".rstrip())
        if not (expected <= result["server_success"] and answered <= expected + slack):
            self.problem(f"{model} c={concurrency}: the client counted {expected} answers, the server "
                         f"{result['server_success']} successes and {result['server_failure']} failures")
        return result

    def tiny(self, model_file, levels):
        a = self.args
        with tempfile.TemporaryDirectory(prefix="kiln-serve-bench-") as tmp:
            repo = os.path.join(tmp, "repo")
            add_model(repo, "identity", model_file, "max_batch_size: 8\n")  # no dynamic_batching: no queue delay
            json_body = os.path.join(tmp, "identity.json")
            with open(json_body, "w") as f:
                json.dump({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}, f)
            bin_body, bin_header = binary_body(tmp, "identity.bin", "input", [1, 4], bytes(16))
            server = processes.KilnServer(a.kiln, repo, threads=1, cpus=self.server_cpus)
            nginx = None
            try:
                url = f"http://127.0.0.1:{server.http_port}/v2/models/identity/infer"
                with urllib.request.urlopen(urllib.request.Request(url, data=open(json_body, "rb").read()),
                                            timeout=10) as r:
                    answer = r.read().decode()
                if self.nginx:
                    nginx = processes.StaticNginx(self.nginx, answer, cpus=self.server_cpus)
                else:
                    print("   skipping nginx: not installed (scripts/install-deps.sh --bench)", file=sys.stderr)
                if not self.wrk:
                    print("   skipping HTTP: wrk not installed (scripts/install-deps.sh --bench)", file=sys.stderr)
                common = {"scenario": "tiny", "model": "identity", "server_threads": 1, "response_bytes": len(answer)}
                for c in levels:
                    for rep in range(a.repeats):
                        base = dict(common, concurrency=c, repeat=rep)
                        if self.wrk:
                            r = self.measured(server, "identity", c, lambda: self.wrk_run(url, c, json_body,
                                                                                          cpus=self.client_cpus))
                            self.record(dict(base, client="http_json", **r))
                            r = self.measured(server, "identity", c, lambda: self.wrk_run(
                                url, c, bin_body, bin_header, cpus=self.client_cpus))
                            self.record(dict(base, client="http_binary", **r))
                        self.grpc_warmup(server.grpc_port, "identity", "input", [1, 4], c, cpus=self.client_cpus)
                        r = self.measured(server, "identity", c, lambda: self.grpc_run(
                            server.grpc_port, "identity", "input", [1, 4], c, cpus=self.client_cpus))
                        self.record(dict(base, client="grpc", **r))
                        self.grpc_warmup(server.grpc_port, "identity", "input", [1, 4], c, cpus=self.client_cpus,
                                         streaming=True)
                        r = self.measured(server, "identity", c, lambda: self.grpc_run(
                            server.grpc_port, "identity", "input", [1, 4], c, cpus=self.client_cpus, streaming=True))
                        self.record(dict(base, client="grpc_stream", **r))
                        if nginx and self.wrk:
                            r = self.wrk_run(f"http://127.0.0.1:{nginx.port}/v2/models/identity/infer", c, json_body,
                                             cpus=self.client_cpus)
                            if r["errors"]:
                                self.problem(f"nginx c={c}: {r['errors']} errors")
                            self.record(dict(base, client="nginx_static", **r))
            finally:
                if nginx:
                    nginx.stop()
                if server.stop() != 0:
                    self.problem("kiln serve did not exit 0 on SIGTERM:\n" + "".join(server.log[-20:]))

    def engine_ceiling(self, model_file, threads, batches):
        """`kiln bench` on the model alone at each batch size: the engine's time per row is the most
        that dynamic batching can save, whatever the server does."""
        runs = "3" if self.args.smoke else "10"
        for t in sorted({1, threads}):
            for b in batches:
                done = subprocess.run([self.args.kiln, "bench", model_file, "--threads", str(t), "--batch", str(b),
                                       "--warmup", "2", "--runs", runs], capture_output=True, text=True, timeout=600)
                if done.returncode != 0:
                    self.problem(f"kiln bench --batch {b} failed: {done.stderr.strip()}")
                    continue
                r = json.loads(done.stdout.strip().splitlines()[-1])
                self.record(dict(scenario="engine", client="kiln bench", concurrency=None, batch=b, threads=t,
                                 model=os.path.basename(os.path.dirname(model_file)), median_ms=r["median_ms"],
                                 ms_per_row=r["median_ms"] / b, requests=0, errors=0))

    def batching(self, model_file, input_shape, levels, threads):
        """One model file served twice: with and without dynamic batching, HTTP binary extension."""
        a = self.args
        if not self.wrk:
            print("   skipping the batching scenario: wrk not installed (scripts/install-deps.sh --bench)",
                  file=sys.stderr)
            return
        name = os.path.basename(os.path.dirname(model_file)) if not a.smoke else "identity"
        with tempfile.TemporaryDirectory(prefix="kiln-serve-bench-") as tmp:
            repo = os.path.join(tmp, "repo")
            instances = f"instance_group [ {{ count: {a.batch_instances} }} ]\n"
            add_model(repo, "unbatched", model_file, "max_batch_size: 32\n" + instances)
            add_model(repo, "batched", model_file,
                      f"max_batch_size: 32\ndynamic_batching {{ max_queue_delay_microseconds: {a.queue_delay_us} }}\n"
                      + instances)
            elements = 1
            for d in input_shape:
                elements *= d
            raw = (b"\x00\x00\x80\x3f" * elements)  # 1.0f everywhere
            body, header = binary_body(tmp, "input.bin", a.batch_input, [1] + input_shape, raw)
            server = processes.KilnServer(a.kiln, repo, threads=threads)
            try:
                for c in levels:
                    for rep in range(a.repeats):
                        for model in ("unbatched", "batched"):
                            url = f"http://127.0.0.1:{server.http_port}/v2/models/{model}/infer"
                            r = self.measured(server, model, c, lambda: self.wrk_run(url, c, body, header))
                            self.record(dict(scenario="batching", client="http_binary", model=model, model_file=name,
                                             server_threads=threads, queue_delay_us=a.queue_delay_us,
                                             instances=a.batch_instances,
                                             concurrency=c, repeat=rep, **r))
            finally:
                if server.stop() != 0:
                    self.problem("kiln serve did not exit 0 on SIGTERM:\n" + "".join(server.log[-20:]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    p.add_argument("--grpc-load", default=os.path.join(ROOT, "build", "kiln_grpc_load"))
    p.add_argument("--smoke", action="store_true", help="one short repeat on tiny models; no doc")
    p.add_argument("--duration", type=float, default=10, help="seconds per run [10]")
    p.add_argument("--warmup", type=float, default=1, help="gRPC warm-up seconds per run [1]")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration; figures are medians [3]")
    p.add_argument("--scenarios", default="tiny,batching")
    p.add_argument("--batch-model", default=os.path.join(ROOT, "bench", "models", "resnet18", "model.onnx"))
    p.add_argument("--batch-input", default="input")
    p.add_argument("--batch-shape", default="3,224,224", help="one row of the batching model's input")
    p.add_argument("--queue-delay-us", type=int, default=2000, help="max_queue_delay_microseconds when batching")
    p.add_argument("--batch-instances", type=int, default=1, help="instance_group count of the batching models [1]")
    p.add_argument("--tiny-levels", default="1,8,64", help="concurrency levels of the tiny-model scenario")
    p.add_argument("--batch-levels", default="1,2,4,8,16,32", help="concurrency levels of the batching scenario")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to CPUs 1 and 0")
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    p.add_argument("--from-results", metavar="DIR", help="only rewrite the doc from an earlier run's results")
    args = p.parse_args()
    tiny_levels = [int(c) for c in args.tiny_levels.split(",")]
    batch_levels = [int(c) for c in args.batch_levels.split(",")]
    if args.smoke:
        args.duration, args.warmup, args.repeats = 1, 0.2, 1
        tiny_levels, batch_levels = [1, 8], [1, 4]
        args.batch_shape = "4"

    for tool in (args.kiln, args.grpc_load):
        if not os.access(tool, os.X_OK):
            print(f"error: {tool} is not built (cmake --build build --target kiln_cli kiln_grpc_load)", file=sys.stderr)
            return SKIP if args.smoke else 1
    missing = [t for t in ("wrk", "nginx") if not (shutil.which(t) or os.path.exists(f"/usr/sbin/{t}"))]
    if missing and not args.smoke:
        print(f"error: {' and '.join(missing)} not installed; run scripts/install-deps.sh --bench", file=sys.stderr)
        return 1

    if args.from_results:
        # Re-render the doc from an earlier run (after a change to report.py), numbers unchanged.
        with open(os.path.join(args.from_results, "settings.json")) as f:
            settings = json.load(f)
        results = report.read_results(os.path.join(args.from_results, "results.jsonl"))
        report.write_section(args.doc, report.render(results, settings, settings.get("problems", [])))
        print(f"wrote the serve section of {args.doc} from {args.from_results}", file=sys.stderr)
        return 0

    stamp = datetime.datetime.now(datetime.timezone.utc)
    out_dir = os.path.join(ROOT, "bench", "results", "serve", stamp.strftime("%Y%m%d-%H%M%S"))
    if args.smoke:
        out_dir = tempfile.mkdtemp(prefix="kiln-serve-smoke-")
    os.makedirs(out_dir, exist_ok=True)
    bench = Bench(args, out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        identity = os.path.join(tmp, "identity.onnx")
        write_identity_model(identity)
        scenarios = args.scenarios.split(",")
        if "tiny" in scenarios:
            print("== tiny model: HTTP, gRPC and nginx at concurrency " + ", ".join(map(str, tiny_levels)),
                  file=sys.stderr)
            bench.tiny(identity, tiny_levels)
        if "batching" in scenarios:
            model = identity if args.smoke else args.batch_model
            if not os.path.exists(model):
                print(f"error: {model} is missing; run /usr/bin/python3 bench/export_models.py resnet18", file=sys.stderr)
                return 1
            print("== dynamic batching at concurrency " + ", ".join(map(str, batch_levels)), file=sys.stderr)
            # Batch 8 too: closed-loop clients at concurrency 16 make batches of about 8 on one instance
            # (half the clients wait for the running batch's answers while the other half queue).
            bench.engine_ceiling(model, threads=2, batches=[1, 8, 16])
            bench.batching(model, [int(d) for d in args.batch_shape.split(",")], batch_levels, threads=2)
    bench.out.close()

    results = report.read_results(os.path.join(out_dir, "results.jsonl"))
    if not results:
        print("skipped: no load generator could run", file=sys.stderr)
        return SKIP
    settings = {"date": stamp.strftime("%Y-%m-%d %H:%M UTC"), "duration_s": args.duration, "repeats": args.repeats,
                "pinned": bench.client_cpus != "", "results_dir": os.path.relpath(out_dir, ROOT) if not args.smoke else out_dir,
                "commit": report.git_describe(ROOT), "queue_delay_us": args.queue_delay_us,
                "wrk": report.tool_version(["wrk", "-v"]), "nginx": report.tool_version(["nginx", "-v"])}
    with open(os.path.join(out_dir, "settings.json"), "w") as f:
        json.dump(dict(settings, problems=bench.problems), f)
    section = report.render(results, settings, bench.problems, min_batching_gain=None if args.smoke else 1.5)
    if args.smoke:
        doc = os.path.join(out_dir, "benchmarks.md")
        shutil.copy(args.doc, doc)
    else:
        doc = args.doc
    report.write_section(doc, section)
    print(f"wrote the serve section of {doc} (raw results in {out_dir})", file=sys.stderr)
    if args.smoke and not bench.problems:
        shutil.rmtree(out_dir)  # a passing smoke run leaves nothing behind; a failing one keeps its evidence
    if bench.problems:
        print(f"{len(bench.problems)} problem(s):\n  " + "\n  ".join(bench.problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
