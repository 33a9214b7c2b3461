#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that rnnzoo-models' parity tests compare against.

Each fixture is a small safetensors file holding random weights (under PyTorch's names, prefixed
`param.`), an input batch, initial states, the outputs and final states of `nn.RNN`, `nn.LSTM` or
`nn.GRU`, and the gradients (prefixed `grad.`) of a fixed random linear loss

    loss = sum(out * w_out) + sum(h_n * w_h) + sum(c_n * w_c)

with respect to the input, the initial states and every weight. The computation runs in float64
and is stored as float32, so the reference itself carries no float32 rounding. Padded cases run
through `pack_padded_sequence` / `pad_packed_sequence`.

The realistic-size cases (`LARGE_CASES`, written under `large/`) would not fit in a few MB with
their weights and full gradients, so their weights, inputs, initial states and loss weights are
not stored: both sides generate them from a seed with a counter-based SplitMix64 (see
`seeded_uniform`, mirrored in the Rust tests' `common::seeded_uniform`), and every result with
more than `SAMPLES` values is stored at `SAMPLES` seeded positions (`idx.NAME`, exact integers in
float32, beside `NAME`).

Needs torch (CI does not): `pip install torch==2.15.0 safetensors numpy`, then
    python3 scripts/make_fixtures.py crates/rnnzoo-models/tests/fixtures
"""

import sys
from pathlib import Path

import numpy as np
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


# Realistic sizes: the block, panel and thread splits of the kernels (hidden 320, 384, 512; hidden
# smaller than the input; batches that the forward splits over threads) and the shapes of the
# quick start and of the benchmark configs a, c, d, e.
LARGE_CASES = [
    # name, mode, batch, steps, input, hidden, layers, bidirectional, lengths
    ("lstm_96_320", "lstm", 5, 40, 96, 320, 2, False, [40, 33, 17, 40, 5]),
    ("rnn_tanh_96_320", "rnn_tanh", 5, 40, 96, 320, 2, False, [40, 33, 17, 40, 5]),
    ("gru_160_384", "gru", 5, 40, 160, 384, 2, False, [12, 40, 40, 29, 1]),
    ("lstm_400_160_bi", "lstm", 5, 40, 400, 160, 2, True, [40, 7, 40, 22, 31]),
    ("rnn_relu_400_160", "rnn_relu", 5, 40, 400, 160, 2, False, [40, 7, 40, 22, 31]),
    ("quickstart_lstm_64_256", "lstm", 32, 16, 64, 256, 1, False, None),
    ("config_a_lstm_256_256", "lstm", 32, 12, 256, 256, 2, False, None),
    ("config_c_bilstm_128_128", "lstm", 20, 16, 128, 128, 1, True, [16, 3, 9, 16, 12, 1, 7, 16, 15, 2, 16, 11, 4, 8, 16, 6, 13, 16, 10, 5]),
    ("config_d_lstm_512_512", "lstm", 32, 6, 512, 512, 1, False, None),
    ("config_e_lstm_128_512", "lstm", 1, 40, 128, 512, 2, False, None),
]
SAMPLES = 2048
MASK = (1 << 64) - 1


def seeded_uniform(seed, shape, scale):
    """float32 values in [-scale, scale): value i (row-major) is
    `(2 * (mix(seed + (i + 1) * golden) >> 40) / 2^24 - 1) * scale`, mix being SplitMix64's output
    function. Every step is exact in float32 but the last product, which rounds as Rust does."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    v = (np.float32(2.0) * u - np.float32(1.0)) * np.float32(scale)
    return torch.from_numpy(v.reshape(shape)).to(torch.float64)


def tensor_seed(case_seed, index):
    return (case_seed * 1000 + index) & MASK


def build(mode, i, h, layers, bidirectional):
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=True, dtype=torch.float64)
    if mode == "lstm":
        return torch.nn.LSTM(i, h, **kwargs)
    if mode == "gru":
        return torch.nn.GRU(i, h, **kwargs)
    return torch.nn.RNN(i, h, nonlinearity=mode.split("_")[1], **kwargs)


def pad_with_garbage(x, lengths):
    """Fills the padded steps with 100.0 (they must not change any result) and makes `x` a leaf
    that gradients reach."""
    if lengths is not None:
        for row, n in enumerate(lengths):
            x[row, n:] = 100.0
    x.requires_grad_(True)


