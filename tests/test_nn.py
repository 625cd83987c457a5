"""nn: Module bookkeeping (names, state_dict, modes, dtype), Parameter, feed-forward layers, losses, init."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.functional import cross_entropy, dropout, linear, mse_loss, nll_loss


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.inner = nn.Linear(3, 2)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Block()
        self.head = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1, bias=False))
        self.not_a_parameter = tg.Tensor([1.0])

    def forward(self, x):
        return self.head(self.encoder.inner(x * self.encoder.scale))


# ---- Module and Parameter ------------------------------------------------------------------------------------

def test_parameter():
    parameter = nn.Parameter(np.zeros((2, 3), dtype=np.float64))
    assert isinstance(parameter, tg.Tensor) and parameter.requires_grad and parameter.is_leaf
    assert parameter.dtype == np.float64 and parameter.name is None
    result = parameter * 2.0
    assert type(result) is tg.Tensor and result.op == "mul"
    assert type(parameter.detach()) is tg.Tensor
    assert repr(parameter).startswith("Parameter containing:\nTensor(")
    with pytest.raises(TypeError, match=r"Parameter: expected floating-point data, got dtype int64"):
        nn.Parameter(np.arange(3))


def test_named_parameters():
    names = [name for name, _ in Model().named_parameters()]
    assert names == ["encoder.scale", "encoder.inner.weight", "encoder.inner.bias", "head.0.weight", "head.0.bias",
                     "head.2.weight"]
    assert len(list(Model().parameters())) == 6


def test_shared_parameter():
    model = Model()
    model.head[0].weight = model.encoder.scale  # any Parameter may be shared; shapes are the user's business here
    names = [name for name, _ in model.named_parameters()]
    assert names.count("encoder.scale") == 1 and "head.0.weight" not in names


def test_state_dict_tied():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    state = {name: np.full_like(array, 0.5) for name, array in model.state_dict().items()}
    model.load_state_dict(state)  # strict: every name is expected, and both fill the one shared parameter
    np.testing.assert_array_equal(shared.weight.data, 0.5)


def test_children_and_modules():
    model = Model()
    assert [name for name, _ in model.named_children()] == ["encoder", "head"]
    assert list(model.children()) == [model.encoder, model.head]
    assert [name for name, _ in model.named_modules()] == ["", "encoder", "encoder.inner", "head", "head.0",
                                                         "head.1", "head.2"]


def test_plain_attributes():
    model = Model()
    assert isinstance(model.not_a_parameter, tg.Tensor)
    assert "not_a_parameter" not in dict(model.named_parameters())
    with pytest.raises(AttributeError, match=r"'Model' object has no attribute 'missing'"):
        _ = model.missing
    with pytest.raises(TypeError, match=r"cannot assign Tensor to parameter 'weight'"):
        model.encoder.inner.weight = tg.Tensor(np.zeros((2, 3)))
    del model.encoder
    assert [name for name, _ in model.named_children()] == ["head"]


def test_missing_super_init():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Broken()


def test_call_and_train_eval():
    model = Model()
    assert model(tg.Tensor(np.ones((5, 3), dtype=np.float32))).shape == (5, 1)
    model.eval()
    assert not any(module.training for module in model.modules())
    model.train()
    assert all(module.training for module in model.modules())
    with pytest.raises(NotImplementedError, match=r"Block: forward is not defined"):
        model.encoder(tg.zeros(3))


def test_zero_grad():
    model = Model()
    model(tg.randn(4, 3, generator=0)).sum().backward()
    assert all(parameter.grad is not None for parameter in model.parameters())
    model.zero_grad()
    assert all(parameter.grad is None for parameter in model.parameters())


def test_state_dict_round_trip():
    source, target = Model(), Model()
    state = source.state_dict()
    assert list(state) == [name for name, _ in source.named_parameters()]
    state["encoder.scale"][:] = 7.0  # a copy: changing it leaves the module alone
    assert source.encoder.scale.data[0] == 1.0
    result = target.load_state_dict(source.state_dict())
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    x = tg.randn(2, 3, generator=1)
    np.testing.assert_array_equal(source(x).data, target(x).data)


def test_load_dtype():
    model = nn.Linear(2, 3, dtype=np.float32)
    state = {"weight": np.arange(6, dtype=np.float64).reshape(3, 2), "bias": tg.Tensor(np.ones(3, dtype=np.float64))}
    model.load_state_dict(state)
    assert model.weight.dtype == np.float32 and model.bias.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, np.arange(6).reshape(3, 2))
    state["weight"][0, 0] = 100.0
    assert model.weight.data[0, 0] == 0.0  # copied, not aliased


def test_load_strict():
    model = Model()
    before = model.state_dict()
    state = model.state_dict()
    del state["head.0.bias"]
    state["head.9.weight"] = np.zeros(1)
    state["encoder.inner.weight"] = np.zeros((3, 3))
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "error(s) loading state_dict into Model" in message
    assert "missing key(s): 'head.0.bias'" in message
    assert "unexpected key(s): 'head.9.weight'" in message
    assert ("size mismatch for 'encoder.inner.weight': the checkpoint has shape (3, 3), this module's parameter "
            "has shape (2, 3)") in message
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_non_strict():
    model = Model()
    state = {"encoder.scale": np.full(3, 2.0), "extra": np.zeros(2)}
    result = model.load_state_dict(state, strict=False)
    assert result.unexpected_keys == ["extra"] and "head.2.weight" in result.missing_keys
    np.testing.assert_array_equal(model.encoder.scale.data, np.full(3, 2.0))
    with pytest.raises(RuntimeError, match=r"size mismatch for 'encoder.scale'"):
        model.load_state_dict({"encoder.scale": np.zeros(4)}, strict=False)
    with pytest.raises(RuntimeError, match=r"'encoder.scale': expected numbers, got an array of dtype <U1"):
        model.load_state_dict({"encoder.scale": np.array(["a", "b", "c"])}, strict=False)


def test_dtype_conversion():
    model = Model()
    parameters = list(model.parameters())
    assert all(parameter.dtype == np.float32 for parameter in parameters)
    model(tg.randn(2, 3, generator=0)).sum().backward()
    assert model.double() is model
    assert all(parameter.dtype == np.float64 and parameter.grad.dtype == np.float64 for parameter in parameters)
    assert list(model.parameters()) == parameters  # the same Parameter objects, so optimisers keep working
    model.to(np.float32)
    assert all(parameter.dtype == np.float32 for parameter in model.parameters())
    model.float()
    with pytest.raises(TypeError, match=r"parameters must be floating point"):
        model.to(np.int32)


def test_repr():
    assert repr(Model()) == (
        "Model(\n"
        "  (encoder): Block(\n"
        "    (inner): Linear(in_features=3, out_features=2, bias=True)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "    (1): Tanh()\n"
        "    (2): Linear(in_features=4, out_features=1, bias=False)\n"
        "  )\n"
        ")")
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


# ---- layers --------------------------------------------------------------------------------------------------

def test_linear():
    layer = nn.Linear(3, 2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(layer(tg.Tensor(x)).data, x @ layer.weight.data.T + layer.bias.data)
    assert tg.gradcheck(lambda x, w, b: linear(x, w, b), [x, layer.weight.data, layer.bias.data])
    bound = 1 / np.sqrt(3)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert layer(tg.Tensor(x[0])).shape == (2,)


def test_linear_feature_error():
    with pytest.raises(ValueError, match=r"Linear: expected input of shape \(\.\.\., 3\) \(in_features=3\), "
                                         r"got shape \(4, 5\)"):
        nn.Linear(3, 2)(tg.zeros(4, 5))


def test_layer_dtype():
    for layer in (nn.Linear(2, 3, dtype=np.float64), nn.Embedding(4, 2, dtype=np.float64),
                  nn.RNNCell(2, 3, dtype=np.float64), nn.GRU(2, 3, dtype=np.float64)):
        assert all(parameter.dtype == np.float64 for parameter in layer.parameters()), layer


def test_embedding():
    embedding = nn.Embedding(5, 3, dtype=np.float64)
    indices = np.array([[0, 2], [2, 4]])
    rows = embedding(indices)
    assert rows.shape == (2, 2, 3)
    np.testing.assert_array_equal(rows.data, embedding.weight.data[indices])
    projection = np.random.default_rng(0).standard_normal((2, 2, 3))
    (rows * tg.Tensor(projection)).sum().backward()
    np.testing.assert_allclose(embedding.weight.grad[2], projection[0, 1] + projection[1, 0])
    np.testing.assert_array_equal(embedding.weight.grad[[1, 3]], 0.0)


def test_embedding_padding():
    embedding = nn.Embedding(4, 2, padding_idx=1, dtype=np.float64)
    np.testing.assert_array_equal(embedding.weight.data[1], 0.0)
    embedding.weight.data[1] = 5.0  # even if it is changed later, padding positions read as zeros
    rows = embedding(np.array([1, 0, 1]))
    np.testing.assert_array_equal(rows.data[[0, 2]], 0.0)
    rows.sum().backward()
    np.testing.assert_array_equal(embedding.weight.grad[1], 0.0)
    np.testing.assert_array_equal(embedding.weight.grad[0], 1.0)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Linear(-1, 3), r"Linear: in_features must be an integer of at least 0, got -1"),
    (lambda: nn.Embedding(0, 2), r"Embedding: num_embeddings must be a positive integer, got 0"),
    (lambda: nn.RNN(3.0, 4), r"RNN: input_size must be an integer of at least 0, got 3.0"),
    (lambda: nn.LSTMCell(3, 0), r"LSTMCell: hidden_size must be a positive integer, got 0"),
    (lambda: nn.GRU(3, 4, num_layers=0), r"GRU: num_layers must be a positive integer, got 0"),
])
def test_layer_size_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
    assert nn.RNN(np.int64(3), 4).input_size == 3  # numpy integers are sizes too


def test_embedding_errors():
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 4\) for 4 embeddings, got values "
                                         r"from 0 to 4"):
        nn.Embedding(4, 2)(np.array([0, 4]))
    with pytest.raises(TypeError, match=r"embedding: expected integer indices, got dtype float64"):
        nn.Embedding(4, 2)(np.array([0.0, 1.0]))
    with pytest.raises(IndexError, match=r"got values from -4 to 0"):  # a negative alias of the padding row
        nn.Embedding(4, 2, padding_idx=0)(np.array([-4, 0]))


def test_dropout():
    nn.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = tg.ones(200, 100)
    y = layer(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.75, rtol=1e-6)
    layer.eval()
    assert layer(x) is x
    assert np.all(dropout(x, 1.0).data == 0)
    with pytest.raises(ValueError, match=r"Dropout: probability p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


def test_dropout_grad_mask():
    nn.manual_seed(1)
    x = tg.Tensor(np.ones((10, 10)), requires_grad=True)
    y = dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # d(sum(x * mask))/dx = mask = y when x is all ones


def test_manual_seed():
    nn.manual_seed(42)
    first = nn.LSTM(3, 4).state_dict()
    nn.manual_seed(42)
    second = nn.LSTM(3, 4).state_dict()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_activations_sequential():
    x = tg.Tensor(np.array([-2.0, 0.5]))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh([-2.0, 0.5]))
    np.testing.assert_allclose(nn.ReLU()(x).data, [0.0, 0.5])
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp([2.0, -0.5])))
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    model.append(nn.Linear(3, 1))
    assert len(model) == 3 and isinstance(model[-1], nn.Linear) and len(model[:2]) == 2
    assert list(model[1:].state_dict()) == ["2.weight", "2.bias"]  # a slice keeps the names, as in PyTorch
    assert [type(layer).__name__ for layer in model] == ["Linear", "ReLU", "Linear"]
    named = nn.Sequential({"hidden": nn.Linear(2, 3), "act": nn.Tanh()})
    assert [name for name, _ in named.named_parameters()] == ["hidden.weight", "hidden.bias"]
    with pytest.raises(IndexError, match=r"Sequential: index 3 is out of range for 3 modules"):
        model[3]


# ---- losses --------------------------------------------------------------------------------------------------

def numpy_cross_entropy(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(targets)), targets]


def test_mse_loss():
    rng = np.random.default_rng(0)
    prediction, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = mse_loss(tg.Tensor(prediction), tg.Tensor(target))
    np.testing.assert_allclose(loss.item(), ((prediction - target) ** 2).mean())
    np.testing.assert_allclose(mse_loss(tg.Tensor(prediction), target, reduction="sum").item(),
                               ((prediction - target) ** 2).sum())
    assert tg.gradcheck(lambda p, t: mse_loss(p, t, reduction="none"), [prediction, target])
    with pytest.raises(ValueError, match=r"mse_loss: input and target must have the same shape, got input "
                                         r"\(4, 3\) and target \(3,\)"):
        mse_loss(tg.Tensor(prediction), target[0])
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be one of"):
        mse_loss(tg.Tensor(prediction), target, reduction="average")


def test_cross_entropy():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    expected = numpy_cross_entropy(logits, targets)
    np.testing.assert_allclose(cross_entropy(tg.Tensor(logits), targets).item(), expected.mean())
    np.testing.assert_allclose(cross_entropy(tg.Tensor(logits), targets, reduction="sum").item(), expected.sum())
    np.testing.assert_allclose(cross_entropy(tg.Tensor(logits), targets, reduction="none").data, expected)
    assert tg.gradcheck(lambda z: cross_entropy(z, targets, reduction="none"), [logits])
    assert tg.gradcheck(lambda z: cross_entropy(z, targets), [logits])


def test_cross_entropy_huge():
    logits = tg.Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]]), requires_grad=True)
    loss = cross_entropy(logits, np.array([0, 2]))
    np.testing.assert_allclose(loss.item(), np.log(2) / 2)
    loss.backward()
    assert np.all(np.isfinite(logits.grad))
    np.testing.assert_allclose(logits.grad, [[0, 0, 0], [0, 0.25, -0.25]], atol=1e-12)


def test_ignore_index():
    rng = np.random.default_rng(1)
    logits, targets = rng.standard_normal((4, 3)), np.array([2, -100, 0, -100])
    expected = numpy_cross_entropy(logits[[0, 2]], targets[[0, 2]]).mean()
    logits_tensor = tg.Tensor(logits, requires_grad=True)
    loss = cross_entropy(logits_tensor, targets)
    np.testing.assert_allclose(loss.item(), expected)
    loss.backward()
    np.testing.assert_array_equal(logits_tensor.grad[[1, 3]], 0.0)
    np.testing.assert_allclose(cross_entropy(tg.Tensor(logits), np.array([1, 5, 1, 5]), ignore_index=5).item(),
                               numpy_cross_entropy(logits[[0, 2]], np.array([1, 1])).mean())
    assert np.isnan(cross_entropy(tg.Tensor(logits), np.full(4, -100)).item())  # as PyTorch: 0 / 0


def test_cross_entropy_sequences():
    rng = np.random.default_rng(2)
    logits, targets = rng.standard_normal((2, 4, 3)), rng.integers(0, 4, (2, 3))  # (N, C, L) as PyTorch
    flat_logits = logits.transpose(0, 2, 1).reshape(-1, 4)
    expected = numpy_cross_entropy(flat_logits, targets.reshape(-1))
    np.testing.assert_allclose(cross_entropy(tg.Tensor(logits), targets).item(), expected.mean())
    assert cross_entropy(tg.Tensor(logits), targets, reduction="none").shape == (2, 3)
    assert tg.gradcheck(lambda z: cross_entropy(z, targets), [logits])
    np.testing.assert_allclose(cross_entropy(tg.Tensor(logits[0, :, 0]), np.array(targets[0, 0])).item(),
                               expected[0])


def test_nll_loss():
    log_probs = np.log(np.array([[0.2, 0.8], [0.6, 0.4]]))
    np.testing.assert_allclose(nll_loss(tg.Tensor(log_probs), np.array([1, 0])).item(),
                               -(np.log(0.8) + np.log(0.6)) / 2)


def test_loss_target_errors():
    logits = tg.zeros(3, 4)
    with pytest.raises(ValueError, match=r"nll_loss: input of shape \(3, 4\) \(classes on axis 1\) needs targets "
                                         r"of shape \(3,\), got \(4,\)"):
        cross_entropy(logits, np.zeros(4, dtype=int))
    with pytest.raises(IndexError, match=r"nll_loss: targets must be in \[0, 4\) or equal ignore_index=-100, got "
                                         r"values from 0 to 4"):
        cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(TypeError, match=r"nll_loss: expected integer class targets, got dtype float64"):
        cross_entropy(logits, np.array([0.0, 1.0, 2.0]))


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    logits, targets = rng.standard_normal((3, 5, 4)), rng.integers(0, 5, (3, 4))
    targets[0, 1] = targets[2, 3] = -100
    ours = tg.Tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    loss = cross_entropy(ours, targets)
    their_loss = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(targets))
    loss.backward()
    their_loss.backward()
    np.testing.assert_allclose(loss.item(), their_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-12)


# ---- init ----------------------------------------------------------------------------------------------------

def test_init_in_place():
    weight = nn.Parameter(np.empty((6, 4)))
    data = weight.data
    assert nn.init.orthogonal_(weight, gain=2.0, generator=np.random.default_rng(0)) is weight
    assert weight.data is data
    np.testing.assert_allclose(weight.data.T @ weight.data, 4.0 * np.eye(4), atol=1e-12)
    nn.init.xavier_uniform_(weight)
    assert np.abs(weight.data).max() <= np.sqrt(6 / 10)
    nn.init.uniform_(weight, -0.1, 0.1)
    assert np.abs(weight.data).max() <= 0.1
    nn.init.zeros_(weight)
    assert not weight.data.any()
    nn.init.constant_(weight, 3.0)
    assert np.all(weight.data == 3.0)
    square = nn.Parameter(np.empty((5, 5), dtype=np.float32))
    nn.init.orthogonal_(square)
    np.testing.assert_allclose(square.data @ square.data.T, np.eye(5), atol=1e-6)
    with pytest.raises(ValueError, match=r"orthogonal_: expected a tensor with at least 2 dimensions"):
        nn.init.orthogonal_(nn.Parameter(np.empty(3)))


def test_init_marks_modified():
    """init fills in place and says so: a graph recorded before it refuses to mix the old and new values."""
    weight = nn.Parameter(np.ones((2, 3)))
    loss = (weight * 2.0).sum()
    nn.init.uniform_(weight, generator=np.random.default_rng(0))
    with pytest.raises(tg.GraphError, match="changed in place after the op used it"):
        loss.backward()


def test_functional():
    from tinygrad_rnn.nn import functional

    data = np.random.default_rng(4).standard_normal((3, 5))
    x = tg.Tensor(data)
    np.testing.assert_allclose(functional.relu(x).data, np.maximum(data, 0))
    np.testing.assert_allclose(functional.tanh(x).data, np.tanh(data))
    np.testing.assert_allclose(functional.sigmoid(x).data, 1 / (1 + np.exp(-data)))
    expected = np.exp(data) / np.exp(data).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(functional.softmax(x, dim=0).data, expected, rtol=1e-12)
    np.testing.assert_allclose(functional.log_softmax(x, 0).data, np.log(expected), rtol=1e-12)
    with pytest.raises(TypeError, match="dim"):
        functional.softmax(x)  # PyTorch's implicit dim is deprecated: say which
    with pytest.raises(TypeError, match="log_softmax: give dim"):
        functional.log_softmax(x, None)
