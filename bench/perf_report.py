#!/usr/bin/python3
"""Writes docs/benchmarks.md (to stdout) from the results bench/compare.sh gathered; invents no number.

    /usr/bin/python3 bench/perf_report.py RESULTS_DIR LABEL > docs/benchmarks.md

RESULTS_DIR holds results.jsonl (one JSON line per `kiln bench` or ort_bench.js run, or an
{"engine", "model", "threads", "batch", "error"} line for a run that failed; a configuration's rounds in
the order they ran, each round one run of each engine), overhead.jsonl (the same,
for the overhead runs), correctness.txt (`kiln test` output on the exported models) and settings.txt
(KEY=VALUE lines: the runs, warm-ups and tolerance used), and ceiling.json when bench/fma_peak.c ran (the
core's FMA ceiling, beside which each model's GFLOP/s go: bench/model_macs.py counts their work with onnx).
"""
import datetime
import json
import os
import platform
import statistics
import sys

import model_macs


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_settings(path):
    settings = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key:
                settings[key] = value
    return settings


def run_date(results_dir, settings):
    """When the run started: settings' `started` (UTC), else the results folder's name (compare.sh names it
    after its start, local time), else now. So a report rendered again from old results keeps their date."""
    if "started" in settings:
        return settings["started"]
    try:
        start = datetime.datetime.strptime(os.path.basename(os.path.normpath(results_dir)), "%Y%m%d-%H%M%S")
        return start.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    except ValueError:
        return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def machine():
    """CPU model, cores and the SIMD flags that matter for these kernels, from /proc/cpuinfo."""
    model, flags, cores, family, number = "unknown CPU", set(), 0, None, None
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key == "cpu family" and family is None:
                family = value.strip()
            elif key == "model" and number is None:
                number = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
            elif key == "processor":
                cores += 1
    wanted = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"]
    present = [f for f in wanted if f in flags]
    # A virtual machine may name the CPU no more precisely than "AMD EPYC": the family tells its generation
    # (AMD family 25 is Zen 3/4, 26 Zen 5), which sets the FMA width behind the ceiling below.
    if family is not None:
        model += f" (cpu family {family}, model {number})"
    return f"{model}, {cores} logical CPUs, {platform.machine()}, flags: {' '.join(present) or 'none of ' + ', '.join(wanted)}"


# Over a configuration's rounds: the median of each timing, the largest of each memory figure.
MEDIAN_FIELDS = ("median_ms", "p90_ms", "p99_ms", "min_ms", "first_run_ms", "load_ms", "throughput_per_s")
MAX_FIELDS = ("peak_rss_mb", "baseline_rss_mb")


def combine_rounds(records):
    """One engine's rounds of one configuration as one record (median timings, largest memory), with
    "rounds" the number that ran; the first error where none did."""
    good = [r for r in records if "error" not in r]
    if not good:
        return records[0]
    out = dict(good[0])
    for field in MEDIAN_FIELDS:
        values = [r[field] for r in good if field in r]
        if values:
            out[field] = statistics.median(values)
    for field in MAX_FIELDS:
        values = [r[field] for r in good if field in r]
        if values:
            out[field] = max(values)
    out["rounds"] = len(good)
    return out


def round_ratios(kiln_rounds, ort_rounds):
    """kiln's median over ONNX Runtime's in each round where both ran (their runs back to back)."""
    return [k["median_ms"] / o["median_ms"] for k, o in zip(kiln_rounds, ort_rounds)
            if "median_ms" in k and "median_ms" in o]


def fmt(x):
    """Three significant figures, whole numbers from 100 up: 0.136, 8.47, 23.4, 172, 21626."""
    if x is None:
        return "—"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:#.3g}"


def load_section(w, order, by_key):
    """Time to a first answer: loading the model, then its first run, at batch 1."""
    w("## Load")
    w("")
    w("Milliseconds from nothing to a first answer at batch 1: the session's creation (kiln's `Session::load`, "
      "ONNX Runtime's `InferenceSession.create`), then the first run. kiln's load already includes batch-1 "
      "warm-up runs (one, or up to three while the buffer pool still takes memory: the plan and packed weights "
      "are ready when it returns), so load + first run is the fair sum.")
    w("")
    w("| model | threads | kiln load | ORT load | kiln load + first run | ORT load + first run | kiln/ORT |")
    w("|---|---|---|---|---|---|---|")
    for key in order:
        model, threads, batch = key
        if batch != 1:
            continue
        k, o = by_key[key].get("kiln", {}), by_key[key].get("onnxruntime", {})
        if "load_ms" not in k or "load_ms" not in o:
            continue
        k_total = k["load_ms"] + k.get("first_run_ms", 0)
        o_total = o["load_ms"] + o.get("first_run_ms", 0)
        w(f"| {model} | {threads} | {fmt(k['load_ms'])} | {fmt(o['load_ms'])} | {fmt(k_total)} | {fmt(o_total)} | "
          f"{fmt(k_total / o_total)} |")
    w("")


