#!/usr/bin/python3
# test_text_parity.py - glia <-> PyTorch parity of the text classifier (TAP output).
#
# The module is core/nn/textnet.h's, built by glia_torch.TextRNN from a text-rnn manifest:
#   1. a bundle trained by `glia train` (a tiny copy of models/sentiment-lstm: embedding 16,
#      bidirectional LSTM of 8, the two lexicon features, one epoch) loads into TextRNN with
#      load_state_dict(strict=True), and on a padded batch of real sentences of different
#      lengths `glia forward` and PyTorch (pack_padded_sequence) give the same logits (max
#      |diff| < 1e-4) with pooling last, mean and max; the same for a second trained bundle
#      with a two-layer LSTM and no lexicon;
#   2. the other direction: PyTorch's own default-initialised weights, saved as safetensors
#      into a bundle assembled here (model.yaml + vocab.txt + labels.txt), served by
#      `glia forward`, give PyTorch's logits (LSTM and tanh RNN, one and two layers, one and
#      two directions, with and without the lexicon). glia's copy of the batch holds ids
#      outside the vocabulary at padded positions, so reading one would fail the run;
#   3. a state_dict without lexicon.weight, or with a wrongly shaped one, is refused by glia
#      with a message naming the tensor;
#   4. the shipped sentiment-negation bundle (its manifest marks negation scopes: "not bad" reads the ids
#      of "not" and "not_bad") loads into TextRNN strictly and gives glia's logits on ids that
#      include marked words. Marking is preprocessing: the module sees ids either way.
# Training needs the UCI sentences and the npm word lists that `scripts/setup --test`
# fetches (GLIA_UCI_SENTIMENT, else .cache/data/uci-sentiment and .cache/npm-bench under
# GLIA_SOURCE_ROOT); without them the checks of part 1 are reported as "# SKIP".
#
# Usage: test_text_parity.py GLIA_EXE   (exit 77 = skipped when torch is missing)
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np  # noqa: F401  (glia_torch needs it)
    import torch
    import yaml
