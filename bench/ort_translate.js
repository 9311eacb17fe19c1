#!/usr/bin/env node
// ort_translate.js - ONNX Runtime's side of bench/translate.py: decodes the benchmark's sentences
// with the translator exported as an encoder and a cached decoder step (translate.py's
// onnx_modules) and prints one JSON line, as ort_run.js does for the one-shot models.
//
//   node bench/ort_translate.js SPEC.json
//
// SPEC: {"threads": 1, "encoder": "encoder.onnx", "step": "step.onnx", "layers": 3, "heads": 4,
//        "head_dim": 64, "vocab": 8000, "src": [[ids...], ...], "max_tokens": 159,
//        "max_positions": 160, "length_penalty": 1.5, "no_repeat_ngram": 4,
//        "configs": [["greedy b1", 1, 1], ["beam4 b1", 4, 1], ...]}
//
// The search is core/nn/seq2seq.c's, rule for rule, so that the outputs can be compared token
// for token: the encoder once per batch (its outputs are every decoder layer's cross-attention
// keys and values), then one step call per position for all live rows; the step returns the
// logits and the self-attention cache grown by one position, which is gathered here when rows
// finish (greedy) or follow their parents (beam). Per row: the no-repeat n-gram guard sets
// logits to -inf, log(sum(exp)) in double as glia's logsumexp (z - max in float), greedy takes
// the first largest logit; beam keeps each input's best 2k candidates (strictly better ones
// displace, so earlier rows and lower ids win ties), </s> ends a hypothesis only when ranked
// within the first k, score / ((5 + n) / 6)^alpha, an input stops at k finished hypotheses or
// at the length limit (where </s> is forced). One untimed pass over the first batch first; the
// figures are the median milliseconds per batch and sentences per second over all batches, and
// session_run_s, the part of the total spent inside session.run (the rest is this search in
// JavaScript: log-sum-exp over the vocabulary, candidates, cache gathers).
'use strict';

const fs = require('fs');
const path = require('path');

const { loadOrt, median } = require('./ort_run.js');

const BOS = 2;
const EOS = 3;

// core/nn/seq2seq.c's ban_repeats: a token completing an n-gram the ids already hold gets -inf.
function banRepeats(ids, ngram, z, off) {
  const len = ids.length;
  if (ngram < 1 || len < ngram) return;
  const t0 = len - (ngram - 1);
  for (let j = 0; j + ngram <= len; j++) {
    let same = true;
    for (let q = 0; q < ngram - 1 && same; q++) same = ids[j + q] === ids[t0 + q];
    if (same) z[off + ids[j + ngram - 1]] = -Infinity;
  }
}

// glia's logsumexp: the max in float, exp(z - max) with the difference in float, summed in double.
// Terms below 2^-54 are skipped (the max's own term is 1, so together they change the sum by
// less than V * 2^-54, 4e-13 for 8000 ids: far under a float logit's resolution), which saves
// most of the Math.exp calls; the 100 benchmark outputs stay identical to glia's.
const NEGLIGIBLE = -38; // exp(-38) < 2^-54
function logSumExp(z, off, V) {
  let mx = z[off];
  for (let v = 1; v < V; v++) if (z[off + v] > mx) mx = z[off + v];
  let s = 0;
  for (let v = 0; v < V; v++) {
    const d = Math.fround(z[off + v] - mx);
    if (d > NEGLIGIBLE) s += Math.exp(d);
  }
  return mx + Math.log(s);
}

function argmax(z, off, V) {
  let best = 0;
  for (let v = 1; v < V; v++) if (z[off + v] > z[off + best]) best = v;
  return best;
}

// The rows of a [L, R, H, t, Dh] cache (R = old rows) picked by `from` into a new [L, from.length, ...].
function gather(data, L, R, rowSize, from) {
  const out = new Float32Array(L * from.length * rowSize);
  for (let l = 0; l < L; l++)
    for (let r = 0; r < from.length; r++) {
      const src = (l * R + from[r]) * rowSize;
      out.set(data.subarray(src, src + rowSize), (l * from.length + r) * rowSize);
    }
  return out;
}

class Decoder {
  constructor(ort, enc, step, spec) {
    this.ort = ort;
    this.enc = enc;
    this.step = step;
    this.L = spec.layers;
    this.H = spec.heads;
    this.Dh = spec.head_dim;
    this.V = spec.vocab;
    this.ngram = spec.no_repeat_ngram;
    this.alpha = spec.length_penalty;
    this.maxOut = Math.min(spec.max_tokens + 1, spec.max_positions); // tokens and the closing </s>
    this.inRun = 0; // seconds inside session.run: ORT's own share of the time

  }

