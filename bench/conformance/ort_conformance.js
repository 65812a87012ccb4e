#!/usr/bin/env node
// Runs ONNX backend test cases through ONNX Runtime (onnxruntime-node, graph optimization "all") with
// the same comparison as `kiln test`: |a - b| <= 1e-7 + 1e-3 * |b|, NaN equal to NaN, exact for
// integers, booleans and strings. Prints PASS/FAIL per case and the line "N passed, M failed".
//
//   node bench/conformance/ort_conformance.js /usr/share/libonnx-testdata/data/node
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const protobuf = require('protobufjs');

const ONNX_PROTO_DIR = '/usr/lib/python3/dist-packages/onnx';
const root = new protobuf.Root();
root.resolvePath = (origin, target) => path.join(ONNX_PROTO_DIR, path.basename(target));
root.loadSync(['onnx-ml.proto', 'onnx-data.proto'], { keepCase: true });
const TensorProto = root.lookupType('onnx.TensorProto');

// ONNX TensorProto.DataType code -> [ort type name, typed array constructor, repeated field]
const TYPES = {
  1: ['float32', Float32Array, 'float_data'], 2: ['uint8', Uint8Array, 'int32_data'],
  3: ['int8', Int8Array, 'int32_data'], 4: ['uint16', Uint16Array, 'int32_data'],
  5: ['int16', Int16Array, 'int32_data'], 6: ['int32', Int32Array, 'int32_data'],
  7: ['int64', BigInt64Array, 'int64_data'], 8: ['string', null, 'string_data'],
  9: ['bool', Uint8Array, 'int32_data'], 10: ['float16', Uint16Array, 'int32_data'],
  11: ['float64', Float64Array, 'double_data'], 12: ['uint32', Uint32Array, 'uint64_data'],
  13: ['uint64', BigUint64Array, 'uint64_data'],
};

function tensorFromProto(bytes) {
  const p = TensorProto.decode(bytes);
  const info = TYPES[p.data_type];
  if (!info) throw new Error(`data type ${p.data_type} is not supported by onnxruntime-node`);
  const dims = (p.dims || []).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const [type, Ctor, field] = info;
  let data;
  if (type === 'string') {
    data = (p.string_data || []).map((b) => Buffer.from(b).toString('utf8'));
  } else if (p.raw_data && p.raw_data.length) {
    const raw = Buffer.from(p.raw_data);
    const copy = new ArrayBuffer(raw.length);
    new Uint8Array(copy).set(raw);
    data = new Ctor(copy, 0, count);
  } else {
    const values = p[field] || [];
    data = new Ctor(count);
    for (let i = 0; i < count; i++) {
      const v = values[i];
      data[i] = Ctor === BigInt64Array || Ctor === BigUint64Array ? BigInt(v.toString()) : Number(v);
    }
  }
  return { name: p.name, tensor: new ort.Tensor(type, data, dims) };
}

function asNumber(type, v) {
  if (type === 'float16') {
    const s = (v & 0x8000) ? -1 : 1, e = (v >> 10) & 0x1f, m = v & 0x3ff;
    if (e === 0) return s * m * 2 ** -24;
    if (e === 31) return m ? NaN : s * Infinity;
    return s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return typeof v === 'bigint' ? Number(v) : Number(v);
}

function compare(expected, actual) {
  if (expected.type !== actual.type) return `expected type ${expected.type}, got ${actual.type}`;
  if (expected.dims.join(',') !== actual.dims.join(',')) return `expected shape [${expected.dims}], got [${actual.dims}]`;
  const floating = ['float32', 'float64', 'float16'].includes(expected.type);
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i], a = actual.data[i];
    if (floating) {
      const x = asNumber(expected.type, e), y = asNumber(actual.type, a);
      if (Number.isNaN(x) || Number.isNaN(y)) { if (!(Number.isNaN(x) && Number.isNaN(y))) return `element ${i}`; continue; }
      if (!Number.isFinite(x) || !Number.isFinite(y)) { if (x !== y) return `element ${i}`; continue; }
      if (Math.abs(x - y) > 1e-7 + 1e-3 * Math.abs(x)) return `element ${i}: expected ${x}, got ${y}`;
    } else if (e !== a) {
      return `element ${i}: expected ${e}, got ${a}`;
    }
  }
  return null;
}

function numbered(dir, prefix) {
  return fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .map((f) => [Number(f.slice(prefix.length, -3)), f]).sort((a, b) => a[0] - b[0]).map((x) => path.join(dir, x[1]));
}

function findCases(dir, out) {
  if (fs.existsSync(path.join(dir, 'model.onnx'))) { out.push(dir); return; }
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isDirectory()) findCases(path.join(dir, e.name), out);
  }
}

async function runCase(dir) {
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  const sets = fs.readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort();
  for (const set of sets) {
    const feeds = {};
    numbered(path.join(dir, set), 'input_').forEach((file, k) => {
      const { name, tensor } = tensorFromProto(fs.readFileSync(file));
      feeds[session.inputNames.includes(name) ? name : session.inputNames[k]] = tensor;
    });
    const results = await session.run(feeds);
    const outputs = numbered(path.join(dir, set), 'output_');
    for (let k = 0; k < outputs.length; k++) {
      const expected = tensorFromProto(fs.readFileSync(outputs[k])).tensor;
      const actual = results[session.outputNames[k]];
      const why = compare(expected, actual);
      if (why) throw new Error(`${set}: output '${session.outputNames[k]}' ${why}`);
    }
  }
}

async function main() {
  const cases = [];
  for (const p of process.argv.slice(2)) findCases(p, cases);
  let passed = 0, failed = 0;
  for (const dir of cases) {
    const id = `${path.basename(path.dirname(dir))}/${path.basename(dir)}`;
    try {
      await runCase(dir);
      passed++;
      console.log(`PASS ${id}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${id}: ${String(e.message || e).split('\n')[0]}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
}

main();
