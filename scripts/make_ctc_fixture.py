#!/usr/bin/env python3
"""Writes crates/rnnzoo-models/tests/fixtures/ctc.json: CTC losses and gradients computed by
PyTorch (float64, CPU) for a few small seeded cases, so that the Rust CTC kernel is checked
against the reference implementation without CI needing Python. CI does not run this
script; the JSON is committed.

    pip install torch==2.15.0
    python3 scripts/make_ctc_fixture.py

Each case under "cases" holds:
  name, batch, time, classes, blank
  logits         flat [batch, time, classes], row-major, batch-first (unnormalised scores)
  input_lengths  [batch]
  targets        one list of label ids per utterance, unpadded, never the blank id
  losses         per-utterance negative log-likelihood, torch ctc_loss(reduction='none')
  mean_loss      torch ctc_loss(reduction='mean') = mean over the batch of
                 losses[b] / max(len(targets[b]), 1)
  grad           flat [batch, time, classes], d mean_loss / d logits, where the loss is
                 ctc_loss(log_softmax(logits, classes), ...) with zero_infinity=False; frames
                 at or past an utterance's input length get zero gradient.
torch.nn.functional.ctc_loss takes log-probabilities [time, batch, classes], so the
batch-first logits are transposed before the call. The script also checks torch's losses
against a plain log-space forward recursion and its mean rule against the formula above.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)
DT = torch.float64


def random_target(length, classes, blank):
    labels = [c for c in range(classes) if c != blank]
    return [labels[i] for i in torch.randint(len(labels), (length,)).tolist()]


def forward_nll(logp, target, blank):
    """-log p(target | logp) by the standard CTC alpha recursion; logp [T, C] float64."""
    ext = [blank]
    for c in target:
        ext += [c, blank]
    s_len, t_len = len(ext), logp.shape[0]
    neg = torch.tensor(float("-inf"), dtype=DT)
    alpha = torch.full((s_len,), float("-inf"), dtype=DT)
    alpha[0] = logp[0, blank]
    if s_len > 1:
        alpha[1] = logp[0, ext[1]]
    for t in range(1, t_len):
        new = torch.full((s_len,), float("-inf"), dtype=DT)
        for s in range(s_len):
            terms = [alpha[s], alpha[s - 1] if s >= 1 else neg]
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[s - 2])
            new[s] = torch.logsumexp(torch.stack(terms), 0) + logp[t, ext[s]]
        alpha = new
    tail = alpha[-2:] if s_len > 1 else alpha[-1:]
    return -torch.logsumexp(tail, 0).item()


def make_case(name, time, classes, blank, input_lengths, targets, std=1.0):
    batch = len(input_lengths)
    assert len({batch, time, classes}) == 3, "dimensions must be distinct sizes"
    assert len(targets) == batch and max(input_lengths) == time
    for tgt, n in zip(targets, input_lengths):
        assert blank not in tgt and all(0 <= c < classes for c in tgt)
        repeats = sum(a == b for a, b in zip(tgt, tgt[1:]))
        assert len(tgt) + repeats <= n, "infeasible alignment"
    logits = (torch.randn(batch, time, classes, dtype=DT) * std).requires_grad_(True)
    log_probs = F.log_softmax(logits, dim=2).transpose(0, 1)  # [time, batch, classes]
    flat_targets = torch.tensor([c for t in targets for c in t], dtype=torch.long)
    in_lens = torch.tensor(input_lengths, dtype=torch.long)
    tgt_lens = torch.tensor([len(t) for t in targets], dtype=torch.long)
    kw = dict(blank=blank, zero_infinity=False)
    losses = F.ctc_loss(log_probs, flat_targets, in_lens, tgt_lens, reduction="none", **kw)
    mean = F.ctc_loss(log_probs, flat_targets, in_lens, tgt_lens, reduction="mean", **kw)
    assert torch.isfinite(losses).all() and torch.isfinite(mean)
    manual = (losses / tgt_lens.clamp(min=1).to(DT)).mean()
    assert abs(manual.item() - mean.item()) < 1e-12, (manual.item(), mean.item())
    (grad,) = torch.autograd.grad(mean, logits)
    with torch.no_grad():
        lp = F.log_softmax(logits, dim=2)
        for b in range(batch):
            ref = forward_nll(lp[b, :input_lengths[b]], targets[b], blank)
            assert abs(ref - losses[b].item()) < 1e-9 * max(1.0, abs(ref)), (name, b, ref)
            assert (grad[b, input_lengths[b]:] == 0).all(), "padding frames must get zero grad"
    print(f"{name:32s} losses={[round(x, 6) for x in losses.tolist()]} mean={mean.item():.6f}")
    return dict(
        name=name, batch=batch, time=time, classes=classes, blank=blank,
        logits=logits.detach().flatten().tolist(), input_lengths=list(input_lengths),
        targets=[list(t) for t in targets], losses=losses.tolist(), mean_loss=mean.item(),
        grad=grad.flatten().tolist(),
    )


def main():
    cases = [
        make_case("a_repeats_varied_lengths", time=9, classes=7, blank=0,
                  input_lengths=[9, 7, 5], targets=[[2, 2, 5, 1], [3, 6, 4], [1, 1]]),
        make_case("b_empty_target", time=13, classes=11, blank=0,
                  input_lengths=[13, 10], targets=[random_target(6, 11, 0), []]),
        make_case("c_blank_not_zero", time=6, classes=5, blank=4,
                  input_lengths=[6], targets=[[1, 3, 3]]),
        make_case("d_larger_std3", time=40, classes=29, blank=0,
                  input_lengths=[40, 31],
                  targets=[random_target(12, 29, 0), random_target(9, 29, 0)], std=3.0),
    ]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates",
                        "rnnzoo-models", "tests", "fixtures", "ctc.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(dict(torch_version=torch.__version__, cases=cases), f)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
