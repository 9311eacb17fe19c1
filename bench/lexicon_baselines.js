#!/usr/bin/env node
// lexicon_baselines.js - what off-the-shelf sentiment lexicons score on glia's UCI sentiment test
// split: the floor a trained classifier has to clear. Prints accuracy per source and overall.
//
//   scripts/setup --test                      # the data set and the pinned npm scorers
//   node bench/lexicon_baselines.js [--c-test build/tests/test_text] [--runs 5]
//       [--contrast models/sentiment-lstm/contrast.tsv] [--glia build/cli/glia --model models/sentiment-lstm]
//
// --contrast also scores the contrast set (label, category, origin, text; bench/make_contrast.py
// wrote it): accuracy per category. --glia runs `glia predict MODEL` on the same sentences and
// adds its row, and an exact McNemar test of glia against every scorer on the test split: the
// sentences exactly one of the two gets right are the discordant pairs (b glia only, c scorer
// only), and p is the two-sided binomial tail, min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2).
//
// The split is core/data/uci.c's, reimplemented here: strip ASCII white space, skip the
// {"text": "", "class": null} trailer, drop later duplicates (amazon, imdb, yelp, file order),
// FNV-1a 32 of the UTF-8 text, % 10 == 0 -> test, == 1 -> dev, else train. The script refuses to
// score unless its test split is the C one: the counts and digest (FNV-1a over the test texts,
// each followed by '\n', in set order) must equal those pinned in tests/unit/test_text.c, and
// with --c-test the built C test binary is run on the same files and its reported counts and
// digest must match too.
//
// Scorers (all lower-case and tokenize on their own; each gets the stripped text):
//   AFINN-165  sentiment@5.0.2         score > 0 -> positive, score < 0 -> negative
//   VADER      vader-sentiment@1.1.3   compound >= 0.05 -> positive, <= -0.05 -> negative (the
//                                      authors' thresholds); also shown with compound > 0
//   wink       wink-sentiment@5.0.2    score > 0 -> positive, score < 0 -> negative
// A sentence a scorer cannot call (score 0, or VADER's neutral band) is predicted negative, the
// majority class of the training split (49.2% positive), so no decision looks at test labels;
// the "undecided" column says how often that happened. Every number is deterministic; the
// time column is the median of --runs passes over the test split.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const DATA = process.env.GLIA_UCI_SENTIMENT || path.join(ROOT, '.cache', 'data', 'uci-sentiment');
const MODULES = path.join(ROOT, '.cache', 'npm-bench');
const SOURCES = ['amazon', 'imdb', 'yelp'];
const SPLITS = ['train', 'dev', 'test'];

// What tests/unit/test_text.c asserts for the pinned sentiment@5.0.2 files.
const PINNED = {
  n: 2982,
  test: { amazon: 105, imdb: 93, yelp: 109 },
  digest: { train: 0x381af250, dev: 0xc51146ed, test: 0x0ebfb928 },
};

