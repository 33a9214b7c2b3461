#!/usr/bin/env python3
"""Writes crates/rnnzoo-metrics/tests/fixtures/jiwer.json: corpus-level WER and CER, and the
hit/substitution/deletion/insertion counts, from jiwer (its default transforms) for several
small corpora, so that the Rust metrics are checked against the reference implementation
without CI needing Python. CI does not run this script; the JSON is committed.

    pip install jiwer==3.1.0
    python3 scripts/make_wer_fixture.py

What jiwer 3.1.0 does by default (read from its source and checked by experiment; the script
re-checks these rules against jiwer on every case with the small reimplementation below):

Words (`jiwer.wer`, `jiwer.process_words`; default transform `wer_default` =
RemoveMultipleSpaces, Strip, ReduceToListOfListOfWords(" ")):
  1. every run of two or more whitespace characters (Python regex `\\s\\s+`, Unicode) becomes
     one ASCII space;
  2. leading and trailing whitespace is removed (Python `str.strip()`, Unicode whitespace);
  3. the sentence is split on the ASCII space " " only, empty pieces dropped. A *single* tab
     or no-break space between words is therefore NOT a word boundary: "a\\tb" is one word
     ("a\\tb" vs "a b" gives WER 2.0), while "a \\t b" or "a\\t\\tb" collapse to "a b".
  No lower-casing, no punctuation removal: "Hello," and "hello" are different words; words
  are compared as exact strings.

Characters (`jiwer.cer`, `jiwer.process_characters`; default `cer_default` = Strip,
ReduceToListOfListOfChars):
  1. leading and trailing whitespace is stripped (`str.strip()`);
  2. the sentence becomes its list of Unicode code points (Rust `str::chars()`), not grapheme
     clusters: decomposed "e\\u0301" is two characters.
  Spaces count as characters, and internal runs of spaces are NOT collapsed for CER:
  "a  b" vs "a b" gives CER 1/4 (one deleted space out of 4 reference characters).

Errors and corpus rate:
  - each reference/hypothesis pair is aligned on its own (Levenshtein, unit costs) and the
    counts H, S, D, I are summed over the corpus (sentences are not concatenated);
  - rate = (S + D + I) / (H + S + D), i.e. total errors over total reference words (or
    characters) after the transforms; it can exceed 1.0 (insertions);
  - an empty reference string, or one that is only whitespace, makes jiwer raise ValueError;
    empty hypotheses are fine (all reference tokens become deletions).
  - The S/D/I split (not the total) depends on how the alignment breaks ties. jiwer uses
    rapidfuzz's Levenshtein.opcodes; it is reproduced by: strip the common prefix and common
    suffix of the two token sequences (those are hits), fill the usual DP table D[i][j] over
    the rest, and trace back from the end choosing, in this order, the first move that is
    consistent with the table: deletion (D[i-1][j] + 1 == D[i][j]), substitution (tokens
    differ and D[i-1][j-1] + 1 == D[i][j]), insertion (D[i][j-1] + 1 == D[i][j]), match.
    See `counts` below.
"""
import importlib.metadata
import json
import os
import re
import unicodedata

import jiwer

CASES = [
    ("identical",
     ["the cat sat on the mat", "hello world"],
     ["the cat sat on the mat", "hello world"]),
    ("empty_hypothesis",
     ["the quick brown fox", "jumps over"],
     ["", "jumps over"]),
    ("insertions_only",
     ["a b c"],
     ["x a b y c z"]),
    ("mixed_several_sentences",
     ["in the beginning god created the heaven and the earth",
      "and the earth was without form and void",
      "and god said let there be light",
      "it was good"],
     ["in beginning god made the heavens and the the earth",
      "the earth was without form void",
      "and god said let there be light and there was light",
      "it is was good"]),
    ("punctuation_and_case_kept",
     ["Hello, World! How are you?", "It's 3.50 EUR."],
     ["hello world how are you", "It's 3.50 eur."]),
    ("multiple_and_edge_spaces",
     ["  the   cat  sat ", "on the mat"],
     ["the cat   sat on", "   on  the mat   "]),
    ("tab_and_nbsp_are_not_single_word_delimiters",
     ["one\ttwo three", "four\u00a0five six", "seven \t eight"],
     ["one two three", "four five six", "seven eight"]),
    ("unicode_dutch",
     ["één keer naar België", "de kinderen zijn in Gent geweest"],
     ["een keer naar Belgie", "de kinderen zijn in Gént geweest"]),
    ("unicode_decomposed_code_points",
     [unicodedata.normalize("NFC", "één café")],
     [unicodedata.normalize("NFD", "één café")]),
    ("long_sentence_pair",
     ["the speech recognition system was trained on several thousand hours of read english "
      "speech and evaluated on a held out test set where it reached a word error rate of "
      "about five percent which the authors compared with earlier hybrid systems"],
     ["the speech recognition system was trained on several thousands hours of red english "
      "speech and evaluated on the held out test set where it reached word error rate of "
      "about five per cent which the author compared to earlier hybrid hybrid systems"]),
]


