"""Every layer type against PyTorch (float64), when torch is installed; skipped otherwise.

Run it with a separate environment that has torch, as .ci/run does:
    python3 -m venv .ci-torch && .ci-torch/bin/pip install torch==2.13.0 numpy pyyaml pytest hypothesis
    PYTHONPATH=. .ci-torch/bin/python -m pytest tests/engine/test_torch_oracle.py
Tolerances: rtol=1e-12, atol=1e-12 (float64 on both sides; only summation order differs).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import GRU, LSTM, RNN, BatchNorm, Conv1d, Conv2d, Dropout, LayerNorm, Pool2d

from tests.engine.oracle import F, close, t, torch  # the file is skipped without torch

FAST = settings(max_examples=50, deadline=None)




# --- convolution --------------------------------------------------------------------------------


@st.composite
def conv2d_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 9))
    W = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 9))
    C, O = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (rng.normal(size=(C, H, W)), rng.normal(size=(O, C, kh, kw)), rng.normal(size=O),
            stride, padding, dilation)


@FAST
@given(conv2d_cases())
def test_torch_conv2d_matches(case):
    x, K, bias, stride, padding, dilation = case
    ours = Conv2d(kernel=K, bias=bias, stride=stride, padding=padding, dilation=dilation)
    theirs = F.conv2d(t(x)[None], t(K), t(bias), stride=stride, padding=padding, dilation=dilation)[0]
    close(ours.forward(x), theirs)
    close(ours.trace(x).output, theirs)


def test_torch_conv2d_flat_kernel_on_2d_input_matches():
    rng = np.random.default_rng(1)
    x, k = rng.normal(size=(7, 6)), rng.normal(size=(3, 3))
    ours = Conv2d(kernel=k[None, None], bias=np.array([0.3]), stride=(2, 1), padding=(1, 1), dilation=(1, 2),
                  flat=True)
    theirs = F.conv2d(t(x)[None, None], t(k)[None, None], t([0.3]), stride=(2, 1), padding=(1, 1),
                      dilation=(1, 2))[0, 0]
    close(ours.forward(x), theirs)


@st.composite
def conv1d_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k, s, p, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    T, E, O = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 9)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return rng.normal(size=(T, E)), rng.normal(size=(O, k, E)), rng.normal(size=O), s, p, d


@FAST
@given(conv1d_cases())
def test_torch_conv1d_matches(case):
    x, K, bias, s, p, d = case
    ours = Conv1d(kernel=K[:, None], bias=bias, stride=(s, 1), padding=(p, 0), dilation=(d, 1))
    # torch: input (N, E, T), weight (O, E, k), output (N, O, T')
    theirs = F.conv1d(t(x.T)[None], t(K.transpose(0, 2, 1)), t(bias), stride=s, padding=p, dilation=d)[0].T
    close(ours.forward(x), theirs)
    flat = Conv1d(kernel=K[:1, None], bias=bias[:1], stride=(s, 1), padding=(p, 0), dilation=(d, 1), flat=True)
    close(flat.forward(x), theirs[:, 0])


# --- pooling ------------------------------------------------------------------------------------


@st.composite
def pool_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, size[0] // 2)), draw(st.integers(0, size[1] // 2)))
    H = draw(st.integers(max(1, size[0] - 2 * padding[0]), 9))
    W = draw(st.integers(max(1, size[1] - 2 * padding[1]), 9))
    x = rng.normal(size=(draw(st.integers(1, 3)), H, W))
    if draw(st.booleans()):
        x = -np.abs(x) - 1.0
    return x, size, stride, padding


@FAST
@given(pool_cases())
def test_torch_max_pool2d_matches(case):
    x, size, stride, padding = case
    ours = Pool2d(size=size, stride=stride, padding=padding, kind="max")
    close(ours.forward(x), F.max_pool2d(t(x)[None], size, stride, padding)[0])
    close(ours.forward(x[0]), F.max_pool2d(t(x[0])[None], size, stride, padding)[0])


@FAST
@given(pool_cases())
def test_torch_avg_pool2d_matches(case):
    x, size, stride, padding = case
    ours = Pool2d(size=size, stride=stride, padding=padding, kind="avg")
    close(ours.forward(x), F.avg_pool2d(t(x)[None], size, stride, padding, count_include_pad=True)[0])


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3), (8, 5), (3, 2, 4, 5), (2, 1, 1, 3)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_torch_batch_norm_training_matches(shape, eps):
    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    x = rng.normal(1.0, 2.0, size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    ours = BatchNorm(gamma=gamma, beta=beta, eps=eps)
    theirs = F.batch_norm(t(x), None, None, weight=t(gamma), bias=t(beta), training=True, eps=eps)
    close(ours.forward(x), theirs)
    trace = ours.trace(x)
    axes = tuple(i for i in range(len(shape)) if i != 1)
    close(trace.mean, t(x).mean(dim=axes))
    close(trace.var, t(x).var(dim=axes, unbiased=False))


@pytest.mark.parametrize("shape", [(3,), (4, 6), (2, 3, 5)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_torch_layer_norm_matches(shape, eps):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(-1.0, 3.0, size=shape)
    gamma, beta = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    ours = LayerNorm(gamma=gamma, beta=beta, eps=eps)
    close(ours.forward(x), F.layer_norm(t(x), (shape[-1],), t(gamma), t(beta), eps))


# --- RNN, LSTM, GRU -----------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_rnn_matches_nn_rnn_with_transposed_weights(nonlinearity, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    T, I, H = 5, 4, 3
    rnn = torch.nn.RNN(I, H, nonlinearity=nonlinearity, batch_first=True, dtype=torch.float64)
    x, h0 = rng.normal(size=(T, I)), rng.normal(size=H)
    theirs, _ = rnn(t(x)[None], t(h0)[None, None])
    # torch: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    U = rnn.weight_ih_l0.detach().numpy().T
    W = rnn.weight_hh_l0.detach().numpy().T
    b = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy()
    ours = RNN(U, W, b, h0, nonlinearity)
    close(ours.forward(x), theirs[0])
    close(ours.trace(x).output, theirs[0])


def test_torch_rnn_parameter_count_differs_only_by_the_second_bias():
    rnn = torch.nn.RNN(256, 128)
    torch_count = sum(p.numel() for p in rnn.parameters())
    assert torch_count == 49_280 + 128  # torch keeps b_ih and b_hh; the lecture's formula has one b
    ours = RNN(np.zeros((256, 128)), np.zeros((128, 128)), np.zeros(128))
    assert ours.param_count == 49_280


def gates_of(weight, gates):
    """PyTorch's (gates*H, n) weight or (gates*H,) bias as stepper's (gates, n, H) stack of row-vector
    weights (or (gates, H) biases), in PyTorch's gate order (LSTM i, f, g, o; GRU r, z, n)."""
    w = weight.detach().numpy()
    chunks = np.split(w, gates)
    return np.stack([c.T for c in chunks]) if w.ndim == 2 else np.stack(chunks)


