#!/usr/bin/env python3
"""Writes crates/rnnzoo-metrics/tests/fixtures/sacrebleu.json: the 13a tokenisation of each line
and sacreBLEU's corpus BLEU and chrF (its defaults) for several small corpora, so that the Rust
metrics are checked against the reference implementation without CI needing Python.

    pip install sacrebleu==2.5.1
    python3 scripts/make_bleu_fixture.py
"""
import json
import os
import random

import sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

LINES = [
    ("In the beginning God created the heaven and the earth.",
     "In the beginning God created the heaven and the earth."),
    ("And the earth was without form, and void; and darkness was upon the face of the deep.",
     "And the earth was without form and void, and darkness was on the face of the deep."),
    ("And God said, Let there be light: and there was light.",
     "And God said: Let there be light, and there was light."),
    ("It costs $3.50, or 1,000-2 shekels (approx.)!", "It cost 3.50 shekels, or 1,000 - 2 (about)!"),
    ("Tom &amp; Jerry said &quot;hi&quot; &lt;loudly&gt;.", "Tom & Jerry said \"hi\" <loudly>."),
    ("¿Dónde está el niño?  Él dijo: «ven».", "¿Dónde está el niño? Él dijo: «ven»."),
    ("", "and he said unto them"),
    ("the the the the the the", "the cat is on the mat"),
    ("verses 3-5 and 10-12 ... and so on...", "verses 3 - 5 and 10-12 , and so on ."),
    ("a\tb  c\u00a0d trailing   ", "a b c d trailing"),
    ("Jesus wept.", "Jesus wept."),
    ("and-he-went {to} [the] city/town ~ ^ _ ` |", "and he went to the city or town"),
]


def score(hyps, refs):
    bleu = sacrebleu.corpus_bleu(hyps, [refs])
    chrf = sacrebleu.corpus_chrf(hyps, [refs])
    return dict(bleu=bleu.score, precisions=bleu.precisions, bp=bleu.bp, sys_len=bleu.sys_len,
                ref_len=bleu.ref_len, chrf=chrf.score)


def main():
    tok = Tokenizer13a()
    hyps = [h for h, _ in LINES]
    refs = [r for _, r in LINES]
    corpora = [dict(name="all", hyps=hyps, refs=refs)]
    corpora.append(dict(name="no 4-gram match", hyps=["the cat sat down", "a dog ran off"],
                        refs=["the cat sat up", "a dog ran away"]))
    corpora.append(dict(name="short", hyps=["the cat"], refs=["the cat sat on the mat"]))
    # A random corpus: words from a small vocabulary, so that every order has matches.
    rng = random.Random(7)
    words = "and the of he said unto them lord god , . ; : ? !".split()
    rh, rr = [], []
    for _ in range(40):
        ref = [rng.choice(words) for _ in range(rng.randint(3, 25))]
        hyp = [w if rng.random() < 0.7 else rng.choice(words) for w in ref]
        hyp = hyp[: max(1, len(hyp) - rng.randint(0, 3))]
        rh.append(" ".join(hyp))
        rr.append(" ".join(ref))
    corpora.append(dict(name="random", hyps=rh, refs=rr))
    for c in corpora:
        c.update(score(c["hyps"], c["refs"]))
    out = dict(
        sacrebleu=sacrebleu.__version__,
        tokenized=[dict(line=line, tokens=tok(line.rstrip())) for line in hyps + refs],
        corpora=corpora,
    )
    path = os.path.join(os.path.dirname(__file__), "..", "crates", "rnnzoo-metrics", "tests",
                        "fixtures", "sacrebleu.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    for c in corpora:
        print(f"{c['name']}: BLEU {c['bleu']:.4f} chrF {c['chrf']:.4f}")


if __name__ == "__main__":
    main()