  async encode(batch) {
    const S = Math.max(...batch.map((s) => s.length));
    const ids = new BigInt64Array(batch.length * S);
    batch.forEach((s, r) => s.forEach((t, j) => { ids[r * S + j] = BigInt(t); }));
    const t0 = process.hrtime.bigint();
    const o = await this.enc.run({ src: new this.ort.Tensor('int64', ids, [batch.length, S]) });
    this.inRun += Number(process.hrtime.bigint() - t0) / 1e9;
    return { S, k: o.cross_k.data, v: o.cross_v.data, bias: o.mem_bias.data, n: batch.length };
  }

  // The memory of each row's input (owner), as the step's cross_k/cross_v/mem_bias tensors.
  memoryFor(mem, owner) {
    const { L, H, Dh } = this;
    const rowSize = H * mem.S * Dh;
    const same = owner.length === mem.n && owner.every((o, r) => o === r);
    const k = same ? mem.k : gather(mem.k, L, mem.n, rowSize, owner);
    const v = same ? mem.v : gather(mem.v, L, mem.n, rowSize, owner);
    const bias = same ? mem.bias : gather(mem.bias, 1, mem.n, mem.S, owner);
    const R = owner.length;
    return {
      cross_k: new this.ort.Tensor('float32', k, [L, R, H, mem.S, Dh]),
      cross_v: new this.ort.Tensor('float32', v, [L, R, H, mem.S, Dh]),
      mem_bias: new this.ort.Tensor('float32', bias, [R, 1, 1, mem.S]),
    };
  }

  async run(tok, pos, past, cross) {
    const R = tok.length;
    const ids = BigInt64Array.from(tok, (t) => BigInt(t));
    const feeds = {
      tok: new this.ort.Tensor('int64', ids, [R, 1]),
      pos: new this.ort.Tensor('int64', BigInt64Array.of(BigInt(pos)), [1]),
      past_k: new this.ort.Tensor('float32', past.k, [this.L, R, this.H, pos, this.Dh]),
      past_v: new this.ort.Tensor('float32', past.v, [this.L, R, this.H, pos, this.Dh]),
      ...cross,
    };
    const t0 = process.hrtime.bigint();
    const o = await this.step.run(feeds);
    this.inRun += Number(process.hrtime.bigint() - t0) / 1e9;
    return { logits: o.logits.data, k: o.present_k.data, v: o.present_v.data };
  }

  async greedy(batch) {
    const mem = await this.encode(batch);
    const { L, H, Dh, V } = this;
    let owner = batch.map((_, i) => i);
    let tok = owner.map(() => BOS);
    let past = { k: new Float32Array(0), v: new Float32Array(0) };
    let cross = this.memoryFor(mem, owner);
    const ids = batch.map(() => []);
    const maxSteps = Math.max(this.maxOut - 1, 1);
    for (let pos = 0; owner.length > 0 && pos < maxSteps; pos++) {
      const o = await this.run(tok, pos, past, cross);
      const keep = [];
      const nextTok = [];
      for (let r = 0; r < owner.length; r++) {
        const off = r * V;
        banRepeats(ids[owner[r]], this.ngram, o.logits, off);
        const best = argmax(o.logits, off, V);
        if (best === EOS) continue;
        ids[owner[r]].push(best);
        keep.push(r);
        nextTok.push(best);
      }
      const rowSize = H * (pos + 1) * Dh;
      if (keep.length === owner.length) {
        past = { k: o.k, v: o.v };
      } else {
        past = { k: gather(o.k, L, owner.length, rowSize, keep), v: gather(o.v, L, owner.length, rowSize, keep) };
        owner = keep.map((r) => owner[r]);
        if (owner.length) cross = this.memoryFor(mem, owner);
      }
      tok = nextTok;
    }
    return ids;
  }