except ImportError as e:  # pragma: no cover - depends on the machine
    print("1..0 # SKIP PyTorch not available (%s); scripts/setup --test installs python3-torch" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import glia_torch as gt  # noqa: E402

ROOT = os.environ.get("GLIA_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
SHIPPED = os.path.join(ROOT, "models", "sentiment-lstm")
NEGATION = os.path.join(ROOT, "models", "sentiment-negation")
UCI = os.environ.get("GLIA_UCI_SENTIMENT") or os.path.join(ROOT, ".cache", "data", "uci-sentiment")
NPM = os.path.join(ROOT, ".cache", "npm-bench", "node_modules")
LEXICONS = [  # the shipped recipe's, made absolute
    {"path": os.path.join(NPM, "sentiment", "languages", "en", "labels.json"), "format": "json", "scale": 0.2},
    {"path": os.path.join(NPM, "vader-sentiment", "vader_lexicon.txt"), "format": "tsv", "scale": 0.25},
]
TOL = 1e-4

# Review sentences (UCI amazon/imdb/yelp style) of 1 to 29 words, in no length order.
SENTENCES = [
    "Good case, Excellent value.",
    "So there is no way for me to plug it in here in the US unless I go by a converter.",
    "Bad.",
    "The food was not good and the service wasn't any better, I won't be back.",
    "I loved this movie!",
    "Tied to charger for conversations lasting more than 45 minutes. MAJOR PROBLEMS!!",
    "It didn't work at all",
    "Great for the jawbone.",
    "The acting was terrible, the plot made no sense, and I kept checking my watch the whole "
    "time hoping it would end soon.",
    "wow",
]

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %d - %s%s" % ("ok" if ok else "not ok", len(results), name, (" # " + detail) if detail else ""))
    sys.stdout.flush()


def skip(name, why):
    results.append(True)
    print("ok %d - %s # SKIP %s" % (len(results), name, why))
    sys.stdout.flush()


def tokenize(text):
    """lower-case words, negations split the way glia's tokenizer does (did n't), punctuation
    apart; exact agreement with glia's tokenizer does not matter here: both sides get the
    same ids."""
    text = re.sub(r"n't\b", " n't", text.lower())
    return re.findall(r"n't|[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", text)


NEGATORS = {"not", "n't", "no", "never"}


def mark_scopes(tokens):
    """A rough copy of core/text/negscope.h's rule, enough to put marked ids in a batch."""
    out, scope = [], False
    for t in tokens:
        if t in NEGATORS:
            out.append("not" if t == "n't" else t)
            scope = True
        elif scope and (t in {"but", "and", "or"} or not t[0].isalnum()):
            out.append(t)
            scope = False
        else:
            out.append("not_" + t if scope else t)
    return out


def batch_ids(vocab, glia_pad, marked=False):
    """ids [N, T] (0 at padded positions for PyTorch, glia_pad for glia) and lengths [N]."""
    enc = [gt.encode_tokens(vocab, mark_scopes(tokenize(s)) if marked else tokenize(s)) for s in SENTENCES]
    t = max(len(e) for e in enc)
    ids = torch.zeros(len(enc), t, dtype=torch.int64)
    for i, e in enumerate(enc):
        ids[i, :len(e)] = torch.tensor(e)
    lengths = torch.tensor([len(e) for e in enc], dtype=torch.int64)
    mask = torch.arange(t)[None, :] < lengths[:, None]
    ids_glia = ids.clone()
    ids_glia[~mask] = glia_pad
    return ids, ids_glia, lengths


def maxdiff(a, b):
    if a is None or b is None or tuple(a.shape) != tuple(b.shape):
        return float("inf")
    return float((a.double() - b.double()).abs().max())


def glia_forward(glia, bundle, ids, lengths, tmp):
    """(logits or None, stderr) of `glia forward bundle`."""
    inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
    if os.path.exists(out):
        os.remove(out)
    gt.save_safetensors(inp, {"ids": ids, "lengths": lengths})
    run = subprocess.run([glia, "forward", bundle, inp, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = run.stderr.decode(errors="replace").strip()
    return (gt.load_safetensors(out)["logits"] if run.returncode == 0 else None), err


def torch_logits(manifest, weights, ids, lengths):
    model = gt.build_text_module(manifest)
    model.load_state_dict(weights, strict=True)
    model.eval()
    with torch.no_grad():
        return model(ids, lengths)


def shipped_manifest():
    with open(os.path.join(SHIPPED, "model.yaml")) as f:
        m = yaml.safe_load(f)
    for k in ("evaluation", "training"):
        m.pop(k, None)
    return m


def write_manifest(path, m):
    with open(path, "w") as f:
        yaml.safe_dump(m, f, sort_keys=False)


def variant(src_dir, dst_dir, pooling):
    """dst_dir: src_dir's bundle with another pooling (no parameters depend on it)."""
    if os.path.exists(dst_dir):
        shutil.rmtree(dst_dir)
    shutil.copytree(src_dir, dst_dir)
    with open(os.path.join(dst_dir, "model.yaml")) as f:
        m = yaml.safe_load(f)
    m["architecture"]["pooling"] = pooling
    write_manifest(os.path.join(dst_dir, "model.yaml"), m)
    return os.path.join(dst_dir, "model.yaml")


def train_tiny(glia, tmp, name, arch_update, lexicons):
    """A one-epoch glia-trained bundle in tmp/name.out; returns (dir, error text)."""
    src = os.path.join(tmp, name)
    os.makedirs(src)
    m = shipped_manifest()
    m["architecture"].update(arch_update)
    if not lexicons:
        m["architecture"].pop("lexicon", None)
    write_manifest(os.path.join(src, "model.yaml"), m)
    shutil.copy(os.path.join(SHIPPED, "labels.txt"), src)
    with open(os.path.join(SHIPPED, "recipe.yaml")) as f:
        r = yaml.safe_load(f)
    r.update({"model": "model.yaml", "epochs": 1, "select": "last"})
    r.pop("lexicon", None)
    if lexicons:
        r["lexicon"] = LEXICONS
    with open(os.path.join(src, "recipe.yaml"), "w") as f:
        yaml.safe_dump(r, f, sort_keys=False)
    out = os.path.join(tmp, name + ".out")
    env = dict(os.environ, GLIA_UCI_SENTIMENT=UCI)
    run = subprocess.run([glia, "train", os.path.join(src, "recipe.yaml"), "--out", out], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    if run.returncode != 0:
        return None, (run.stderr.decode(errors="replace").strip() or run.stdout.decode(errors="replace"))[-300:]
    return out, ""


def trained_parity(glia, tmp, name, desc, arch_update, lexicons, poolings):
    """Part 1 for one trained configuration: one check for training + strict load, one per
    pooling for the logits."""
    what = "%s (%s)" % (name, desc)
    have_data = os.path.isdir(UCI) and all(os.path.exists(x["path"]) for x in LEXICONS)
    if not have_data:
        why = "no UCI sentences or npm word lists (%s, %s); scripts/setup --test fetches them" % (UCI, NPM)
        skip("%s: glia train, weights load into TextRNN strictly" % what, why)
        for p in poolings:
            skip("%s: logits match PyTorch, pooling %s" % (what, p), why)
        return
    bundle, err = train_tiny(glia, tmp, name, arch_update, lexicons)
    sd, problem = None, err
    if bundle:
        sd = gt.load_safetensors(os.path.join(bundle, "model.safetensors"))
        try:
            gt.build_text_module(os.path.join(bundle, "model.yaml")).load_state_dict(sd, strict=True)
        except Exception as e:  # reported below
            problem, sd = str(e)[:300], None
    check("%s: glia train, weights load into TextRNN strictly" % what, sd is not None, problem)
    if sd is None:
        for p in poolings:
            check("%s: logits match PyTorch, pooling %s" % (what, p), False, "no bundle")
        return
    vocab = gt.read_vocab(os.path.join(bundle, "vocab.txt"))
    ids, ids_glia, lengths = batch_ids(vocab, len(vocab) + 1000)
    for p in poolings:
        manifest = variant(bundle, os.path.join(tmp, "%s-%s" % (name, p)), p)
        got, err = glia_forward(glia, os.path.dirname(manifest), ids_glia, lengths, tmp)
        want = torch_logits(manifest, sd, ids, lengths)
        d = maxdiff(got, want)
        check("%s: logits match PyTorch, pooling %s" % (what, p), d < TOL,
              "max |diff| %.3g over %d sentences of %d..%d tokens%s" % (
                  d, len(lengths), int(lengths.min()), int(lengths.max()), ("; " + err[:200]) if err else ""))


# Part 2: PyTorch-initialised weights served by glia. name -> architecture changes
TORCH_CONFIGS = {
    "lstm-bi-lexicon-max": {"rnn": {"type": "lstm", "hidden_size": 8, "num_layers": 1, "bidirectional": True},
                            "lexicon": {"features": 2}, "pooling": "max"},
    "lstm-2layer-bi-last": {"rnn": {"type": "lstm", "hidden_size": 6, "num_layers": 2, "bidirectional": True},
                            "pooling": "last"},
    "rnn_tanh-2layer-lexicon-mean": {"rnn": {"type": "rnn_tanh", "hidden_size": 7, "num_layers": 2,
                                             "bidirectional": False},
                                     "lexicon": {"features": 3}, "pooling": "mean"},
    "rnn_tanh-bi-last": {"rnn": {"type": "rnn_tanh", "hidden_size": 5, "num_layers": 1, "bidirectional": True},
                         "pooling": "last"},
}


def assemble(tmp, name, arch_update, vocab):
    """A bundle directory with a small manifest and vocab; returns its manifest path."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    m = shipped_manifest()
    arch = m["architecture"]
    arch.pop("lexicon", None)
    arch["embedding"] = {"embedding_dim": 12, "padding_idx": 0}
    arch.update(arch_update)
    write_manifest(os.path.join(d, "model.yaml"), m)
    shutil.copy(os.path.join(SHIPPED, "labels.txt"), d)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return os.path.join(d, "model.yaml")


def main():
    glia = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n_tests = (1 + 3) + (1 + 1) + len(TORCH_CONFIGS) + 3 + 1
    print("1..%d" % n_tests)
    with tempfile.TemporaryDirectory() as tmp:
        # 1. glia-trained weights in PyTorch
        trained_parity(glia, tmp, "tiny-bilstm", "E 16 + lexicon 2, bidirectional LSTM 8", {"embedding": {"embedding_dim": 16, "padding_idx": 0},
                                                   "rnn": {"type": "lstm", "hidden_size": 8, "num_layers": 1,
                                                           "bidirectional": True}},
                       True, ("last", "mean", "max"))
        trained_parity(glia, tmp, "tiny-lstm2", "E 16, 2-layer LSTM 8, no lexicon", {"embedding": {"embedding_dim": 16, "padding_idx": 0},
                                                  "rnn": {"type": "lstm", "hidden_size": 8, "num_layers": 2,
                                                          "bidirectional": False}},
                       False, ("mean",))

        # 2. PyTorch-initialised weights in glia; the vocabulary: the shipped one's first words
        vocab = gt.read_vocab(os.path.join(SHIPPED, "vocab.txt"))[:400]
        ids, ids_glia, lengths = batch_ids(vocab, 10 ** 6)
        lex_manifest, lex_sd = None, None
        dtypes = (torch.int64, torch.int32, torch.float32)  # glia forward takes any int or float ids
        for i, (name, arch) in enumerate(TORCH_CONFIGS.items()):
            manifest = assemble(tmp, name, arch, vocab)
            model = gt.build_text_module(manifest)
            sd = model.state_dict()
            gt.save_safetensors(os.path.join(os.path.dirname(manifest), "model.safetensors"), sd,
                                metadata={"init": "pytorch-default"})
            model.eval()
            with torch.no_grad():
                want = model(ids, lengths)
            dt = dtypes[i % len(dtypes)]
            got, err = glia_forward(glia, os.path.dirname(manifest), ids_glia.to(dt), lengths.to(dt), tmp)
            d = maxdiff(got, want)
            check("PyTorch-initialised %s (%d tensors, %s ids) served by glia: same logits"
                  % (name, len(sd), str(dt).replace("torch.", "")), d < TOL,
                  "max |diff| %.3g%s" % (d, ("; " + err[:200]) if err else ""))
            if name == "rnn_tanh-2layer-lexicon-mean":  # part 3's: a lexicon and two layers
                lex_manifest, lex_sd = manifest, sd

        # 3. strict loading names the tensor at fault
        d = os.path.dirname(lex_manifest)
        weights = os.path.join(d, "model.safetensors")
        missing = {k: v for k, v in lex_sd.items() if k != "lexicon.weight"}
        gt.save_safetensors(weights, missing)
        got, err = glia_forward(glia, d, ids_glia, lengths, tmp)
        check("a state_dict without lexicon.weight is refused, naming it", got is None and "lexicon.weight" in err,
              err[:200].replace("\n", " "))
        wrong = dict(lex_sd)
        wrong["lexicon.weight"] = torch.zeros(lex_sd["lexicon.weight"].shape[0], 5)
        gt.save_safetensors(weights, wrong)
        got, err = glia_forward(glia, d, ids_glia, lengths, tmp)
        check("a lexicon.weight of the wrong shape is refused, naming it", got is None and "lexicon.weight" in err,
              err[:200].replace("\n", " "))
        wrong = dict(lex_sd)
        w = lex_sd["rnn.weight_hh_l1"]
        wrong["rnn.weight_hh_l1"] = w[:, :-1].contiguous()
        gt.save_safetensors(weights, wrong)
        got, err = glia_forward(glia, d, ids_glia, lengths, tmp)
        check("an rnn.weight_hh_l1 of the wrong shape is refused, naming it",
              got is None and "rnn.weight_hh_l1" in err, err[:200].replace("\n", " "))

        # 4. the shipped sentiment-negation bundle, negation scopes and all
        vocab = gt.read_vocab(os.path.join(NEGATION, "vocab.txt"))
        ids, ids_glia, lengths = batch_ids(vocab, len(vocab) + 1000, marked=True)
        marked = sum(1 for i in ids.flatten().tolist() if vocab[i].startswith("not_"))
        sd = gt.load_safetensors(os.path.join(NEGATION, "model.safetensors"))
        got, err = glia_forward(glia, NEGATION, ids_glia, lengths, tmp)
        want = torch_logits(os.path.join(NEGATION, "model.yaml"), sd, ids, lengths)
        d = maxdiff(got, want)
        check("the shipped sentiment-negation (negation scopes) in PyTorch: same logits, %d marked ids" % marked,
              d < TOL and marked >= 3, "max |diff| %.3g%s" % (d, ("; " + err[:200]) if err else ""))

    return 0 if all(results) and len(results) == n_tests else 1


if __name__ == "__main__":
    sys.exit(main())
