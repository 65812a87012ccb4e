#!/usr/bin/python3
"""Runs every curl example of docs/protocol.md against `kiln serve` on the bundled example repository.

    protocol_doc_test.py --kiln build/kiln --doc docs/protocol.md --repository examples/model_repository

Each ```sh block runs as one bash script (ports rewritten to the server's ephemeral ones, curl made to
fail on HTTP errors); it must exit 0, and the JSON lines of the indented block right after it, when
there is one, must be among its output lines. So the document cannot drift from the server.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_test import Server  # noqa: E402


def examples(doc):
    """Yields (script, expected JSON lines) for each ```sh block."""
    text = open(doc, encoding="utf-8").read()
    for m in re.finditer(r"```sh\n(.*?)```\n", text, re.S):
        rest = text[m.end():]
        expected = []
        para = re.match(r"\n((?:    .*\n)+)", rest)
        if para:
            expected = [l[4:] for l in para.group(1).splitlines() if l[4:].startswith(("{", "["))]
        yield m.group(1), expected


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kiln", required=True)
    p.add_argument("--doc", required=True)
    p.add_argument("--repository", required=True)
    args = p.parse_args()
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(args.doc)))
    server = Server(args.kiln, args.repository, "--model-control-mode", "explicit", "--load-model", "simple",
                    "--allow-client-shm")
    failures = 0
    count = 0
    try:
        for script, expected in examples(args.doc):
            count += 1
            script = script.replace("localhost:8000", f"127.0.0.1:{server.port}")
            script = script.replace("localhost:8002", f"127.0.0.1:{server.metrics_port}")
            script = script.replace("localhost:8001", f"127.0.0.1:{server.grpc_port}")
            script = script.replace("python3 - ", sys.executable + " - ")  # the interpreter with grpcio
            script = script.replace("curl -s ", "curl -sS --fail-with-body -w '\\n' ")
            run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                                 timeout=60, cwd=source_root)
            lines = run.stdout.splitlines()
            missing = [e for e in expected if e not in lines]
            ok = run.returncode == 0 and not missing
            first = script.strip().splitlines()[0]
            print(("ok   " if ok else "FAIL ") + first[:110])
            if not ok:
                failures += 1
                print(f"  exit {run.returncode}; stderr: {run.stderr.strip()[:300]}")
                for e in missing:
                    print(f"  expected line not in output: {e}\n  output: {run.stdout[:500]}")
    finally:
        code = server.stop()
    if code != 0:
        print(f"FAIL server exit code {code}")
        failures += 1
    if count == 0:
        print("FAIL no examples found")
        failures += 1
    print(f"{count} examples, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
