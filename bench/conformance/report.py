#!/usr/bin/python3
"""Writes docs/conformance.md (to stdout) from the result files that compare.sh collected."""
import collections
import datetime
import os
import platform
import re
import sys

SUITES = ["node", "simple", "pytorch-converted", "pytorch-operator"]


def read_results(path):
    results = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"(PASS|FAIL|XFAIL|XPASS) (\S+?)(?::| \(|$)", line)
            if m:
                results[m.group(2)] = m.group(1) in ("PASS", "XPASS")
    return results


def read_expected(path):
    expected = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            case, _, reason = line.partition(" ")
            expected[case.lstrip("~")] = reason.strip() or "(no reason given)"
    return expected


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    out_dir, expected_path = sys.argv[1], sys.argv[2]
    expected = read_expected(expected_path)
    rows = []
    kiln_fail, ort_only_fail = [], []
    for suite in SUITES:
        kiln = read_results(os.path.join(out_dir, f"kiln-{suite}.txt"))
        ort = read_results(os.path.join(out_dir, f"ort-{suite}.txt"))
        rows.append((suite, len(kiln), sum(kiln.values()), sum(ort.values())))
        kiln_fail += [c for c, ok in kiln.items() if not ok]
        ort_only_fail += [c for c, ok in ort.items() if not ok and kiln.get(c)]
    print("# Conformance: the ONNX backend test suite\n")
    print("Debian's `libonnx-testdata` (ONNX 1.12) ships the official backend test cases at")
    print("`/usr/share/libonnx-testdata/data`. Each case is a model and input/output tensors; a case passes when")
    print("every output matches at ONNX's default tolerance (|a - b| <= 1e-7 + 1e-3 * |b|, NaN equals NaN, exact")
    print("for integers, booleans and strings). ONNX Runtime 1.30 (onnxruntime-node, graph optimization \"all\")")
    print("runs the same cases with the same comparison in the same run. (Its Node.js binding cannot pass")
    print("bfloat16 tensors or sequences, so such cases count against it, as they do for its users there.)\n")
    print(f"Measured {datetime.date.today().isoformat()} on {cpu_name()} by `bench/conformance/compare.sh`.\n")
    print("| suite | cases | kiln passes | ONNX Runtime passes |")
    print("|---|---|---|---|")
    for suite, total, k, o in rows:
        print(f"| {suite} | {total} | {k} | {o} |")
    print()
    print("CI runs every suite through `kiln test` against `tests/conformance/expected_failures.txt`: a new")
    print("failure fails CI, and so does a listed case that starts passing.\n")
    print("## Where kiln fails, by cause\n")
    if not kiln_fail:
        print("Nowhere.\n")
    groups = collections.defaultdict(list)
    for case in sorted(kiln_fail):
        groups[expected.get(case, "not listed in expected_failures.txt (a regression)")].append(case)
    for reason, cases in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"- **{reason}** ({len(cases)}): " + ", ".join(f"`{c}`" for c in cases))
    print()
    print("## Cases kiln passes and ONNX Runtime fails\n")
    print(", ".join(f"`{c}`" for c in sorted(ort_only_fail)) or "None.")


if __name__ == "__main__":
    main()
