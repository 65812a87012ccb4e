#!/usr/bin/python3
"""The server load section of docs/benchmarks.md, from bench/serve/run.py's results; invents no number.

docs/benchmarks.md has two authors: bench/compare.sh writes the engine benchmarks (the whole file),
and bench/serve/run.py writes the section between the marker lines below. Each keeps the other's
part: run.py replaces only its section; compare.sh carries the section over with

    /usr/bin/python3 bench/serve/report.py carry OLD_DOC NEW_DOC

which appends OLD_DOC's section (if any) to NEW_DOC. Only the standard library is used.
"""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from perf_report import fmt, machine  # noqa: E402

BEGIN = "<!-- serve-bench:begin (written by bench/serve/run.py; bench/compare.sh keeps it) -->"
END = "<!-- serve-bench:end -->"


def read_results(path):
    import json
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def git_describe(root):
    def git(*args):
        try:
            return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    return f"{git('describe', '--always', '--dirty') or 'unknown'} ({git('rev-parse', '--abbrev-ref', 'HEAD') or '?'})"


def tool_version(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True)
    except OSError:
        return "not installed"
    text = (done.stdout + done.stderr).strip().splitlines()
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." and "nginx version: nginx/1.22.1": the name and version.
    words = text[0].replace("nginx version: ", "").split() if text else []
    return " ".join(words[:2]) if words and words[0] == "wrk" else (words[0] if words else "unknown")


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def group(results, **where):
    return [r for r in results if all(r.get(k) == v for k, v in where.items())]


def counts(runs):
    """'requests / errors / server-counted' over every repeat."""
    requests = sum(r["requests"] for r in runs)
    errors = sum(r["errors"] for r in runs)
    served = [r["server_success"] for r in runs if "server_success" in r]
    return f"{requests} | {errors} | {sum(served) if served else '—'}"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "—"


def tiny_table(results):
    rows = group(results, scenario="tiny")
    if not rows:
        return []
    size = rows[0].get("response_bytes")
    out = ["### Tiny model: Identity, one [1, 4] FP32 row per request", "",
           f"kiln `--threads 1`; nginx answers every request with a static body of the same {size} bytes as kiln's "
           "JSON response (one worker process). kiln/nginx is kiln's inferences per second over nginx's "
           "responses per second at the same concurrency. Where both reach about the same rate, the limit "
           "is the load generator (one wrk thread on one core), not either server; their p50 then tells "
           "them apart.", "",
           "| concurrency | client | inferences/s | p50 ms | p99 ms | kiln/nginx | requests | errors | server-counted |",
           "|---|---|---|---|---|---|---|---|---|"]
    names = {"http_json": "HTTP JSON", "http_binary": "HTTP binary ext.", "grpc": "gRPC",
             "grpc_stream": "gRPC stream", "nginx_static": "nginx static (ceiling)"}
    for c in sorted({r["concurrency"] for r in rows}):
        nginx = median_of(group(rows, concurrency=c, client="nginx_static"), "rps")
        for client, label in names.items():
            runs = group(rows, concurrency=c, client=client)
            if not runs:
                continue
            rps = median_of(runs, "rps")
            vs = ratio(rps, nginx) if client.startswith("http") else "—"
            out.append(f"| {c} | {label} | {fmt(rps)} | {fmt(median_of(runs, 'p50_ms'))} | "
                       f"{fmt(median_of(runs, 'p99_ms'))} | {vs} | {counts(runs)} |")
    return out + [""]


