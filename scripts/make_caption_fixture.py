#!/usr/bin/env python3
"""Writes crates/rnnzoo-metrics/tests/fixtures/captions.json: captioning corpora with several
references per hypothesis, scored by sacreBLEU (BLEU-1..4 via max_ngram_order, several
reference streams) and by the COCO caption evaluation's CIDEr-D (pycocoevalcap's Cider), so the
Rust metrics are checked against the reference implementations without CI needing Python.

    pip install sacrebleu==2.5.1 pycocoevalcap==1.2
    python3 scripts/make_caption_fixture.py
"""
import json
import os
import random

import sacrebleu
from sacrebleu.metrics import BLEU
from pycocoevalcap.cider.cider import Cider


def corpus(name, hyps, refs):
    # sacreBLEU takes reference streams: stream k holds every sentence's k-th reference.
    streams = [[r[k] for r in refs] for k in range(len(refs[0]))]
    bleu = {}
    for n in range(1, 5):
        b = BLEU(max_ngram_order=n).corpus_score(hyps, streams)
        bleu[str(n)] = dict(score=b.score, sys_len=b.sys_len, ref_len=b.ref_len)
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    cider, per = Cider().compute_score(gts, res)
    return dict(name=name, hyps=hyps, refs=refs, bleu=bleu, cider=float(cider),
                cider_per=[float(x) for x in per])


def main():
    corpora = [corpus(
        "emoji",
        ["grinning face with big eyes", "red heart", "man bouncing ball", "flag france",
         "face with tears of joy joy", "thumbs down medium skin tone"],
        [["grinning face", "face smiling cheerful cheery face grin"],
         ["red heart", "heart emotion love"],
         ["man bouncing ball dark skin tone", "person sport ball dark skin tone"],
         ["flag germany", "flag country flag"],
         ["face with tears of joy", "face smiling face joy laugh tear"],
         ["thumbs up", "hand fingers closed hand thumb up"]])]
    rng = random.Random(11)
    words = "a red blue green circle square triangle small big on the left of right".split()
    hyps, refs = [], []
    for _ in range(30):
        rs = []
        for _ in range(3):
            rs.append(" ".join(rng.choice(words) for _ in range(rng.randint(2, 9))))
        base = rs[0].split()
        hyp = [w if rng.random() < 0.7 else rng.choice(words) for w in base]
        hyp = hyp[: max(1, len(hyp) - rng.randint(0, 2))]
        hyps.append(" ".join(hyp))
        refs.append(rs)
    corpora.append(corpus("random", hyps, refs))
    out = dict(sacrebleu=sacrebleu.__version__, corpora=corpora)
    path = os.path.join(os.path.dirname(__file__), "..", "crates", "rnnzoo-metrics", "tests",
                        "fixtures", "captions.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    for c in corpora:
        print(c["name"], {n: round(b["score"], 4) for n, b in c["bleu"].items()},
              "CIDEr-D", round(c["cider"], 4))


if __name__ == "__main__":
    main()
