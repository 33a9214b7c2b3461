#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that rnnzoo-models' parity tests compare against.

Each fixture is a small safetensors file holding random weights (under PyTorch's names, prefixed
`param.`), an input batch, initial states, the outputs and final states of `nn.RNN`, `nn.LSTM` or
`nn.GRU`, and the gradients (prefixed `grad.`) of a fixed random linear loss

    loss = sum(out * w_out) + sum(h_n * w_h) + sum(c_n * w_c)

with respect to the input, the initial states and every weight. The computation runs in float64
and is stored as float32, so the reference itself carries no float32 rounding. Padded cases run
through `pack_padded_sequence` / `pad_packed_sequence`.

Needs torch (CI does not): `pip install torch==2.15.0 safetensors`, then
    python3 scripts/make_fixtures.py crates/rnnzoo-models/tests/fixtures
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CASES = [
    # name, mode, batch, steps, input, hidden, layers, bidirectional, lengths
    ("rnn_tanh_1layer", "rnn_tanh", 3, 5, 4, 6, 1, False, None),
    ("rnn_relu_2layer_bi", "rnn_relu", 3, 5, 4, 6, 2, True, None),
    ("lstm_1layer", "lstm", 3, 5, 4, 6, 1, False, None),
    ("lstm_2layer_bi", "lstm", 2, 7, 5, 4, 2, True, None),
    ("gru_1layer", "gru", 3, 5, 4, 6, 1, False, None),
    ("gru_2layer_bi", "gru", 2, 7, 5, 4, 2, True, None),
    ("rnn_tanh_padded_bi", "rnn_tanh", 4, 6, 3, 5, 2, True, [6, 4, 1, 3]),
    ("lstm_padded_bi", "lstm", 4, 6, 3, 5, 2, True, [6, 4, 1, 3]),
    ("gru_padded_bi", "gru", 4, 6, 3, 5, 2, True, [6, 4, 1, 3]),
    ("lstm_padded_uni", "lstm", 3, 6, 3, 5, 1, False, [2, 6, 5]),
]


def build(mode, i, h, layers, bidirectional):
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=True, dtype=torch.float64)
    if mode == "lstm":
        return torch.nn.LSTM(i, h, **kwargs)
    if mode == "gru":
        return torch.nn.GRU(i, h, **kwargs)
    return torch.nn.RNN(i, h, nonlinearity=mode.split("_")[1], **kwargs)


def make(name, mode, b, t, i, h, layers, bidirectional, lengths, seed):
    torch.manual_seed(seed)
    module = build(mode, i, h, layers, bidirectional)
    dirs = 2 if bidirectional else 1
    x = torch.randn(b, t, i, dtype=torch.float64)
    if lengths is not None:  # padding holds garbage: it must not change any result
        for row, n in enumerate(lengths):
            x[row, n:] = 100.0
    x.requires_grad_(True)
    h0 = (0.5 * torch.randn(layers * dirs, b, h, dtype=torch.float64)).requires_grad_(True)
    c0 = (0.5 * torch.randn(layers * dirs, b, h, dtype=torch.float64)).requires_grad_(True)
    state = (h0, c0) if mode == "lstm" else h0
    if lengths is None:
        out, final = module(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, final = module(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
    h_n, c_n = final if mode == "lstm" else (final, None)
    w_out = torch.randn_like(out)
    w_h = torch.randn_like(h_n)
    loss = (out * w_out).sum() + (h_n * w_h).sum()
    tensors = {"x": x, "h0": h0, "out": out, "h_n": h_n, "loss_w_out": w_out, "loss_w_h": w_h}
    inputs = {"x": x, "h0": h0}
    if c_n is not None:
        w_c = torch.randn_like(c_n)
        loss = loss + (c_n * w_c).sum()
        tensors.update({"c0": c0, "c_n": c_n, "loss_w_c": w_c})
        inputs["c0"] = c0
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(loss, list(inputs.values()) + list(params.values()))
    for key, g in zip(list(inputs) + list(params), grads):
        tensors[f"grad.{key}"] = g
    for key, p in params.items():
        tensors[f"param.{key}"] = p
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}
    meta = {
        "mode": mode,
        "num_layers": str(layers),
        "bidirectional": str(bidirectional).lower(),
        "lengths": ",".join(map(str, lengths)) if lengths else "",
        "torch": torch.__version__,
    }
    return tensors, meta


def main():
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/rnnzoo-models/tests/fixtures")
    out_dir.mkdir(parents=True, exist_ok=True)
    for seed, case in enumerate(CASES):
        tensors, meta = make(*case, seed=1000 + seed)
        save_file(tensors, str(out_dir / f"{case[0]}.safetensors"), metadata=meta)
        print(f"wrote {case[0]}: out {tuple(tensors['out'].shape)}")


if __name__ == "__main__":
    main()
