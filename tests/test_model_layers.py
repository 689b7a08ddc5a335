"""Toy models with hand-set weights whose output is known, and the layers' length bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnatracker_cli.encoding import get_encoding, make_batch
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.model import ARCHITECTURES, build_model, default_config
from rnatracker_cli.model.layers import ConvStack, MaskedAttention, MaskedBiLSTM, masked_mean, reverse_valid


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_masked_attention_matches_hand_computation():
    att = MaskedAttention(2)
    with torch.no_grad():
        att.score.weight.copy_(torch.tensor([[0.5, -1.0]]))
        att.score.bias.fill_(0.1)
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [9.0, 9.0]]])
    c, alpha = att(h, torch.tensor([3]))
    s = np.tanh(np.array([0.5 * 1 + 0.1, -1.0 + 0.1, 1.0 - 2.0 + 0.1]))
    expected = np.exp(s) / np.exp(s).sum()
    np.testing.assert_allclose(alpha[0, :3].detach().numpy(), expected, rtol=1e-6)
    assert alpha[0, 3].item() == 0.0  # the padded step gets no weight
    np.testing.assert_allclose(c[0].detach().numpy(), expected @ h[0, :3].numpy(), rtol=1e-6)


def test_masked_mean_ignores_padding():
    h = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    mean, w = masked_mean(h, torch.tensor([2, 3]))
    assert mean[:, 0].tolist() == pytest.approx([2.0, 4.0])
    assert w[0].tolist() == pytest.approx([0.5, 0.5, 0.0])


def test_conv_stack_lengths_minimum_and_receptive_field():
    stack = ConvStack(4, filters=3, kernel=10, pool=3, layers=2, dropout=0.0)
    assert stack.min_length() == 45
    assert stack.receptive_field() == (45, 9)
    for length in (45, 46, 100, 1000, 1003):
        out = stack(torch.zeros(1, 4, length))
        assert out.shape[2] == int(stack.output_lengths(torch.tensor([length]))[0])
    assert int(stack.output_lengths(torch.tensor([44]))[0]) == 0


def test_reverse_valid_reverses_only_valid_steps():
    h = torch.arange(10.0).reshape(2, 5, 1)
    r = reverse_valid(h, torch.tensor([3, 5]))
    assert r[:, :, 0].tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    assert torch.equal(reverse_valid(r, torch.tensor([3, 5])), h)


def test_bilstm_rows_match_unbatched_runs():
    torch.manual_seed(0)
    lstm = MaskedBiLSTM(3, 4)
    h = torch.randn(3, 7, 3)
    lengths = torch.tensor([7, 4, 1])
    out = lstm(h, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = lstm(h[i : i + 1, :n], torch.tensor([n]))
        torch.testing.assert_close(out[i, :n], alone[0], atol=1e-6, rtol=0)
        assert not out[i, n:].any()


def _lstm_mean(T: int, bi: float, bf: float, bg: float, bo: float) -> float:
    """Mean over T steps of h_t of a zero-weight LSTM (gates from biases only)."""
    i, f, g, o = sigmoid(bi), sigmoid(bf), math.tanh(bg), sigmoid(bo)
    c, hs = 0.0, []
    for _ in range(T):
        c = f * c + i * g
        hs.append(o * math.tanh(c))
    return sum(hs) / T


@pytest.mark.parametrize("length", [30, 45, 100, 301])
def test_toy_rnatracker_with_hand_set_weights(length):
    """All weights zero, biases set: each stage is a known scalar recursion over T steps."""
    config = default_config("rnatracker", 2, filters=2, lstm_units=2, dropout=0.0, length_feature=True)
    model = build_model(config).eval()
    bi, bf, bg, bo = 0.3, 0.8, -0.5, 0.2
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for lstm in (model.lstm.forward_lstm, model.lstm.backward_lstm):
            lstm.bias_ih_l0.copy_(torch.tensor([bi, bi, bf, bf, bg, bg, bo, bo]))
        model.attention.score.bias.fill_(0.7)  # w = 0: uniform attention over valid steps
        model.dense.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.5], [0.0, 0.0, -2.0, 0.0, 0.0]]))
        model.dense.bias.copy_(torch.tensor([0.1, -0.1]))
        model.length.mean.fill_(7.0)
        model.length.std.fill_(2.0)
    rng = np.random.default_rng(length)
    seq = rng.integers(0, 5, size=length).astype(np.uint8)
    b = make_batch([seq], "full", None, model.min_length)
    steps = (((max(length, 45) - 9) // 3) - 9) // 3
    mean_h = _lstm_mean(steps, bi, bf, bg, bo)  # same for both directions
    z = (math.log(length) - 7.0) / 2.0
    logits = np.array([mean_h + 0.5 * z + 0.1, -2.0 * mean_h - 0.1])
    expected = np.exp(logits) / np.exp(logits).sum()
    with torch.no_grad():
        log_q = model(get_encoding("seq").tensors(b, "cpu"), torch.from_numpy(b.lengths), torch.from_numpy(b.nt_lengths))
    np.testing.assert_allclose(torch.exp(log_q)[0].numpy(), expected, rtol=1e-5)


def test_registry_builds_every_architecture_and_rejects_unknown_ones():
    for arch in ARCHITECTURES:
        model = build_model(default_config(arch, 3))
        x = torch.zeros(2, 4, 60)
        x[:, 0, :] = 1
        if arch == "kmer-gbm":  # fitted by LightGBM, not by gradients: refuses before fitting
            with pytest.raises(RNATrackerError, match="not been fitted"):
                model.eval()(x, torch.tensor([60, 50]), torch.tensor([60, 50]))
            continue
        out = model.eval()(x, torch.tensor([60, 50]), torch.tensor([60, 50]))
        assert out.shape == (2, 3)
        torch.testing.assert_close(torch.exp(out).sum(1), torch.ones(2))
    with pytest.raises(RNATrackerError, match="unknown architecture"):
        default_config("transformer", 2)
    with pytest.raises(RNATrackerError, match="unknown option"):
        default_config("rnatracker", 2, heads=4)
    with pytest.raises(RNATrackerError, match="encoding seq"):
        default_config("kmer-dnn", 2, encoding="seqxstruct")
    assert default_config("rnatracker", 2, mode="fixed")["max_len"] == 4000
    assert default_config("rnatracker", 2)["max_len"] is None
    assert default_config("kmer-nn", 2)["length_feature"] is True  # log length is always a k-mer feature


def test_paper_defaults():
    c = default_config("rnatracker", 4)
    assert (c["filters"], c["kernel"], c["pool"], c["conv_layers"], c["dropout"], c["lstm_units"]) == (32, 10, 3, 2, 0.2, 32)
    assert c["mode"] == "full" and c["length_feature"] is False
    model = build_model(c)
    assert model.convs[0].body[0].weight.shape == (32, 4, 10)
    assert model.lstm.forward_lstm.hidden_size == 32 and model.dense.in_features == 64
    assert build_model(default_config("rnatracker", 4, length_feature=True)).dense.in_features == 65
    assert build_model(default_config("nolstm", 4)).dense.in_features == 32
    assert build_model(default_config("rnatracker", 4, encoding="seq+struct")).lstm.forward_lstm.input_size == 64


def _packed_reference(bilstm, h, lengths):
    """PyTorch's own bidirectional LSTM on packed sequences, with ``bilstm``'s weights."""
    ref = torch.nn.LSTM(h.shape[2], bilstm.forward_lstm.hidden_size, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(ref, name).copy_(getattr(bilstm.forward_lstm, name))
            getattr(ref, name + "_reverse").copy_(getattr(bilstm.backward_lstm, name))
    packed = torch.nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
    out, _ = ref(packed)
    return torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])[0]


def test_bilstm_equals_pytorch_packed_bidirectional_lstm():
    """Full mode (3' padding, per-row lengths): the fused-kernel BiLSTM gives what a packed
    bidirectional LSTM gives on the valid steps, and zeros past each row's length."""
    from rnatracker_cli.model.layers import MaskedBiLSTM

    torch.manual_seed(0)
    bilstm = MaskedBiLSTM(6, 5).eval()
    lengths = torch.tensor([9, 3, 7, 1, 9])
    h = torch.randn(5, 9, 6)
    h[torch.arange(9)[None, :] >= lengths[:, None]] = 7.0  # padding junk must not leak
    with torch.no_grad():
        ours = bilstm(h, lengths)
        ref = _packed_reference(bilstm, h, lengths)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-5)