def run(module, mode, x, h0, c0, lengths):
    """Outputs `[B, T, H·dirs]` (zero at padded steps), h_n and c_n (None but for the LSTM);
    a padded batch goes through `pack_padded_sequence`."""
    state = (h0, c0) if mode == "lstm" else h0
    if lengths is None:
        out, final = module(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, final = module(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    h_n, c_n = final if mode == "lstm" else (final, None)
    return out, h_n, c_n


def make(name, mode, b, t, i, h, layers, bidirectional, lengths, seed):
    torch.manual_seed(seed)
    module = build(mode, i, h, layers, bidirectional)
    dirs = 2 if bidirectional else 1
    x = torch.randn(b, t, i, dtype=torch.float64)
    pad_with_garbage(x, lengths)
    h0 = (0.5 * torch.randn(layers * dirs, b, h, dtype=torch.float64)).requires_grad_(True)
    c0 = (0.5 * torch.randn(layers * dirs, b, h, dtype=torch.float64)).requires_grad_(True)
    out, h_n, c_n = run(module, mode, x, h0, c0, lengths)
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


def make_large(name, mode, b, t, i, h, layers, bidirectional, lengths, seed):
    """A realistic-size case from seeded inputs, with its results sampled (see the module doc).
    Generated in this order, tensor k from `tensor_seed(seed, k)`: every parameter in
    `named_parameters()` order (uniform in +-1/sqrt(H), PyTorch's init range), x (+-1.5), h0, c0
    (+-0.5), then the loss weights of out, h_n, c_n (+-1)."""
    module = build(mode, i, h, layers, bidirectional)
    dirs = 2 if bidirectional else 1
    k = 0
    scale = float(np.float32(1.0 / np.sqrt(h)))
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(seeded_uniform(tensor_seed(seed, k), tuple(p.shape), scale))
            k += 1
    x = seeded_uniform(tensor_seed(seed, k), (b, t, i), 1.5)
    pad_with_garbage(x, lengths)
    h0 = seeded_uniform(tensor_seed(seed, k + 1), (layers * dirs, b, h), 0.5).requires_grad_(True)
    c0 = seeded_uniform(tensor_seed(seed, k + 2), (layers * dirs, b, h), 0.5).requires_grad_(True)
    out, h_n, c_n = run(module, mode, x, h0, c0, lengths)
    loss = (out * seeded_uniform(tensor_seed(seed, k + 3), tuple(out.shape), 1.0)).sum()
    loss = loss + (h_n * seeded_uniform(tensor_seed(seed, k + 4), tuple(h_n.shape), 1.0)).sum()
    results = {"out": out, "h_n": h_n}
    inputs = {"x": x, "h0": h0}
    if c_n is not None:
        loss = loss + (c_n * seeded_uniform(tensor_seed(seed, k + 5), tuple(c_n.shape), 1.0)).sum()
        results["c_n"] = c_n
        inputs["c0"] = c0
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(loss, list(inputs.values()) + list(params.values()))
    for key, g in zip(list(inputs) + list(params), grads):
        results[f"grad.{key}"] = g
    picker = np.random.default_rng(seed)
    tensors = {}
    for key, value in results.items():
        flat = value.detach().reshape(-1)
        n = flat.numel()
        idx = np.arange(n) if n <= SAMPLES else np.sort(picker.choice(n, SAMPLES, replace=False))
        tensors[key] = flat[torch.from_numpy(idx)].to(torch.float32).contiguous()
        tensors[f"idx.{key}"] = torch.from_numpy(idx.astype(np.float32))
    meta = {
        "mode": mode,
        "num_layers": str(layers),
        "bidirectional": str(bidirectional).lower(),
        "lengths": ",".join(map(str, lengths)) if lengths else "",
        "batch": str(b),
        "steps": str(t),
        "input": str(i),
        "hidden": str(h),
        "seed": str(seed),
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
    large_dir = out_dir / "large"
    large_dir.mkdir(exist_ok=True)
    for seed, case in enumerate(LARGE_CASES):
        tensors, meta = make_large(*case, seed=2000 + seed)
        save_file(tensors, str(large_dir / f"{case[0]}.safetensors"), metadata=meta)
        print(f"wrote large/{case[0]}")


if __name__ == "__main__":
    main()