function fail(msg) {
  process.stderr.write(`lexicon_baselines: ${msg}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { cTest: null, runs: 5, contrast: null, glia: null, model: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--c-test' && i + 1 < argv.length) args.cTest = argv[++i];
    else if (argv[i] === '--runs' && i + 1 < argv.length) args.runs = Number(argv[++i]);
    else if (argv[i] === '--contrast' && i + 1 < argv.length) args.contrast = argv[++i];
    else if (argv[i] === '--glia' && i + 1 < argv.length) args.glia = argv[++i];
    else if (argv[i] === '--model' && i + 1 < argv.length) args.model = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 25)
        .map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else fail(`unknown argument ${argv[i]} (see --help)`);
  }
  if (!Number.isInteger(args.runs) || args.runs < 1) fail('--runs wants a positive integer');
  if (!args.glia !== !args.model) fail('--glia and --model go together');
  return args;
}

// FNV-1a 32 over bytes, continuing from h.
function fnv1a(bytes, h = 0x811c9dc5) {
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

function splitOf(hash) {
  const r = hash % 10;
  return r === 0 ? 'test' : r === 1 ? 'dev' : 'train';
}

function load() {
  const seen = new Set();
  const examples = [];
  for (const source of SOURCES) {
    const file = path.join(DATA, `${source}.json`);
    let elements;
    try {
      elements = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      fail(`${file}: ${e.message} (scripts/setup fetches the data set)`);
    }
    if (!Array.isArray(elements)) fail(`${file}: expected a JSON array`);
    elements.forEach((el, index) => {
      const text = typeof el.text === 'string' ? el.text.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '') : null;
      if (text === null) fail(`${file}: element ${index}: "text" must be a string`);
      if (text === '' && el.class === null) return; // the conversion's blank trailer
      if (el.class !== 0 && el.class !== 1) fail(`${file}: element ${index}: "class" must be 0 or 1`);
      if (text === '') fail(`${file}: element ${index}: the text is empty`);
      if (seen.has(text)) return;
      seen.add(text);
      const hash = fnv1a(Buffer.from(text, 'utf8'));
      examples.push({ text, label: el.class, source, split: splitOf(hash) });
    });
  }
  return examples;
}

function digest(examples, split) {
  let h = 0x811c9dc5;
  for (const e of examples) {
    if (e.split === split) h = fnv1a(Buffer.from(e.text + '\n', 'utf8'), h);
  }
  return h;
}

const hex = (h) => '0x' + h.toString(16).padStart(8, '0');

// The split must be the C one before anything is scored.
function verify(examples, cTest) {
  const problems = [];
  const test = examples.filter((e) => e.split === 'test');
  if (examples.length !== PINNED.n) problems.push(`${examples.length} sentences after dedup, C has ${PINNED.n}`);
  for (const s of SOURCES) {
    const n = test.filter((e) => e.source === s).length;
    if (n !== PINNED.test[s]) problems.push(`${s} test split ${n}, C has ${PINNED.test[s]}`);
  }
  for (const s of SPLITS) {
    if (digest(examples, s) !== PINNED.digest[s])
      problems.push(`${s} digest ${hex(digest(examples, s))}, C has ${hex(PINNED.digest[s])}`);
  }
  if (cTest) {
    // Run the C suite's real-data case on the same files; it prints the split in TAP comments.
    // Its pinned assertions may fail on other data; the printed split is compared all the same.
    const run = spawnSync(cTest, [], {
      env: { ...process.env, CK_RUN_CASE: 'uci', GLIA_UCI_SENTIMENT: DATA, GLIA_SOURCE_ROOT: ROOT },
      encoding: 'utf8',
    });
    if (run.error) fail(`cannot run ${cTest}: ${run.error.message}`);
    const out = run.stdout;
    if (run.status !== 0) {
      const notOk = out.split('\n').filter((l) => l.startsWith('not ok')).slice(0, 3);
      const detail = notOk.length ? ':\n    ' + notOk.join('\n    ') : '';
      problems.push(`${cTest} exits with status ${run.status}${detail}`);
    }
    const line = out.split('\n').find((l) => /^# uci sentiment split test /.test(l));
    const m = line && line.match(/test\s+(\d+) .*digest (0x[0-9a-f]{8})/);
    if (!m) fail(`${cTest} printed no test split line (is the data set where it looks?)`);
    if (Number(m[1]) !== test.length) problems.push(`C reports ${m[1]} test sentences, JS has ${test.length}`);
    const jsDigest = hex(digest(examples, 'test'));
    if (m[2] !== jsDigest) problems.push(`C test digest ${m[2]}, JS ${jsDigest}`);
    for (const s of SOURCES) {
      const sm = out.match(new RegExp(`^# uci sentiment ${s}\\s+train (\\d+) dev (\\d+) test (\\d+)$`, 'm'));
      const n = test.filter((e) => e.source === s).length;
      if (!sm || Number(sm[3]) !== n) problems.push(`C reports ${sm ? sm[3] : '?'} ${s} test sentences, JS ${n}`);
    }
  }
  if (problems.length) {
    fail('not scoring: this split is not verified to be core/data/uci.c\'s (pinned in tests/unit/test_text.c):' +
      `\n  ${problems.join('\n  ')}`);
  }
  return test;
}