def test_bilstm_on_left_padded_rows_equals_packed_lstm():
    """Fixed mode (5' zero padding that is part of the input, every row full width): the
    plain-flip path equals a packed bidirectional LSTM over full-length rows, and each row's
    output does not depend on its batch neighbours."""
    from rnatracker_cli.model.layers import MaskedBiLSTM

    torch.manual_seed(1)
    bilstm = MaskedBiLSTM(4, 3).eval()
    true_lengths = [8, 2, 5]
    width = 8
    h = torch.zeros(3, width, 4)
    for row, n in enumerate(true_lengths):
        h[row, width - n :] = torch.randn(n, 4)  # left (5') padding with zeros
    full = torch.full((3,), width)
    with torch.no_grad():
        ours = bilstm(h, full)
        ref = _packed_reference(bilstm, h, full)
        alone = torch.cat([bilstm(h[i : i + 1], full[:1]) for i in range(3)])
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ours, alone, atol=1e-6, rtol=1e-5)


def test_masked_batch_norm_takes_training_statistics_from_valid_steps_only():
    from rnatracker_cli.model.layers import MaskedBatchNorm1d

    torch.manual_seed(0)
    bn = MaskedBatchNorm1d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 0.3]))
    x = torch.randn(3, 3, 8) * 2 + 1
    lengths = torch.tensor([8, 5, 2])
    bn.train()
    out = bn(x, lengths)
    valid = torch.cat([x[i, :, : int(n)] for i, n in enumerate(lengths)], dim=1)  # (3 channels, 15 steps)
    mean, var = valid.mean(1), valid.var(1, unbiased=False)
    for i, n in enumerate(lengths.tolist()):
        expected = (x[i, :, :n] - mean[:, None]) / torch.sqrt(var[:, None] + bn.eps) * bn.weight[:, None] + bn.bias[:, None]
        torch.testing.assert_close(out[i, :, :n], expected, rtol=1e-5, atol=1e-5)
    # running statistics: one momentum step from (0, 1) towards the valid steps' mean and unbiased variance
    torch.testing.assert_close(bn.running_mean, 0.1 * mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * valid.var(1, unbiased=True), rtol=1e-5, atol=1e-6)
    # what sits in the padding changes nothing on valid steps
    padded = x.clone()
    padded[1, :, 5:] = 1e4
    padded[2, :, 2:] = -7.0
    again = MaskedBatchNorm1d(3)
    again.load_state_dict({**bn.state_dict(), "running_mean": torch.zeros(3), "running_var": torch.ones(3)})
    out2 = again(padded, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out2[i, :, :n], out[i, :, :n])