  async beam(batch, k) {
    const mem = await this.encode(batch);
    const { L, H, Dh, V } = this;
    const n = batch.length;
    // one row per live hypothesis; at the first step one per input
    let owner = batch.map((_, i) => i);
    let hyps = owner.map(() => ({ score: 0, ids: [] }));
    let tok = owner.map(() => BOS);
    let past = { k: new Float32Array(0), v: new Float32Array(0) };
    let cross = this.memoryFor(mem, owner);
    const done = batch.map(() => []);
    const outs = new Array(n).fill(null);
    const cap = 2 * k;
    for (let pos = 0; owner.length > 0; pos++) {
      const last = pos === this.maxOut - 1; // </s> is forced after maxOut tokens
      const o = await this.run(tok, pos, past, cross);
      const from = [];
      const nOwner = [];
      const nHyps = [];
      const nTok = [];
      const R = owner.length;
      for (let r0 = 0; r0 < R;) {
        const i = owner[r0];
        let r1 = r0;
        while (r1 < R && owner[r1] === i) r1++;
        // the best 2k continuations, best first (strictly better displaces: ties keep the earlier)
        const cs = [];
        for (let r = r0; r < r1; r++) {
          const off = r * V;
          banRepeats(hyps[r].ids, this.ngram, o.logits, off);
          const lse = logSumExp(o.logits, off, V);
          for (let v = 0; v < V; v++) {
            const zv = o.logits[off + v];
            if ((last && v !== EOS) || zv === -Infinity) continue;
            const s = hyps[r].score + (zv - lse);
            if (cs.length === cap && !(s > cs[cap - 1].s)) continue;
            let at = cs.length < cap ? cs.length : cap - 1;
            if (cs.length < cap) cs.push(null);
            while (at > 0 && s > cs[at - 1].s) {
              cs[at] = cs[at - 1];
              at--;
            }
            cs[at] = { s, r, v };
          }
        }
        let live = 0;
        const mine = [];
        for (let c = 0; c < cs.length && live < k; c++) {
          const { s, r, v } = cs[c];
          if (v === EOS) {
            if (c < k) addDone(done[i], k, s / lengthPenalty(hyps[r].ids.length + 1, this.alpha), hyps[r].ids);
            continue;
          }
          mine.push({ r, h: { score: s, ids: hyps[r].ids.concat([v]) }, v });
          live++;
        }
        if (done[i].length >= k || last || live === 0) {
          outs[i] = done[i].length ? done[i][0].ids : [];
        } else {
          for (const c of mine) {
            from.push(c.r);
            nOwner.push(i);
            nHyps.push(c.h);
            nTok.push(c.v);
          }
        }
        r0 = r1;
      }
      if (!nOwner.length) break;
      const rowSize = H * (pos + 1) * Dh;
      past = { k: gather(o.k, L, R, rowSize, from), v: gather(o.v, L, R, rowSize, from) };
      const ownersChanged = nOwner.length !== owner.length || nOwner.some((x, r) => x !== owner[r]);
      owner = nOwner;
      if (ownersChanged) cross = this.memoryFor(mem, owner);
      hyps = nHyps;
      tok = nTok;
    }
    return outs;
  }
}

function lengthPenalty(n, alpha) {
  return alpha === 0 ? 1 : Math.pow((5 + n) / 6, alpha);
}

// core/nn/seq2seq.c's add_done: the best k finished hypotheses, best first.
function addDone(list, k, norm, ids) {
  let at;
  if (list.length < k) {
    list.push({ norm, ids: ids.slice() });
    at = list.length - 1;
  } else if (norm > list[k - 1].norm) {
    list[k - 1] = { norm, ids: ids.slice() };
    at = k - 1;
  } else {
    return;
  }
  for (; at > 0 && list[at].norm > list[at - 1].norm; at--) [list[at], list[at - 1]] = [list[at - 1], list[at]];
}

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node bench/ort_translate.js SPEC.json\n');
    process.exit(2);
  }
  const specPath = path.resolve(process.argv[2]);
  const dir = path.dirname(specPath);
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const ort = loadOrt();
  const threads = spec.threads || 1;
  const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
  const enc = await ort.InferenceSession.create(path.resolve(dir, spec.encoder), opts);
  const step = await ort.InferenceSession.create(path.resolve(dir, spec.step), opts);
  const dec = new Decoder(ort, enc, step, spec);
  const results = {};
  for (const [name, k, bsz] of spec.configs) {
    const go = (b) => (k === 1 ? dec.greedy(b) : dec.beam(b, k));
    await go(spec.src.slice(0, bsz)); // warm-up
    const times = [];
    const out = [];
    dec.inRun = 0;
    for (let at = 0; at < spec.src.length; at += bsz) {
      const t0 = process.hrtime.bigint();
      const o = await go(spec.src.slice(at, at + bsz));
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      out.push(...o);
    }
    const total = times.reduce((a, b) => a + b, 0) / 1e3;
    results[name] = { batch_ms_median: median(times), total_s: total, sentences_per_s: spec.src.length / total,
      session_run_s: dec.inRun, out };
  }
  await enc.release();
  await step.release();
  console.log(JSON.stringify({ impl: 'onnxruntime-node', version: ort.env.versions.node, threads, results,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}

main().catch((e) => {
  process.stderr.write(`ort_translate: ${e.stack || e}\n`);
  process.exit(1);
});
