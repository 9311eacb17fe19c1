#!/usr/bin/env node
// ort_run.js - ONNX Runtime's side of the bench/ drivers (sentiment.py, cnn.py): times the
// cases of one JSON spec with onnxruntime-node (scripts/setup --test pins it in
// .cache/npm-ort/) and prints one JSON line. The Python drivers export the shipped weights
// with torch.onnx.export, write the inputs as raw little-endian files and compare the outputs
// this script writes with glia's and PyTorch's.
//
//   node bench/ort_run.js SPEC.json
//
// SPEC: {"threads": 1, "cases": [{"name": "b1", "model": "x.onnx", "runs": 2000, "warm": 20,
//        "inputs": {"ids": {"file": "ids.bin", "type": "int64", "dims": [1, 20]}},
//        "output_file": "out.bin"}]}
// Each case gets its own session (intra- and inter-op threads as given, sequential execution,
// every graph optimisation on, which is ORT's default for CPU); the figure is the median of
// `runs` timed session.run calls after `warm` untimed ones. The first output of the last run
// goes to output_file as raw float32 when given.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const ROOT = path.resolve(__dirname, '..');
const MODULES = process.env.GLIA_NPM_ORT || path.join(ROOT, '.cache', 'npm-ort');

function loadOrt() {
  try {
    return createRequire(path.join(MODULES, 'package.json'))('onnxruntime-node');
  } catch (e) {
    process.stderr.write(`ort_run: onnxruntime-node is not in ${MODULES}: run scripts/setup --test (${e.message})\n`);
    process.exit(2);
  }
}

const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array };

function readTensor(ort, dir, spec) {
  const Type = ARRAYS[spec.type];
  if (!Type) throw new Error(`unknown input type ${spec.type}`);
  const buf = fs.readFileSync(path.resolve(dir, spec.file));
  const count = spec.dims.reduce((a, b) => a * b, 1);
  if (buf.length !== count * Type.BYTES_PER_ELEMENT)
    throw new Error(`${spec.file}: ${buf.length} bytes, ${spec.type} ${JSON.stringify(spec.dims)} needs ${count * Type.BYTES_PER_ELEMENT}`);
  // copy into an aligned buffer of its own: readFileSync's may be a slice of a pool
  const data = new Type(count);
  new Uint8Array(data.buffer).set(buf);
  return new ort.Tensor(spec.type, data, spec.dims);
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node bench/ort_run.js SPEC.json\n');
    process.exit(2);
  }
  const specPath = path.resolve(process.argv[2]);
  const dir = path.dirname(specPath);
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const ort = loadOrt();
  const threads = spec.threads || 1;
  const result = { impl: 'onnxruntime-node', version: ort.env.versions.node, threads, cases: {} };
  for (const c of spec.cases) {
    const session = await ort.InferenceSession.create(path.resolve(dir, c.model), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const feeds = {};
    for (const [name, t] of Object.entries(c.inputs)) feeds[name] = readTensor(ort, dir, t);
    let out;
    for (let i = 0; i < (c.warm ?? 20); i++) out = await session.run(feeds);
    const times = [];
    for (let i = 0; i < c.runs; i++) {
      const t0 = process.hrtime.bigint();
      out = await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    if (c.output_file) {
      const first = out[session.outputNames[0]];
      fs.writeFileSync(path.resolve(dir, c.output_file), Buffer.from(first.data.buffer, first.data.byteOffset, first.data.byteLength));
    }
    result.cases[c.name] = { ms: median(times), runs: c.runs };
    await session.release();
  }
  result.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify(result));
}

// bench/ort_translate.js shares the loader and the median
module.exports = { loadOrt, median };

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`ort_run: ${e.stack || e}\n`);
    process.exit(1);
  });
}
