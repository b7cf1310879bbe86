"""sparq.train: DSD, TTQ and load-balance-aware pruning in a training loop,
on the 8x8 digits set with a small CNN, and what they hand to sparq.compile."""

import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

import sparq
import sparq.train

sys.path.insert(0, os.path.dirname(__file__))
import digits  # noqa: E402

EPOCHS = 30
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return digits.load()


def _train(data, seed, phases):
    """Trains a DigitsCNN for EPOCHS epochs with Adam (lr 2e-3, then 5e-4 from
    epoch 20); phases[epoch](model, optimizer) may change the setting and
    return a new optimizer. Returns the model and its test accuracy."""
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    model = digits.DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for e in range(EPOCHS):
        if e in phases:
            opt = phases[e](model, opt) or opt
        if e == 20:
            digits.set_lr(opt, 5e-4)
        digits.epoch(model, opt, xtr, ytr, seed=seed * 1000 + e)
    return model, digits.accuracy(model, xte, yte)


@pytest.fixture(scope="module")
def dense(data):
    """The dense runs every compressed run is held against."""
    return [_train(data, s, {})[1] for s in SEEDS]


# --- DSD --------------------------------------------------------------------

def test_dsd_reaches_the_dense_accuracy(data, dense):
    accuracies, densities = [], []
    for seed in SEEDS:
        dsd = {}

        def sparse(model, opt):
            dsd["x"] = sparq.train.DSD(model, sparsity=0.5, optimizer=opt).sparse()

        def redense(model, opt):
            densities.append(dsd["x"].density())
            dsd["x"].redense()
        model, acc = _train(data, seed, {10: sparse, 20: redense})
        accuracies.append(acc)
        assert dsd["x"].phase == "redense" and not dsd["x"].masks
    print(f"\nDSD 50% (dense 10 / sparse 10 / re-dense 10 epochs): {accuracies}; "
          f"dense {EPOCHS} epochs: {dense}")
    for d in densities:
        assert all(abs(v - 0.5) < 1e-3 for v in d.values()), d
    assert np.mean(accuracies) >= np.mean(dense) - 0.5


def test_dsd_masks_are_sparq_prunes_and_hold_through_training(data):
    xtr, ytr, xte, yte = data
    torch.manual_seed(3)
    model = digits.DigitsCNN()
    original = digits.DigitsCNN()
    original.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    dsd = sparq.train.DSD(model, 0.7, granularity="kernel", layers=["conv2", "fc*"],
                          optimizer=opt).sparse()
    assert set(dsd.masks) == {"conv2.weight", "fc1.weight", "fc2.weight"}
    # The same weights as the compiler's own sparq-prune of the unpruned model.
    pruned = sparq.compile(model, (xte[:4],))
    by_compiler = sparq.compile(original, (xte[:4],),
                                recipe="prune=kernel:0.7,layers=/conv2/Conv,/fc1/Gemm,/fc2/Gemm")
    np.testing.assert_allclose(pruned(xte[:4]).numpy(), by_compiler(xte[:4]).numpy(),
                               rtol=1e-5, atol=1e-6)
    zeros = model.conv2.weight.detach() == 0
    digits.epoch(model, opt, xtr, ytr)
    assert torch.equal(model.conv2.weight.detach() == 0, zeros), "mask not enforced"
    # What training pruned compiles sparse.
    conv2 = [l for l in sparq.report(model, example_inputs=(xte[:1],))
             if l.name == "/conv2/Conv"][0]
    w = conv2.weights[0]
    assert w.pattern == "kernel" and abs(w.density - 0.3) < 0.005 and w.ratio > 1
    dsd.redense()
    digits.epoch(model, opt, xtr, ytr)
    assert digits.accuracy(model, xte, yte) > 50  # it trains
    # Pruned weights train again (those feeding dead ReLUs stay at zero).
    assert int((model.conv2.weight.detach() == 0).sum()) < int(zeros.sum()) // 2


def test_dsd_rejects_bad_settings(data):
    model = digits.DigitsCNN()
    with pytest.raises(ValueError, match="granularity"):
        sparq.train.DSD(model, 0.5, granularity="diagonal").sparse()
    with pytest.raises(ValueError, match="sparsity"):
        sparq.train.DSD(model, 1.5)
    with pytest.raises(ValueError, match="'fc9' matches no layer"):
        sparq.train.DSD(model, 0.5, layers=["fc9"])


# --- TTQ --------------------------------------------------------------------