def words(s):
    s = re.sub(r"\s\s+", " ", s).strip()
    return [w for w in s.split(" ") if w]


def chars(s):
    return list(s.strip())


def counts(ref, hyp):
    """(hits, subs, dels, ins) with rapidfuzz's tie-breaking (see the module docstring)."""
    p = 0
    while p < len(ref) and p < len(hyp) and ref[p] == hyp[p]:
        p += 1
    q = 0
    while q < len(ref) - p and q < len(hyp) - p and ref[-1 - q] == hyp[-1 - q]:
        q += 1
    r, h = ref[p:len(ref) - q], hyp[p:len(hyp) - q]
    n, m = len(r), len(h)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (r[i - 1] != h[j - 1]))
    i, j, hits, subs, dels, ins = n, m, p + q, 0, 0, 0
    while i or j:
        if i and d[i - 1][j] + 1 == d[i][j]:
            i, dels = i - 1, dels + 1
        elif i and j and r[i - 1] != h[j - 1] and d[i - 1][j - 1] + 1 == d[i][j]:
            i, j, subs = i - 1, j - 1, subs + 1
        elif j and d[i][j - 1] + 1 == d[i][j]:
            j, ins = j - 1, ins + 1
        else:
            assert i and j and r[i - 1] == h[j - 1] and d[i - 1][j - 1] == d[i][j]
            i, j, hits = i - 1, j - 1, hits + 1
    return hits, subs, dels, ins


def corpus(refs, hyps, split):
    tot = [0, 0, 0, 0]
    for r, h in zip(refs, hyps):
        tot = [a + b for a, b in zip(tot, counts(split(r), split(h)))]
    hits, subs, dels, ins = tot
    return (subs + dels + ins) / (hits + subs + dels), tot


def main():
    out = []
    for name, refs, hyps in CASES:
        w = jiwer.process_words(refs, hyps)
        c = jiwer.process_characters(refs, hyps)
        wer, cer = jiwer.wer(refs, hyps), jiwer.cer(refs, hyps)
        assert wer == w.wer and cer == c.cer
        # The documented rules reproduce jiwer exactly (rates and the S/D/I split).
        my_wer, wc = corpus(refs, hyps, words)
        my_cer, cc = corpus(refs, hyps, chars)
        assert wc == [w.hits, w.substitutions, w.deletions, w.insertions], (name, wc)
        assert cc == [c.hits, c.substitutions, c.deletions, c.insertions], (name, cc)
        assert abs(my_wer - wer) < 1e-15 and abs(my_cer - cer) < 1e-15, name
        out.append(dict(
            name=name, references=refs, hypotheses=hyps, wer=wer, cer=cer,
            substitutions=w.substitutions, deletions=w.deletions,
            insertions=w.insertions, hits=w.hits,
            char_substitutions=c.substitutions, char_deletions=c.deletions,
            char_insertions=c.insertions, char_hits=c.hits,
        ))
        print(f"{name:45s} wer={wer:.6f} cer={cer:.6f}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates",
                        "rnnzoo-metrics", "tests", "fixtures", "jiwer.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(dict(jiwer_version=importlib.metadata.version("jiwer"), cases=out), f,
                  indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