def ceiling_section(w, results_dir, settings, order, by_key):
    """Each model's nominal GFLOP/s per thread beside the FMA ceiling (bench/fma_peak.c), both from this
    run. Issue 3 asks ResNet-50 at batch 8 for 90% of the ceiling."""
    path = os.path.join(results_dir, "ceiling.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        ceiling = json.load(f)
    one, every = ceiling["one"], ceiling["all"]
    dims = dict(kv.split("=", 1) for kv in settings.get("bert_dims", "").split() if "=" in kv)
    models_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
    macs = {}
    for model in dict.fromkeys(key[0] for key in order):
        try:
            macs[model] = model_macs.macs_per_row(os.path.join(models_dir, model, "model.onnx"),
                                                  {k: int(v) for k, v in dims.items()})
        except Exception:  # a model the counter cannot read: its row says so
            macs[model] = None
    w("## Against the FP32 ceiling")
    w("")
    w(f"The FP32 ceiling, measured in this run by `bench/fma_peak.c` (independent {one['isa']} FMAs only, median of "
      f"7 rounds): **{fmt(one['gflops_per_thread'])} GFLOP/s** on one thread alone, and "
      f"**{fmt(every['gflops_per_thread'])} GFLOP/s per thread** with {every['threads']} threads at once "
      "(logical CPUs that share a core's FMA units split them). A model's GFLOP/s per thread is its Conv, ConvTranspose, "
      "Gemm and MatMul multiply-adds as written (`bench/model_macs.py`) x 2 x batch / median / threads, "
      "against the first ceiling at 1 thread and the second at more: nominal, since Winograd (ResNet's 3x3 "
      "layers) does fewer multiply-adds, which can put a model above 100%.")
    w("")
    w("| model | threads | batch | GMAC per row | kiln GFLOP/s per thread | kiln % of ceiling | "
      "ORT GFLOP/s per thread | ORT % of ceiling |")
    w("|---|---|---|---|---|---|---|---|")
    for key in order:
        model, threads, batch = key
        m = macs.get(model)
        peak = one["gflops_per_thread"] if threads == 1 else every["gflops_per_thread"]
        cells = []
        for engine in ("kiln", "onnxruntime"):
            r = by_key[key].get(engine, {})
            if m is None or "median_ms" not in r:
                cells += ["—", "—"]
                continue
            gflops = m * 2 * batch / (r["median_ms"] / 1000) / threads / 1e9
            cells += [fmt(gflops), f"{100 * gflops / peak:.0f}%"]
        w(f"| {model} | {threads} | {batch} | {fmt(m / 1e9) if m else 'unknown'} | " + " | ".join(cells) + " |")
    w("")


def main():
    results_dir, label = sys.argv[1], sys.argv[2]
    settings = read_settings(os.path.join(results_dir, "settings.txt"))
    runs = read_jsonl(os.path.join(results_dir, "results.jsonl"))
    overhead = read_jsonl(os.path.join(results_dir, "overhead.jsonl"))
    rounds_by_key = {}
    order = []
    for r in runs:
        key = (r["model"], r["threads"], r["batch"])
        if key not in rounds_by_key:
            rounds_by_key[key] = {}
            order.append(key)
        rounds_by_key[key].setdefault(r["engine"], []).append(r)
    by_key = {key: {engine: combine_rounds(rs) for engine, rs in engines.items()}
              for key, engines in rounds_by_key.items()}
    ratios = {key: round_ratios(engines.get("kiln", []), engines.get("onnxruntime", []))
              for key, engines in rounds_by_key.items()}
    rounds = settings.get("rounds", "1")

    def ms_cell(r):
        """An engine's median over its rounds, saying so where some of them failed."""
        if "error" in r:
            return "failed"
        cell = fmt(r.get("median_ms"))
        if rounds.isdigit() and r.get("rounds", int(rounds)) < int(rounds):
            cell += f" ({r['rounds']} of {rounds} rounds)"
        return cell

    now = run_date(results_dir, settings)
    out = []
    w = out.append
    w("# Benchmarks: kiln beside ONNX Runtime")
    w("")
    w(f"**{label}**")
    w("")
    w("Written by `bench/compare.sh`; every number below comes from the run it describes. Rerun it to replace them.")
    w("")
    w(f"- date: {now}")
    w(f"- machine: {machine()}")
    w(f"- kiln: {settings.get('kiln_version', '?')}; ONNX Runtime: onnxruntime-node {settings.get('ort_version', '?')}, "
      "graph optimization level \"all\", intraOpNumThreads = threads")
    w(f"- each measurement: median of {settings.get('runs', '?')} timed runs after {settings.get('warmup', '?')} "
      "warm-ups (and a first run, reported apart); kiln and ONNX Runtime run back to back, who goes first "
      "alternating from one configuration to the next")
    w(f"- rounds: {rounds} passes over every configuration, so that each one is measured at moments spread over "
      "the run (a shared host runs in fast and slow phases of minutes); each cell is the median over the rounds, "
      "kiln/ORT the median of the rounds' ratios (each round's pair ran back to back), each round's ratio beside it")
    w(f"- inputs: the same random values for both (tools/kiln/random_inputs.h); bert_base at {settings.get('bert_dims', '?')}")
    w("")
    kiln_threads = {(r["threads"], r.get("engine_threads")) for r in runs if r.get("engine") == "kiln" and "error" not in r}
    if any(t != e for t, e in kiln_threads):
        w("> kiln has no thread option yet: its \"2 threads\" rows ran on **1 thread** (engine_threads in the raw "
          "results). Its reference kernels are portable C++, not the oneDNN kernels being written; being far behind "
          "ONNX Runtime here is expected and is what issue 3 is about.")
        w("")

    w("## Latency")
    w("")
    w("Median milliseconds per call (lower is better); kiln/ORT below 1.0 means kiln is faster.")
    w("")
    w("| model | threads | batch | kiln ms | ORT ms | kiln/ORT | rounds' kiln/ORT | kiln p90 | ORT p90 | "
      "kiln first run | ORT first run |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for key in order:
        k, o = by_key[key].get("kiln", {}), by_key[key].get("onnxruntime", {})
        ratio = statistics.median(ratios[key]) if ratios[key] else None
        each = " ".join(fmt(r) for r in ratios[key]) or "—"
        w(f"| {key[0]} | {key[1]} | {key[2]} | {ms_cell(k)} | {ms_cell(o)} | {fmt(ratio)} | {each} | "
          f"{fmt(k.get('p90_ms'))} | {fmt(o.get('p90_ms'))} | {fmt(k.get('first_run_ms'))} | "
          f"{fmt(o.get('first_run_ms'))} |")
    failures = [r for r in runs if "error" in r]
    if failures:
        w("")
        for r in failures:
            w(f"- {r['engine']} failed on {r['model']} (threads {r['threads']}, batch {r['batch']}): {r['error']}")
    w("")

    ceiling_section(w, results_dir, settings, order, by_key)

    load_section(w, order, by_key)

    w("## Memory")
    w("")
    w("Peak resident set of the whole process in MiB, after loading the model and running it (ru_maxrss). "
      "ONNX Runtime runs inside Node.js, so its column includes Node's own baseline, shown apart "
      "(kiln's baseline is its process before loading the model).")
    w("")
    w("| model | threads | batch | kiln peak RSS | ORT peak RSS | kiln baseline | ORT (Node) baseline |")
    w("|---|---|---|---|---|---|---|")
    for key in order:
        k, o = by_key[key].get("kiln", {}), by_key[key].get("onnxruntime", {})
        w(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(k.get('peak_rss_mb'))} | {fmt(o.get('peak_rss_mb'))} | "
          f"{fmt(k.get('baseline_rss_mb'))} | {fmt(o.get('baseline_rss_mb'))} |")
    w("")

    w("## Per-call overhead")
    w("")
    w("What a call costs beyond the math, at batch 1 and 1 thread. For the Identity-only model the whole call is "
      "overhead. For kiln, overhead_us is also measured directly: run wall time minus the time inside kernels, "
      "from the per-node timing hook (an upper bound: the hook reads the clock twice per node). ONNX Runtime's "
      "figures go through onnxruntime-node's asynchronous run(), so they include the Node.js binding and a "
      "promise; a C or C++ caller of ONNX Runtime pays less.")
    w("")
    w("| model | kiln median µs | kiln outside kernels µs | ORT median µs |")
    w("|---|---|---|---|")
    models = []
    for r in overhead:
        if r["model"] not in models:
            models.append(r["model"])
    for m in models:
        k = next((r for r in overhead if r["model"] == m and r["engine"] == "kiln"), {})
        o = next((r for r in overhead if r["model"] == m and r["engine"] == "onnxruntime"), {})
        us = lambda r, f: fmt(r[f] * 1000) if f in r else ("failed" if "error" in r else "—")
        w(f"| {m} | {us(k, 'median_ms')} | {fmt(k.get('overhead_us')) if 'overhead_us' in k else '—'} | "
          f"{us(o, 'median_ms')} |")
    w("")

    w("## Correctness")
    w("")
    w(f"`kiln test` on the exported models against torch's float64 reference, at rtol {settings.get('rtol', '?')}, "
      f"atol {settings.get('atol', '?')}:")
    w("")
    w("```")
    with open(os.path.join(results_dir, "correctness.txt")) as f:
        w(f.read().rstrip())
    w("```")
    w("")
    w(f"Raw results: `{settings.get('results_dir', results_dir)}` (not committed; rerun to regenerate).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