def test_ttq_gradients_follow_the_paper():
    torch.manual_seed(0)
    latent = torch.randn(6, 7, dtype=torch.float64)
    wp = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    wn = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    quantize = sparq.train._TernaryWeight.apply
    assert torch.autograd.gradcheck(lambda a, b: quantize(latent, a, b, 0.3), (wp, wn))
    latent.requires_grad_(True)
    out = quantize(latent, wp, wn, 0.3)
    delta = 0.3 * latent.detach().abs().max()
    pos, neg = latent.detach() > delta, latent.detach() < -delta
    expected = torch.where(pos, wp.detach(), torch.where(neg, -wn.detach(),
                                                         torch.zeros(())))
    assert torch.equal(out.detach(), expected)
    g = torch.randn(6, 7, dtype=torch.float64)
    out.backward(g)
    scale = torch.where(pos, wp.detach(), torch.where(neg, wn.detach(), torch.ones(())))
    torch.testing.assert_close(latent.grad, g * scale)


def test_ttq_is_close_to_fp32_and_compiles_16x_smaller(data, dense):
    xtr, ytr, xte, yte = data
    holder = {}

    def ternarize(model, opt):
        holder["ttq"] = sparq.train.TTQ(model, threshold=0.05)
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    accuracies = []
    for seed in SEEDS:
        model, acc = _train(data, seed, {15: ternarize})
        accuracies.append(acc)
    ttq = holder["ttq"]
    assert ttq.layers == ["conv2", "fc1"]  # first and last stay fp32
    exported = ttq.export()
    assert digits.accuracy(exported, xte, yte) == accuracies[-1]
    for name in ttq.layers:
        values = torch.unique(getattr(exported, name).weight.detach())
        wp, wn = ttq.scales()[name]
        assert len(values) == 3 and wp > 0 and wn > 0
        assert set(values.tolist()) == {-np.float32(wn), 0.0, np.float32(wp)}
    report = sparq.report(exported, example_inputs=(xte[:1],))
    ternary = [w for l in report for w in l.weights if "ternary" in w.format]
    assert len(ternary) == 2
    ratio = sum(w.dense_bytes for w in ternary) / sum(w.bytes for w in ternary)
    print(f"\nTTQ (15 fp32 + 15 ternary epochs): {accuracies}; fp32: {dense}; "
          f"ternary layers {ratio:.1f}x smaller")
    assert ratio >= 15
    assert np.mean(accuracies) >= np.mean(dense) - 2.0
    compiled = sparq.compile(exported, (xte,))
    np.testing.assert_allclose(compiled(xte).numpy(), exported(xte).detach().numpy(),
                               rtol=1e-3, atol=1e-4)


# --- ESE load-balance-aware pruning -----------------------------------------

def test_load_balanced_pruning_keeps_accuracy_and_balance(data, dense):
    xtr, ytr, xte, yte = data
    holder = {}

    def prune(model, opt):
        holder["lbp"] = sparq.train.LoadBalancedPruning(model, pes=32, sparsity=0.9,
                                                        optimizer=opt)
    accuracies = []
    for seed in SEEDS:
        model, acc = _train(data, seed, {15: prune})
        accuracies.append(acc)
    lbp = holder["lbp"]
    assert lbp.skipped == ["fc2.weight"]  # 10 rows: fewer than 32 PEs
    assert lbp.balance() == {"fc1.weight": 1.0}
    assert abs(lbp.density()["fc1.weight"] - 0.1) < 1e-3
    fc1 = [l for l in sparq.report(model, recipe="pe-balance=32:0,layers=/fc1/Gemm",
                                   example_inputs=(xte[:1],))
           if l.name == "/fc1/Gemm"][0].weights[0]
    print(f"\nload-balanced pruning 90% over 32 PEs: {accuracies}; dense: {dense}; "
          f"fc1 {fc1.format}, balance {fc1.pe_balance_after}")
    assert fc1.format.startswith("icsc32")
    assert fc1.pe_balance_before == 1.0 and fc1.pe_balance_after == 1.0
    assert np.mean(accuracies) >= np.mean(dense) - 2.0


def test_load_balanced_pruning_balances_lstm_matrices():
    torch.manual_seed(0)
    lstm = nn.LSTM(24, 64)
    before = lstm.weight_hh_l0.detach().clone()
    lbp = sparq.train.LoadBalancedPruning(lstm, pes=16, sparsity=0.8)
    assert lbp.balance() == {"weight_ih_l0": 1.0, "weight_hh_l0": 1.0}
    # Plain magnitude pruning of the same matrix leaves the PEs unequal.
    plain = sparq._sparq.prune_mask(before.numpy(), "element", 0.8)
    _, efficiency = sparq._sparq.pe_load(before.numpy() * plain, 16)
    assert efficiency < 0.95