@st.composite
def recurrent_cases(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    return seed, draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 5))


@FAST
@given(recurrent_cases())
def test_torch_lstm_matches_nn_lstm_with_summed_biases(case):
    seed, T, I, H = case
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lstm = torch.nn.LSTM(I, H, batch_first=True, dtype=torch.float64)
    x, h0, c0 = rng.normal(size=(T, I)), rng.normal(size=H), rng.normal(size=H)
    theirs, (h_n, c_n) = lstm(t(x)[None], (t(h0)[None, None], t(c0)[None, None]))
    # torch: gates = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh, chunked i, f, g, o
    ours = LSTM(gates_of(lstm.weight_ih_l0, 4), gates_of(lstm.weight_hh_l0, 4),
                gates_of(lstm.bias_ih_l0 + lstm.bias_hh_l0, 4), h0, c0=c0)
    close(ours.forward(x), theirs[0])
    trace = ours.trace(x)
    close(trace.output, theirs[0])
    close(trace.c[-1], c_n[0, 0])


def test_torch_lstm_cell_states_match_step_by_step():
    torch.manual_seed(3)
    cell = torch.nn.LSTMCell(4, 3, dtype=torch.float64)
    x = np.random.default_rng(3).normal(size=(5, 4))
    ours = LSTM(gates_of(cell.weight_ih, 4), gates_of(cell.weight_hh, 4), gates_of(cell.bias_ih + cell.bias_hh, 4))
    trace = ours.trace(x)
    h, c = torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64)
    for k in range(5):
        h, c = cell(t(x[k])[None], (h, c))
        close(trace.c[k], c[0])
        close(trace.output[k], h[0])


@FAST
@given(recurrent_cases())
def test_torch_gru_matches_nn_gru_with_b_hn_at_zero(case):
    seed, T, I, H = case
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gru = torch.nn.GRU(I, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        gru.bias_hh_l0[2 * H:] = 0.0  # b_hn: stepper's candidate has one bias, b_n = b_in
    x, h0 = rng.normal(size=(T, I)), rng.normal(size=H)
    theirs, _ = gru(t(x)[None], t(h0)[None, None])
    # torch: r, z = σ(W_i x + b_i + W_h h + b_h), n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
    # h' = (1 - z) n + z h, chunked r, z, n
    ours = GRU(gates_of(gru.weight_ih_l0, 3), gates_of(gru.weight_hh_l0, 3),
               gates_of(gru.bias_ih_l0 + gru.bias_hh_l0, 3), h0)
    close(ours.forward(x), theirs[0])
    close(ours.trace(x).output, theirs[0])


def test_torch_gated_parameter_counts_differ_only_by_the_second_biases():
    lstm, gru = torch.nn.LSTM(256, 128), torch.nn.GRU(256, 128)
    assert sum(p.numel() for p in lstm.parameters()) == 197_120 + 4 * 128  # torch keeps b_ih and b_hh
    assert sum(p.numel() for p in gru.parameters()) == 147_840 + 3 * 128
    assert LSTM(np.zeros((4, 256, 128)), np.zeros((4, 128, 128)), np.zeros((4, 128))).param_count == 197_120
    assert GRU(np.zeros((3, 256, 128)), np.zeros((3, 128, 128)), np.zeros((3, 128))).param_count == 147_840


def test_torch_conv2d_parameter_count_matches():
    conv = torch.nn.Conv2d(3, 8, (5, 4))
    ours = Conv2d(kernel=np.zeros((8, 3, 5, 4)))
    assert ours.param_count == sum(p.numel() for p in conv.parameters())


# --- dropout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.9])
def test_torch_dropout_with_given_mask_matches(p):
    rng = np.random.default_rng(int(p * 100))
    x = rng.normal(size=(4, 5))
    mask = rng.integers(0, 2, size=(4, 5))
    theirs = t(x) * t(mask) / (1 - p)
    close(Dropout(p=p, mask=mask).forward(x), theirs)
    close(Dropout(p=p, mask=mask, mode="eval").forward(x), F.dropout(t(x), p, training=False))


def test_torch_dropout_lecture_example():
    x, mask = t([1, 2, 3, 4, 5, 6]), t([0, 1, 0, 0, 0, 1])
    theirs = x * mask / (1 - 0.5)
    close(Dropout(p=0.5, mask=mask.numpy()).forward(x.numpy()), theirs)
    assert theirs.tolist() == [0, 4, 0, 0, 0, 12]
