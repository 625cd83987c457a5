"""Neural-network layers built from registry ops: Module, Parameter, layers, recurrent layers, losses, init."""

from . import functional, init, utils
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear, ReLU, Sequential, Sigmoid, Tanh
from .module import IncompatibleKeys, Module, Parameter
from .random import manual_seed
from .rnn import GRU, LSTM, RNN, RNNBase

__all__ = [
    "GRU", "LSTM", "RNN", "Dropout", "Embedding", "GRUCell", "IncompatibleKeys", "LSTMCell", "Linear", "Module",
    "Parameter", "RNNBase", "RNNCell", "ReLU", "Sequential", "Sigmoid", "Tanh", "functional", "init", "manual_seed",
    "utils",
]
