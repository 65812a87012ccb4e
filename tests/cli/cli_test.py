"""End-to-end tests of `kiln run` (and the loader behind every command) on good and bad input.

Usage: /usr/bin/python3 cli_test.py PATH/TO/kiln
Builds tiny models with onnx.helper in a temporary folder, runs kiln on each, and checks:
  - good runs exit 0 and print / write what they should;
  - every bad input exits 1 or 2 (never a signal, never a crash) and prints exactly one line,
    "error: ...", naming the file, input or node and the reason.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

KILN = os.path.abspath(sys.argv[1])
failures = []


def run(*args, cwd):
    p = subprocess.run([KILN, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def expect_ok(name, args, cwd, stdout_has=()):
    rc, out, err = run(*args, cwd=cwd)
    problems = []
    if rc != 0:
        problems.append(f"exit {rc}, stderr {err!r}")
    problems += [f"stdout lacks {s!r}" for s in stdout_has if s not in out]
    report(name, problems, out + err)
    return out


def expect_error(name, args, cwd, must_contain, codes=(1,)):
    """A bad input: the given exit code(s), one line on stderr, naming what is wrong."""
    rc, out, err = run(*args, cwd=cwd)
    problems = []
    if rc < 0 or rc >= 128:
        problems.append(f"crashed (exit {rc})")
    elif rc not in codes:
        problems.append(f"exit {rc}, expected {codes}")
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith("error: "):
        problems.append(f"stderr is not one 'error: ' line: {err!r}")
    problems += [f"message lacks {s!r}: {err.strip()!r}" for s in must_contain if s not in err]
    report(name, problems, err)


def report(name, problems, output):
    if problems:
        failures.append(name)
        print(f"FAIL {name}: " + "; ".join(problems))
    else:
        print(f"PASS {name}: {output.strip().splitlines()[0] if output.strip() else ''}")


def save_model(path, nodes, inputs, outputs, initializers=(), opset=17, extra_opsets=()):
    g = h.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset), *extra_opsets])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def identity_model(path, dtype=T.FLOAT, shape=(2, 3)):
    return save_model(path, [h.make_node("Identity", ["x"], ["y"], name="id")],
                      [h.make_tensor_value_info("x", dtype, list(shape))],
                      [h.make_tensor_value_info("y", dtype, list(shape))])


def main():
    d = tempfile.mkdtemp(prefix="kiln_cli_")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(f"{d}/x.npy", x)
    np.save(f"{d}/x_int.npy", x.astype(np.int32))
    np.save(f"{d}/x_rank3.npy", x.reshape(1, 2, 3))
    np.save(f"{d}/x_3x2.npy", x.reshape(3, 2))
    with open(f"{d}/x.pb", "wb") as f:
        f.write(nh.from_array(x, "x").SerializeToString())
    identity_model(f"{d}/id.onnx")

    # ---- good runs -------------------------------------------------------------------------------
    expect_ok("run.summary", ["run", "id.onnx", "-i", "x=x.npy"], d, ["y: float [2, 3]", "values: 0, 1, 2", "argmax: 2, 2"])
    expect_ok("run.positional_npy", ["run", "id.onnx", "-i", "x.npy"], d, ["y: float [2, 3]"])
    digits = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "digits", "model.onnx")
    expect_ok("inspect.optimized_shows_fusion", ["inspect", "--optimized", digits], d,
              ["nodes:       8 -> 7", "kiln.BlockedConv             2"])
    expect_ok("inspect.optimized_says_rows_are_independent", ["inspect", "--optimized", digits], d,
              ["rows:        independent along 'batch'"])
    rc, out, err = run("bench", digits, "--runs", "3", "--warmup", "1", "--profile", cwd=d)
    problems = [] if rc == 0 else [f"exit {rc}"]
    if len(out.splitlines()) != 1 or not out.startswith('{"engine":"kiln"'):
        problems.append(f"stdout is not one JSON line: {out!r}")
    if "kiln.BlockedConv" not in err or "the mean of 3 runs" not in err:
        problems.append(f"stderr lacks the per-operator profile: {err!r}")
    report("bench.profile_on_stderr", problems, out)
    rc, out, err = run("bench", digits, "--runs", "2", "--warmup", "0", "--profile", "--profile-nodes", "3", cwd=d)
    lines = err.splitlines()
    listed = len(lines) - lines.index("slowest nodes:") - 2 if "slowest nodes:" in lines else -1
    report("bench.profile_nodes_lists_that_many", [] if rc == 0 and listed == 3 else [f"exit {rc}, {listed} nodes listed: {err!r}"], out)
    expect_ok("run.pb_by_name", ["run", "id.onnx", "-i", "x.pb"], d, ["y: float [2, 3]"])
    expect_ok("run.write_npy", ["run", "id.onnx", "-i", "x.npy", "-o", "out/npy"], d, ["out/npy/y.npy"])
    if not np.array_equal(np.load(f"{d}/out/npy/y.npy"), x):
        failures.append("run.write_npy.content")
        print("FAIL run.write_npy.content")
    # --format pb writes the ONNX test-data layout, which `kiln test` reads back.
    case = f"{d}/case"
    os.makedirs(f"{case}/test_data_set_0")
    identity_model(f"{case}/model.onnx")
    expect_ok("run.write_pb", ["run", "case/model.onnx", "-i", "x.pb", "-o", "case/test_data_set_0", "--format", "pb"], d,
              ["output_0.pb"])
    os.replace(f"{d}/x.pb", f"{case}/test_data_set_0/input_0.pb")
    with open(f"{d}/x.pb", "wb") as f:
        f.write(nh.from_array(x, "x").SerializeToString())
    expect_ok("run.pb_output_is_test_data", ["test", "case"], d, ["1 passed"])
    # Output names with '/' or ':' are made safe as file names.
    save_model(f"{d}/names.onnx", [h.make_node("Identity", ["x"], ["out/a:b"])],
               [h.make_tensor_value_info("x", T.FLOAT, [2, 3])], [h.make_tensor_value_info("out/a:b", T.FLOAT, [2, 3])])
    expect_ok("run.sanitized_name", ["run", "names.onnx", "-i", "x.npy", "-o", "out/names"], d, ["out/names/out_a_b.npy"])
    # An input backed by an initializer may be omitted; positional files skip it.
    save_model(f"{d}/default.onnx", [h.make_node("Identity", ["b"], ["b_out"]), h.make_node("Identity", ["x"], ["y"])],
               [h.make_tensor_value_info("b", T.INT64, [2]), h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
               [h.make_tensor_value_info("b_out", T.INT64, [2]), h.make_tensor_value_info("y", T.FLOAT, [2, 3])],
               initializers=[nh.from_array(np.array([7, 8], dtype=np.int64), "b")])
    expect_ok("run.default_input", ["run", "default.onnx", "-i", "x.npy"], d, ["values: 7, 8"])

    # ---- bad models ------------------------------------------------------------------------------
    data = open(f"{d}/id.onnx", "rb").read()
    open(f"{d}/truncated.onnx", "wb").write(data[: len(data) - 7])
    expect_error("model.truncated", ["run", "truncated.onnx", "-i", "x.npy"], d, ["truncated.onnx", "not a valid ONNX model"])
    open(f"{d}/text.onnx", "w").write("this is not an ONNX model, just some text\n" * 3)
    expect_error("model.not_onnx", ["run", "text.onnx", "-i", "x.npy"], d, ["text.onnx", "not a valid ONNX model"])
    open(f"{d}/empty.onnx", "wb").close()
    expect_error("model.empty", ["run", "empty.onnx"], d, ["empty.onnx"])
    expect_error("model.missing", ["run", "nosuch.onnx"], d, ["nosuch.onnx"])
    expect_error("model.directory", ["run", "out"], d, ["out", "folder"])
    save_model(f"{d}/unknown_op.onnx", [h.make_node("FrobnicateX", ["x"], ["y"], name="frob")],
               [h.make_tensor_value_info("x", T.FLOAT, [2, 3])], [h.make_tensor_value_info("y", T.FLOAT, [2, 3])])
    expect_error("model.unknown_op", ["run", "unknown_op.onnx", "-i", "x.npy"], d, ["unknown_op.onnx", "frob", "FrobnicateX"])
    save_model(f"{d}/unknown_domain.onnx", [h.make_node("Foo", ["x"], ["y"], name="foo", domain="com.example")],
               [h.make_tensor_value_info("x", T.FLOAT, [2, 3])], [h.make_tensor_value_info("y", T.FLOAT, [2, 3])],
               extra_opsets=[h.make_opsetid("com.example", 1)])
    expect_error("model.unknown_domain", ["run", "unknown_domain.onnx", "-i", "x.npy"], d,
                 ["unknown_domain.onnx", "foo", "com.example"])
    save_model(f"{d}/opset18.onnx", [h.make_node("Identity", ["x"], ["y"])],
               [h.make_tensor_value_info("x", T.FLOAT, [2, 3])], [h.make_tensor_value_info("y", T.FLOAT, [2, 3])], opset=18)
    expect_error("model.opset_too_new", ["run", "opset18.onnx", "-i", "x.npy"], d, ["opset18.onnx", "opset 18"])
    save_model(f"{d}/dangling.onnx", [h.make_node("Identity", ["nowhere"], ["y"], name="dang")],
               [h.make_tensor_value_info("x", T.FLOAT, [2, 3])], [h.make_tensor_value_info("y", T.FLOAT, [2, 3])])
    expect_error("model.dangling_value", ["run", "dangling.onnx", "-i", "x.npy"], d, ["dangling.onnx", "nowhere"])
    save_model(f"{d}/cycle.onnx", [h.make_node("Identity", ["b"], ["a"], name="n1"), h.make_node("Identity", ["a"], ["b"], name="n2")],
               [h.make_tensor_value_info("x", T.FLOAT, [2, 3])], [h.make_tensor_value_info("b", T.FLOAT, [2, 3])])
    expect_error("model.cycle", ["run", "cycle.onnx", "-i", "x.npy"], d, ["cycle.onnx"])
    bad_init = T(name="w", data_type=T.FLOAT, dims=[1 << 36], raw_data=b"\0\0\0\0")  # 4 bytes for 2^36 floats
    save_model(f"{d}/bad_init.onnx", [h.make_node("Identity", ["w"], ["y"])], [], [h.make_tensor_value_info("y", T.FLOAT, None)],
               initializers=[bad_init])
    expect_error("model.initializer_size", ["run", "bad_init.onnx"], d, ["bad_init.onnx", "'w'", "raw_data"])
    ext = h.make_tensor("w", T.FLOAT, [2], vals=[1.0, 2.0])
    ext.ClearField("float_data")
    ext.data_location = T.EXTERNAL
    ext.external_data.add(key="location", value="../../etc/passwd")
    save_model(f"{d}/ext_escape.onnx", [h.make_node("Identity", ["w"], ["y"])], [], [h.make_tensor_value_info("y", T.FLOAT, [2])],
               initializers=[ext])
    expect_error("model.external_data_escape", ["run", "ext_escape.onnx"], d, ["ext_escape.onnx", "leaves the model folder"])

    # ---- bad inputs ------------------------------------------------------------------------------
    expect_error("input.missing", ["run", "id.onnx"], d, ["id.onnx", "input 'x'", "missing"])
    expect_error("input.extra_positional", ["run", "id.onnx", "-i", "x.npy", "-i", "x_int.npy"], d, ["x_int.npy", "too many inputs"])
    expect_error("input.unknown_name", ["run", "id.onnx", "-i", "z=x.npy"], d, ["'z'", "inputs: x"])
    expect_error("input.given_twice", ["run", "id.onnx", "-i", "x=x.npy", "-i", "x=x.pb"], d, ["input 'x'", "twice"])
    expect_error("input.wrong_dtype", ["run", "id.onnx", "-i", "x_int.npy"], d, ["input 'x'", "data type float", "int32"])
    expect_error("input.wrong_rank", ["run", "id.onnx", "-i", "x_rank3.npy"], d, ["input 'x'", "rank 2"])
    expect_error("input.wrong_shape", ["run", "id.onnx", "-i", "x_3x2.npy"], d, ["input 'x'", "dimension 0 to be 2"])
    expect_error("input.missing_file", ["run", "id.onnx", "-i", "x=nosuch.npy"], d, ["nosuch.npy", "no such file"])
    open(f"{d}/x.txt", "w").write("1 2 3")
    expect_error("input.unknown_extension", ["run", "id.onnx", "-i", "x.txt"], d, ["x.txt", ".npy or .pb"])
    npy = open(f"{d}/x.npy", "rb").read()
    open(f"{d}/truncated.npy", "wb").write(npy[:-5])
    expect_error("input.corrupt_npy_truncated", ["run", "id.onnx", "-i", "x=truncated.npy"], d,
                 ["truncated.npy", "shape (2, 3) of <f4 = 24 bytes, file has 19"])
    open(f"{d}/badmagic.npy", "wb").write(b"NUMPY" + npy[5:])
    expect_error("input.corrupt_npy_magic", ["run", "id.onnx", "-i", "badmagic.npy"], d, ["badmagic.npy", "bad magic"])
    open(f"{d}/badheader.npy", "wb").write(npy.replace(b"'shape': (2, 3)", b"'shape': [2, 3]"))
    expect_error("input.corrupt_npy_header", ["run", "id.onnx", "-i", "badheader.npy"], d, ["badheader.npy", "shape"])
    np.save(f"{d}/object.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    expect_error("input.object_npy", ["run", "id.onnx", "-i", "object.npy"], d, ["object.npy", "object array"])
    open(f"{d}/garbage.pb", "wb").write(b"\xff\xff\xff\xff\xff garbage")
    expect_error("input.corrupt_pb", ["run", "id.onnx", "-i", "x=garbage.pb"], d, ["garbage.pb", "TensorProto"])
    short = nh.from_array(x, "x")
    short.raw_data = short.raw_data[:10]
    open(f"{d}/short.pb", "wb").write(short.SerializeToString())
    expect_error("input.pb_size_mismatch", ["run", "id.onnx", "-i", "short.pb"], d, ["short.pb", "raw_data has 10 bytes"])
    expect_error("usage.empty_name", ["run", "id.onnx", "-i", "=x.npy"], d, ["=x.npy", "NAME=FILE"], codes=(2,))
    expect_error("usage.bad_format", ["run", "id.onnx", "-i", "x.npy", "-o", "o", "--format", "csv"], d, ["csv"], codes=(2,))
    expect_error("usage.no_model", ["run"], d, ["model"], codes=(2,))
    open(f"{d}/blocker", "w").write("a file where the output folder should go")
    expect_error("output.dir_is_file", ["run", "id.onnx", "-i", "x.npy", "-o", "blocker/sub"], d, ["blocker/sub"])

    # Hostile attributes found by review: each once crashed the process.
    # RoiAlign whose output element count is exactly 2^64 (wraps to 0 in unchecked arithmetic).
    c = 4096
    save_model(f"{d}/roialign.onnx",
               [h.make_node("RoiAlign", ["X", "R", "B"], ["Y"], name="roi", output_height=1 << 20,
                            output_width=1 << 20, sampling_ratio=1)],
               [], [h.make_tensor_value_info("Y", T.FLOAT, None)],
               [nh.from_array(np.zeros((1, c, 1, 1), np.float32), "X"), nh.from_array(np.zeros((c, 4), np.float32), "R"),
                nh.from_array(np.zeros((c,), np.int64), "B")], opset=16)
    expect_error("hostile.roialign_2_pow_64_elements", ["run", "roialign.onnx"], d, ["RoiAlign node 'roi'", "out of memory"])
    # A Conv with no output channels followed by BatchNormalization: folding BN into it divided by zero.
    save_model(f"{d}/bn0.onnx",
               [h.make_node("Conv", ["X", "W"], ["c"], name="conv"),
                h.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["Y"], name="bn")],
               [h.make_tensor_value_info("X", T.FLOAT, [1, 1, 4, 4])], [h.make_tensor_value_info("Y", T.FLOAT, None)],
               [nh.from_array(np.zeros((0, 1, 1, 1), np.float32), "W")] +
               [nh.from_array(np.zeros((0,), np.float32), n) for n in "sbmv"])
    np.save(f"{d}/x4.npy", np.zeros((1, 1, 4, 4), np.float32))
    expect_ok("hostile.empty_conv_then_batchnorm", ["run", "bn0.onnx", "-i", "X=x4.npy"], d)
    # An all-constant MelWeightMatrix of 2^49 elements: constant folding at load ran out of memory.
    save_model(f"{d}/mel.onnx",
               [h.make_node("MelWeightMatrix", ["n", "l", "r", "lo", "hi"], ["Y"], name="mel")],
               [], [h.make_tensor_value_info("Y", T.FLOAT, None)],
               [nh.from_array(np.array(1 << 20, np.int64), "n"), nh.from_array(np.array(1 << 30, np.int64), "l"),
                nh.from_array(np.array(16000, np.int64), "r"), nh.from_array(np.array(0.0, np.float32), "lo"),
                nh.from_array(np.array(8000.0, np.float32), "hi")])
    expect_error("hostile.huge_constant_melweightmatrix", ["run", "mel.onnx"], d, ["MelWeightMatrix node 'mel'", "out of memory"])

    print(f"{len(failures)} failed" + (": " + ", ".join(failures) if failures else ""))
    if failures:
        print(f"files kept in {d}")
        return 1
    shutil.rmtree(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