function scorers() {
  const req = createRequire(path.join(MODULES, 'package.json'));
  let Sentiment, vader, wink;
  try {
    Sentiment = req('sentiment');
    vader = req('vader-sentiment');
    wink = req('wink-sentiment');
  } catch (e) {
    fail(`${e.message}\n  (scripts/setup --test installs the scorers into ${MODULES})`);
  }
  const afinn = new Sentiment();
  const sign = (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
  return [
    { name: 'AFINN-165 (sentiment, score > 0)', call: (t) => sign(afinn.analyze(t).score) },
    {
      name: 'VADER (compound >= 0.05)',
      call: (t) => {
        const c = vader.SentimentIntensityAnalyzer.polarity_scores(t).compound;
        return c >= 0.05 ? 1 : c <= -0.05 ? -1 : 0;
      },
    },
    {
      name: 'VADER (compound > 0)',
      call: (t) => sign(vader.SentimentIntensityAnalyzer.polarity_scores(t).compound),
    },
    { name: 'wink-sentiment (score > 0)', call: (t) => sign(wink(t).score) },
  ];
}

// The contrast set: a header line, then label<TAB>category<TAB>origin<TAB>text.
function loadContrast(file) {
  let lines;
  try {
    lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  if (lines.shift() !== 'label\tcategory\torigin\ttext') fail(`${file}: line 1 must be label, category, origin, text`);
  return lines.map((l, i) => {
    const [label, category, origin, text] = l.split('\t');
    if ((label !== '0' && label !== '1') || !category || !origin || !text)
      fail(`${file}:${i + 2}: expected 0|1<TAB>category<TAB>origin<TAB>text`);
    return { text, label: Number(label), category, origin };
  });
}

// glia's label (0/1, the index in the bundle's labels.txt) for every text, from `glia predict`.
function gliaPredict(glia, model, texts) {
  const labels = fs.readFileSync(path.join(model, 'labels.txt'), 'utf8').split('\n').filter((l) => l);
  const out = new Map();
  for (let i = 0; i < texts.length; i += 200) {
    const chunk = texts.slice(i, i + 200);
    const run = spawnSync(glia, ['predict', model, '--', ...chunk], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (run.error || run.status !== 0) fail(`${glia} predict: ${run.error ? run.error.message : run.stderr}`);
    const rows = run.stdout.split('\n').filter((l) => l);
    if (rows.length !== chunk.length) fail(`${glia} predict printed ${rows.length} lines for ${chunk.length} texts`);
    rows.forEach((r, k) => {
      const label = labels.indexOf(r.split('\t')[0]);
      if (label < 0) fail(`${glia} predict: unknown label in '${r}'`);
      out.set(chunk[k], label);
    });
  }
  return out;
}

// Exact McNemar: two-sided binomial test on the discordant pairs.
function mcnemar(b, c) {
  const n = b + c;
  if (n === 0) return 1;
  let pmf = Math.pow(0.5, n), tail = 0; // P(X = 0), then P(X = k) by the ratio (n - k + 1) / k
  for (let k = 0; k <= Math.min(b, c); k++) {
    if (k > 0) pmf *= (n - k + 1) / k;
    tail += pmf;
  }
  return Math.min(1, 2 * tail);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function main() {
  process.stdout.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e; // `| head` is fine
    process.exit(0);
  });
  const args = parseArgs(process.argv.slice(2));
  const examples = load();
  const test = verify(examples, args.cTest);
  const trainPositive = examples.filter((e) => e.split === 'train' && e.label === 1).length /
    examples.filter((e) => e.split === 'train').length;
  const tie = trainPositive > 0.5 ? 1 : 0; // an undecided sentence gets the training majority class

  const groups = [...SOURCES.map((s) => ({ name: s, keep: (e) => e.source === s })),
    { name: 'test', keep: () => true }];
  const cols = groups.map((g) => `${g.name} (${test.filter(g.keep).length})`);
  const header = ['scorer'.padEnd(34), ...cols.map((c) => c.padStart(12)), 'undecided'.padStart(10),
    `all ${examples.length}`.padStart(10), 'ms/test'.padStart(9)];
  const rows = [];

  const row = (name, predictOf, undecidedOf, ms, testOnly = false) => {
    const acc = (list) => list.filter((e) => predictOf(e) === e.label).length / list.length;
    const cells = groups.map((g) => (100 * acc(test.filter(g.keep))).toFixed(1).padStart(12));
    const und = undecidedOf ? (100 * test.filter(undecidedOf).length / test.length).toFixed(1) + '%' : '-';
    rows.push([name.padEnd(34), ...cells, und.padStart(10),
      (testOnly ? '-' : (100 * acc(examples)).toFixed(1)).padStart(10),
      (ms === null ? '-' : ms.toFixed(1)).padStart(9)]);
  };

  row(`majority of train (${tie ? 'positive' : 'negative'})`, () => tie, null, null);
  for (const s of scorers()) {
    const times = [];
    for (let r = 0; r < args.runs; r++) {
      const t0 = process.hrtime.bigint();
      for (const e of test) s.call(e.text);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const verdict = new Map(examples.map((e) => [e, s.call(e.text)]));
    const predict = (e) => (verdict.get(e) === 0 ? tie : verdict.get(e) > 0 ? 1 : 0);
    row(s.name, predict, (e) => verdict.get(e) === 0, median(times));
  }

  const calls = new Map(); // scorer name -> text -> 0/1
  for (const s of scorers()) {
    const m = new Map();
    for (const e of examples) {
      const v = s.call(e.text);
      m.set(e.text, v === 0 ? tie : v > 0 ? 1 : 0);
    }
    calls.set(s.name, m);
  }
  const contrast = args.contrast ? loadContrast(args.contrast) : [];
  let glia = null;
  if (args.glia) {
    glia = gliaPredict(args.glia, args.model, [...test.map((e) => e.text), ...contrast.map((e) => e.text)]);
    row(`glia ${path.basename(args.model)}`, (e) => glia.get(e.text), null, null, true);
  }

  const positive = test.filter((e) => e.label === 1).length;
  process.stdout.write(`UCI sentiment sentences, test split of core/data/uci.c: ${test.length} sentences ` +
    `(${(100 * positive / test.length).toFixed(1)}% positive), verified against the C split` +
    `${args.cTest ? ` (pinned numbers and ${args.cTest})` : ' (pinned numbers)'}\n`);
  process.stdout.write(`accuracy in %; undecided = share of the test split the scorer could not call ` +
    `(predicted ${tie ? 'positive' : 'negative'}); all ${examples.length} = every split ` +
    '(the lexicons are not trained on any)\n\n');
  process.stdout.write(header.join(' ') + '\n');
  for (const r of rows) process.stdout.write(r.join(' ') + '\n');
  if (glia) {
    process.stdout.write(`\nexact McNemar, glia ${path.basename(args.model)} against each scorer on the ${test.length} test ` +
      'sentences (b: only glia right, c: only the scorer right):\n');
    for (const s of scorers()) {
      const m = calls.get(s.name);
      const b = test.filter((e) => glia.get(e.text) === e.label && m.get(e.text) !== e.label).length;
      const c = test.filter((e) => glia.get(e.text) !== e.label && m.get(e.text) === e.label).length;
      process.stdout.write(`  ${s.name.padEnd(34)} b=${String(b).padStart(3)} c=${String(c).padStart(3)} ` +
        `p=${mcnemar(b, c).toPrecision(3)}\n`);
    }
  }
  if (contrast.length) {
    const cats = [...new Set(contrast.map((e) => e.category))];
    const groups2 = [...cats.map((c) => ({ name: c, keep: (e) => e.category === c })),
      { name: 'hand', keep: (e) => e.origin === 'hand' }, { name: 'all', keep: () => true }];
    process.stdout.write(`\ncontrast set ${args.contrast}: ${contrast.length} sentences, accuracy in % ` +
      '(hand = the hand-written ones of every category)\n');
    process.stdout.write(['scorer'.padEnd(34), ...groups2.map((g) =>
      `${g.name} (${contrast.filter(g.keep).length})`.padStart(22))].join(' ') + '\n');
    const crow = (name, predict) => {
      const cells = groups2.map((g) => {
        const list = contrast.filter(g.keep);
        return (100 * list.filter((e) => predict(e) === e.label).length / list.length).toFixed(1).padStart(22);
      });
      process.stdout.write([name.padEnd(34), ...cells].join(' ') + '\n');
    };
    for (const s of scorers()) {
      const m = new Map(contrast.map((e) => { const v = s.call(e.text); return [e.text, v === 0 ? tie : v > 0 ? 1 : 0]; }));
      crow(s.name, (e) => m.get(e.text));
    }
    if (glia) crow(`glia ${path.basename(args.model)}`, (e) => glia.get(e.text));
  }
}

main();
