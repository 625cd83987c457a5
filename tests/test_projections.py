"""nn.projections: projecting the input a chunk of steps at a time changes no output or gradient."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import projections
from tinygrad_rnn.nn.utils import rnn

OUTPUTS = {"RNN": 4, "LSTM": 16, "GRU": 12}  # per row of a step at H=4: the RNN's H, the LSTM's 4H, the GRU's 3H


def leaf(array):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def run(layer, inputs, packed_lengths=None):
    """The layer's output, the input's and every parameter's gradient under a random projection loss; the output."""
    given = inputs if packed_lengths is None else rnn.pack_padded_sequence(inputs, packed_lengths, enforce_sorted=False)
    output, _ = layer(given)
    output = output if packed_lengths is None else output.data
    (output * tg.Tensor(np.random.default_rng(6).standard_normal(output.shape))).sum().backward()
    values = [output.data, inputs.grad] + [parameter.grad for parameter in layer.parameters()]
    for tensor in [inputs, *layer.parameters()]:
        tensor.grad = None
    return values, output


def input_scopes(root):
    return {node.scope for node in tg.toposort(root, all_inputs=True) if node.scope and node.scope.endswith("/input")}


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("steps_per_chunk", [1, 3])
def test_chunks_change_nothing(mode, steps_per_chunk, monkeypatch):
    layer = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64)
    inputs = leaf(np.random.default_rng(5).standard_normal((2, 7, 3)))
    whole, _ = run(layer, inputs)
    monkeypatch.setattr(projections, "PROJECTION_CHUNK_BYTES", steps_per_chunk * 2 * OUTPUTS[mode] * 8)  # batch 2
    chunked, output = run(layer, inputs)
    for got, expected in zip(chunked, whole):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    scopes, kind = input_scopes(output.sum()), mode.lower()
    assert f"{kind}.l0/t={steps_per_chunk}/input" in scopes  # made when the forward direction got there
    assert f"{kind}.l1_reverse/t={6 - steps_per_chunk}/input" in scopes  # the reverse direction runs from t=6
    assert f"{kind}.l0/t=0/input" not in scopes  # the first chunk is made in the layer's scope


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_packed_chunks_change_nothing(mode, monkeypatch):
    layer = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    inputs = leaf(np.random.default_rng(5).standard_normal((7, 3, 3)))
    whole, _ = run(layer, inputs, packed_lengths=[3, 7, 5])
    monkeypatch.setattr(projections, "PROJECTION_CHUNK_BYTES", 2 * 3 * OUTPUTS[mode] * 8)  # two steps of 3 rows
    chunked, output = run(layer, inputs, packed_lengths=[3, 7, 5])
    for got, expected in zip(chunked, whole):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    scopes, kind = input_scopes(output.sum()), mode.lower()
    assert f"{kind}.l0/t=2/input" in scopes and f"{kind}.l1_reverse/t=4/input" in scopes