def batching_table(results, min_gain):
    rows = group(results, scenario="batching")
    if not rows:
        return [], []
    first = rows[0]
    out = [f"### Dynamic batching: {first['model_file']}, HTTP binary extension, one row per request", "",
           f"kiln `--threads {first['server_threads']}` (both cores), {first.get('instances', 1)} instance(s) "
           f"per model; the same model twice: `max_batch_size: 32` "
           f"alone (every request runs on its own) and with `dynamic_batching {{ max_queue_delay_microseconds: "
           f"{first['queue_delay_us']} }}`. gain = batched/unbatched inferences per second; mean batch = rows "
           "per model run, from the server's nv_inference_count / nv_inference_exec_count.", "",
           "| concurrency | unbatched inf/s | batched inf/s | gain | unbatched p50 ms | batched p50 ms | "
           "unbatched p99 ms | batched p99 ms | mean batch | requests | errors | server-counted |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    gains = {}
    for c in sorted({r["concurrency"] for r in rows}):
        u, b = group(rows, concurrency=c, model="unbatched"), group(rows, concurrency=c, model="batched")
        ur, br = median_of(u, "rps"), median_of(b, "rps")
        gains[c] = br / ur if ur and br else None
        out.append(f"| {c} | {fmt(ur)} | {fmt(br)} | {ratio(br, ur)} | {fmt(median_of(u, 'p50_ms'))} | "
                   f"{fmt(median_of(b, 'p50_ms'))} | {fmt(median_of(u, 'p99_ms'))} | {fmt(median_of(b, 'p99_ms'))} | "
                   f"{fmt(median_of(b, 'server_avg_batch'))} | {counts(u + b)} |")
    engine = {(r["threads"], r["batch"]): r["ms_per_row"] for r in group(results, scenario="engine")}
    def at_8(t):
        if (t, 8) not in engine:
            return ""
        return f", {fmt(engine[(t, 8)])} at batch 8 ({engine[(t, 1)] / engine[(t, 8)]:.2f}x)"
    parts = [f"{fmt(engine[(t, 1)])} ms per row at batch 1{at_8(t)} and {fmt(engine[(t, 16)])} at batch 16 with {t} "
             f"thread{'s' if t > 1 else ''} ({engine[(t, 1)] / engine[(t, 16)]:.2f}x)"
             for t in sorted({t for t, _ in engine}) if (t, 1) in engine and (t, 16) in engine]
    if parts:
        out += ["", "The engine alone, for comparison (`kiln bench` on the same model in this same run, median "
                "of its runs): " + "; ".join(parts) + ". What the engine gains per row at the batch size formed "
                "(mean batch above; about half the concurrency on one instance) is about the most dynamic batching "
                "can add to throughput; the rest of the gain, or loss, is the server's."]
    checks = []
    if min_gain is not None and 16 in gains:
        ok = gains[16] is not None and gains[16] >= min_gain
        checks.append(f"- {'PASS' if ok else 'FAIL'}: dynamic batching raises throughput at concurrency 16 by "
                      f"{gains[16]:.2f}x (issue 4 asks for at least {min_gain}x)")
    return out + [""], checks


def render(results, settings, problems, min_batching_gain=1.5):
    """The section's Markdown, markers included."""
    kiln_runs = [r for r in results if "server_success" in r]
    total = sum(r["requests"] for r in results)
    errors = sum(r["errors"] for r in results)
    out = [BEGIN, "## Server under load (kiln serve)", "",
           f"Written by `bench/serve/run.py`; every number below comes from the run it describes. Rerun it "
           "(after `scripts/install-deps.sh --bench`) to replace them.", "",
           f"- date: {settings['date']}",
           f"- machine: {machine()}; the load generator runs on the same machine, over loopback",
           f"- kiln: {settings['commit']}; {settings['wrk']}; {settings['nginx']}",
           "- load generators: wrk with `bench/serve/infer.lua` (HTTP, one thread, keep-alive connections = "
           "concurrency) and `kiln_grpc_load` (`bench/serve/grpc_load.cc`: gRPC C++ async client on one thread, "
           "one HTTP/2 connection, calls in flight = concurrency; gRPC stream: `--streaming 1`, the same "
           "requests in flight on one ModelStreamInfer call, as perf_analyzer `--streaming`). Triton's perf_analyzer and tritonclient are "
           "not packaged in Debian 12, and a Python client would measure Python, so these stand in for them.",
           "- closed loop: each answer sends the next request at once; inferences/s counts good answers",
           f"- each cell: median of {settings['repeats']} runs of {settings['duration_s']:g} s; the clients take "
           "turns within each repeat",
           "- CPUs: " + ("tiny-model server (kiln or nginx) pinned to CPU 1, load generator to CPU 0 (taskset); "
                         if settings["pinned"] else "not pinned; ") +
           "the batching scenario leaves both cores to kiln, whose load generator needs little. On a shared "
           "machine, tails (p99) mostly measure the other work: a pinned process cannot move off a busy core",
           "- counted: requests = answers the client received, errors = non-2xx + socket errors, "
           "server-counted = nv_inference_request_success over the same run (wrk leaves up to `concurrency` "
           "requests unanswered on its side when it stops and closes their connections: the server answers "
           "them (counted as successes here) or, seeing the client gone, cancels them (counted by "
           "nv_inference_request_failure, at most `concurrency` per run, and not as errors); kiln_grpc_load warms "
           "up in a run of its own before each measured run and waits for its calls in flight at the end, so "
           "for gRPC the two counts are equal)", ""]
    loads = sorted(r["loadavg_1m"] for r in results if "loadavg_1m" in r)
    if loads:
        out.insert(len(out) - 1,
                   f"- machine load during the runs (1-minute load average; other work shares these cores): "
                   f"{loads[0]:g} to {loads[-1]:g}, median {statistics.median(loads):g}")
    out += tiny_table(results)
    table, checks = batching_table(results, min_batching_gain)
    out += table
    out += ["### Checks", "",
            f"- {'PASS' if errors == 0 else 'FAIL'}: {errors} errors in {total} requests over {len(results)} runs",
            f"- {'PASS' if not problems else 'FAIL'}: the server's counters agree with every client's count "
            f"({len(kiln_runs)} kiln runs){'' if not problems else ': ' + '; '.join(problems)}"]
    out += checks
    out += ["", f"Raw results: `{settings['results_dir']}` (not committed; rerun to regenerate).", END]
    return "\n".join(out) + "\n"


def extract_section(text):
    """The marked section of a document, markers included, or '' if it has none."""
    start = text.find(BEGIN)
    end = text.find(END, start)
    if start < 0 or end < 0:
        return ""
    return text[start:end + len(END)] + "\n"


def write_section(doc, section):
    """Replaces doc's marked section with `section`, or appends it if there is none yet."""
    text = open(doc).read() if os.path.exists(doc) else ""
    old = extract_section(text)
    if old:
        text = text.replace(old, section)
    else:
        text = text.rstrip("\n") + "\n\n" + section if text else section
    with open(doc, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) != 4 or sys.argv[1] != "carry":
        print("usage: report.py carry OLD_DOC NEW_DOC", file=sys.stderr)
        return 2
    old = open(sys.argv[2]).read() if os.path.exists(sys.argv[2]) else ""
    section = extract_section(old)
    if section:
        write_section(sys.argv[3], section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