def test_masked_batch_norm_in_eval_mode_does_not_depend_on_the_batch():
    from rnatracker_cli.model.layers import MaskedBatchNorm1d

    torch.manual_seed(1)
    bn = MaskedBatchNorm1d(4).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(4))
        bn.running_var.copy_(torch.rand(4) + 0.5)
        bn.weight.copy_(torch.randn(4))
        bn.bias.copy_(torch.randn(4))
    x = torch.randn(5, 4, 37)
    together = bn(x, torch.full((5,), 37))
    expected = (x - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps) * \
        bn.weight[None, :, None] + bn.bias[None, :, None]
    torch.testing.assert_close(together, expected, rtol=1e-5, atol=1e-5)
    for i in range(5):  # bit for bit, alone or batched, whatever the width
        assert torch.equal(bn(x[i : i + 1]), together[i : i + 1])
        assert torch.equal(bn(x[i : i + 1, :, :11]), together[i : i + 1, :, :11])


def test_batch_norm_network_predicts_each_transcript_as_if_alone():
    """A batch-normalised network in eval mode gives a transcript's prediction bit for bit
    whatever it is batched with, and configs without the key (older checkpoints) build
    without batch normalisation."""
    from rnatracker_cli.inference import Predictor
    from rnatracker_cli.model.layers import MaskedBatchNorm1d

    config = default_config("rnatracker", 3, length_prior=True, batch_norm=True)
    assert config["batch_norm"] is True
    torch.manual_seed(2)
    model = build_model(config)
    norms = [m for m in model.modules() if isinstance(m, MaskedBatchNorm1d)]
    assert len(norms) == 2  # one per conv layer
    with torch.no_grad():
        for m in norms:
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 4, int(n)).astype(np.uint8) for n in (120, 400, 95, 1000)]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    predictor = Predictor(model, config, torch.device("cpu"))
    batched = predictor.predict(seqs, None, nt_lengths=lengths)
    for i, s in enumerate(seqs):
        alone = predictor.predict([s], None, nt_lengths=lengths[i : i + 1])
        np.testing.assert_array_equal(alone[0], batched[i])
    legacy = {k: v for k, v in config.items() if k != "batch_norm"}
    assert not any(isinstance(m, MaskedBatchNorm1d) for m in build_model(legacy).modules())
    assert default_config("rnatracker", 3)["batch_norm"] is False  # the registry's defaults are the paper's


def test_sum_pooling_counts_elements_and_older_configs_build_without_it():
    """With sum pooling the dense layer also reads the sum of the sequence features per 100
    steps: the mean times steps / 100, so (unlike attention or mean pooling) it doubles when
    a transcript is repeated; configs without the key (older checkpoints) build without it."""
    from rnatracker_cli.model.layers import masked_mean
    from rnatracker_cli.model.rnatracker import SUM_POOL_STEPS

    config = default_config("noattention", 3, sum_pooling=True)
    assert config["sum_pooling"] is True and default_config("rnatracker", 3)["sum_pooling"] is False
    torch.manual_seed(0)
    model = build_model(config).eval()
    assert model.dense.in_features == 2 * 64
    h = torch.randn(2, 50, 64)
    steps = torch.tensor([50, 20])
    context, _ = model.pooled(h, steps)
    mean, _ = masked_mean(h, steps)
    torch.testing.assert_close(context[:, :64], mean)
    torch.testing.assert_close(context[:, 64:], mean * steps[:, None] / SUM_POOL_STEPS)
    torch.testing.assert_close(context[1, 64:], h[1, :20].sum(0) / SUM_POOL_STEPS)
    twice, _ = model.pooled(torch.cat([h[:1, :25], h[:1, :25]], dim=1), torch.tensor([50]))
    once, _ = model.pooled(h[:1, :25], torch.tensor([25]))
    torch.testing.assert_close(twice[0, 64:], 2 * once[0, 64:])  # a repeated element counts twice
    torch.testing.assert_close(twice[0, :64], once[0, :64])  # the mean does not see it
    legacy = {k: v for k, v in default_config("rnatracker", 3).items() if k != "sum_pooling"}
    assert build_model(legacy).dense.in_features == 64
