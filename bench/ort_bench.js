#!/usr/bin/env node
// The same measurement as `kiln bench`, for ONNX Runtime (onnxruntime-node, graph optimization "all",
// intraOpNumThreads = --threads), printing the same JSON line with "engine":"onnxruntime".
//
//   node bench/ort_bench.js MODEL [--threads N] [--batch B] [--dims NAME=VALUE ...] [--warmup W] [--runs R]
//
// MODEL is a .onnx file or a folder holding model.onnx. Inputs follow kiln's recipe exactly (see
// tools/kiln/random_inputs.h): one xorshift32 generator seeded with 42, drawn in input order and element
// order; floats u / 2^32 * 2 - 1, integers u % 100, bool u & 1; the first dynamic dimension of each input
// is the batch, other named ones come from --dims. The first run is reported on its own, then W warm-ups,
// then R timed runs of `await session.run(feeds)` (the binding's asynchronous call is part of what a
// Node user pays, as kiln's Session::run checks are part of what a kiln user pays).
// peak_rss_mb is the whole Node process; baseline_rss_mb is its peak before the model was loaded.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const SEED = 42;
const ID_RANGE = 100;

function usage(message) {
  process.stderr.write(`error: ${message} (usage: ort_bench.js MODEL [--threads N] [--batch B] ` +
    `[--dims NAME=VALUE ...] [--warmup W] [--runs R])\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { model: null, threads: 0, batch: 1, dims: {}, warmup: 10, runs: 50 };
  const int = (flag, text, min) => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < min) usage(`${flag} expects an integer >= ${min}, got '${text}'`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dims') {
      // NAME=VALUE arguments up to the next option, like kiln's CLI11 option.
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
        const m = /^([^=]+)=([0-9]+)$/.exec(argv[++i]);
        if (!m || Number(m[2]) <= 0) usage(`--dims '${argv[i]}': expected NAME=N with N a positive integer`);
        o.dims[m[1]] = Number(m[2]);
      }
    } else if (['--threads', '--batch', '--warmup', '--runs'].includes(a)) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      const key = a.slice(2);
      o[key] = int(a, argv[++i], key === 'batch' || key === 'runs' ? 1 : 0);
    } else if (a.startsWith('--')) {
      usage(`unknown option ${a}`);
    } else if (o.model === null) {
      o.model = a;
    } else {
      usage(`unexpected argument '${a}'`);
    }
  }
  if (o.model === null) usage('MODEL is required');
  if (o.threads === 0) o.threads = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  return o;
}

function xorshift32(seed) {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const MAKERS = {
  float32: (n, next) => Float32Array.from({ length: n }, () => next() / 4294967296 * 2 - 1),
  float64: (n, next) => Float64Array.from({ length: n }, () => next() / 4294967296 * 2 - 1),
  int8: (n, next) => Int8Array.from({ length: n }, () => next() % ID_RANGE),
  uint8: (n, next) => Uint8Array.from({ length: n }, () => next() % ID_RANGE),
  int16: (n, next) => Int16Array.from({ length: n }, () => next() % ID_RANGE),
  uint16: (n, next) => Uint16Array.from({ length: n }, () => next() % ID_RANGE),
  int32: (n, next) => Int32Array.from({ length: n }, () => next() % ID_RANGE),
  uint32: (n, next) => Uint32Array.from({ length: n }, () => next() % ID_RANGE),
  int64: (n, next) => BigInt64Array.from({ length: n }, () => BigInt(next() % ID_RANGE)),
  uint64: (n, next) => BigUint64Array.from({ length: n }, () => BigInt(next() % ID_RANGE)),
  bool: (n, next) => Uint8Array.from({ length: n }, () => next() & 1),
};

// Same rules and messages as tools/kiln/random_inputs.cc.
function makeFeeds(ort, session, batch, dims) {
  const declared = new Set();
  for (const m of session.inputMetadata) for (const d of m.shape || []) if (typeof d === 'string' && d) declared.add(d);
  for (const name of Object.keys(dims)) {
    if (!declared.has(name)) {
      throw new Error(`--dims ${name}: the model's inputs have no dimension named '${name}' ` +
        `(named dimensions: ${[...declared].sort().join(', ') || 'none'})`);
    }
  }
  const symbols = { ...dims };
  const next = xorshift32(SEED);
  const feeds = {};
  for (const m of session.inputMetadata) {
    if (!m.isTensor) throw new Error(`input '${m.name}' is not a tensor; only tensor inputs are made`);
    if (!MAKERS[m.type]) throw new Error(`input '${m.name}' has type ${m.type}, for which no random values are made`);
    const shape = [];
    let firstDynamic = true;
    m.shape.forEach((d, axis) => {
      if (typeof d === 'number' && d >= 0) { shape.push(d); return; }
      const sym = typeof d === 'string' ? d : '';
      if (sym && sym in symbols) {
        shape.push(symbols[sym]);
      } else if (firstDynamic) {
        shape.push(batch);
        if (sym) symbols[sym] = batch;
      } else if (!sym) {
        throw new Error(`input '${m.name}' has an unnamed dynamic dimension at axis ${axis} besides the batch`);
      } else {
        throw new Error(`input '${m.name}' has dynamic dimension '${sym}' at axis ${axis}; give its size with --dims ${sym}=N`);
      }
      firstDynamic = false;
    });
    const n = shape.reduce((a, b) => a * b, 1);
    feeds[m.name] = new ort.Tensor(m.type, MAKERS[m.type](n, next), shape);
  }
  return feeds;
}

const peakRssMb = () => process.resourceUsage().maxRSS / 1024;  // maxRSS is in KiB

function percentile(sorted, p) {  // nearest rank, as kiln bench
  const rank = Math.ceil(p / 100 * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let file = o.model;
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'model.onnx');
  const name = path.basename(file) === 'model.onnx' ? path.basename(path.dirname(path.resolve(file)))
    : path.basename(file, '.onnx');
  const ort = require('onnxruntime-node');
  const baselineRss = peakRssMb();
  const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
  let t = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(file, {
    graphOptimizationLevel: 'all', intraOpNumThreads: o.threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const loadMs = ms(t);
  const feeds = makeFeeds(ort, session, o.batch, o.dims);
  t = process.hrtime.bigint();
  await session.run(feeds);
  const firstRunMs = ms(t);
  for (let i = 0; i < o.warmup; i++) await session.run(feeds);
  const samples = [];
  for (let i = 0; i < o.runs; i++) {
    t = process.hrtime.bigint();
    await session.run(feeds);
    samples.push(ms(t));
  }
  samples.sort((a, b) => a - b);
  const med = median(samples);
  const f = (x, digits) => Number(x.toFixed(digits));
  console.log(JSON.stringify({
    engine: 'onnxruntime', model: name, threads: o.threads, engine_threads: o.threads, batch: o.batch,
    warmup: o.warmup, runs: o.runs, load_ms: f(loadMs, 3), first_run_ms: f(firstRunMs, 4), median_ms: f(med, 4),
    p90_ms: f(percentile(samples, 90), 4), p99_ms: f(percentile(samples, 99), 4), min_ms: f(samples[0], 4),
    throughput_per_s: f(o.batch * 1000 / med, 2), baseline_rss_mb: f(baselineRss, 1), peak_rss_mb: f(peakRssMb(), 1),
  }));
}

main().catch((e) => {
  process.stderr.write(`error: ${String(e.message || e).split('\n')[0]}\n`);
  process.exit(1);
});
