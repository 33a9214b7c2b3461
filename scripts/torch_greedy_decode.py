#!/usr/bin/env python3
"""PyTorch's greedy decoding speed for the translation model of configs/translate/bible-es-en.yaml
(BiLSTM encoder, bridge, LSTM decoder, Luong general attention, no input feeding), to compare
with `rnnzoo eval RUN --json` (its `decode_s`) at beam 1 and 5.

Weights are random, so the script fixes what the trained model decided: each sentence of
test.hyp.txt gives a source of as many tokens as the hypothesis has (plus one) and a decode of
exactly that many steps; sentences are decoded in batches of 64 sorted by length, as rnnzoo does.

    python3 scripts/torch_greedy_decode.py RUN/test.hyp.txt [--threads 1]
"""
import argparse
import time

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, sv=8000, tv=8000, e=192, he=192, hd=384):
        super().__init__()
        self.src_emb = nn.Embedding(sv, e)
        self.enc = nn.LSTM(e, he, batch_first=True, bidirectional=True)
        self.bridge_h = nn.Linear(2 * he, hd)
        self.bridge_c = nn.Linear(2 * he, hd)
        self.tgt_emb = nn.Embedding(tv, e)
        self.dec = nn.LSTM(e, hd, batch_first=True)
        self.attn_w = nn.Linear(hd, 2 * he, bias=False)
        self.combine = nn.Linear(2 * he + hd, hd, bias=False)
        self.out = nn.Linear(hd, tv)

    def greedy(self, src, src_len, steps):
        packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_len, batch_first=True,
                                                   enforce_sorted=False)
        enc_packed, (h, c) = self.enc(packed)
        enc, _ = nn.utils.rnn.pad_packed_sequence(enc_packed, batch_first=True,
                                                  total_length=src.shape[1])
        state = (torch.tanh(self.bridge_h(torch.cat([h[0], h[1]], -1))).unsqueeze(0),
                 self.bridge_c(torch.cat([c[0], c[1]], -1)).unsqueeze(0))
        mask = torch.arange(src.shape[1])[None, None, :] >= src_len[:, None, None]
        token = torch.full((src.shape[0], 1), 2, dtype=torch.long)
        out = []
        for _ in range(steps):
            d, state = self.dec(self.tgt_emb(token), state)
            scores = torch.bmm(self.attn_w(d), enc.transpose(1, 2)).masked_fill(mask, float("-inf"))
            ctx = torch.bmm(torch.softmax(scores, -1), enc)
            logits = self.out(torch.tanh(self.combine(torch.cat([ctx, d], -1))))
            token = logits.argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hyp")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lengths = sorted(len(line.split()) + 1 for line in open(args.hyp, encoding="utf-8"))
    model = Model().eval()
    gen = torch.Generator().manual_seed(1)
    tokens = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(lengths), 64):
            batch = lengths[i:i + 64]
            src_len = torch.tensor(batch)
            src = torch.randint(4, 8000, (len(batch), max(batch)), generator=gen)
            model.greedy(src, src_len, max(batch))
            tokens += sum(batch)
    seconds = time.perf_counter() - start
    print(f"torch {torch.__version__} greedy, {args.threads} thread(s): {len(lengths)} sentences "
          f"in {seconds:.2f} s ({tokens / seconds:.0f} tokens/s)")


if __name__ == "__main__":
    main()
