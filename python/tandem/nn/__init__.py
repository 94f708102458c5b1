"""``tandem.nn``: Module, Parameter, the layers, losses and containers."""
from .module import Module, Parameter
from .layers import (Linear, Conv1d, Conv2d, ConvTranspose2d, BatchNorm1d, BatchNorm2d, LayerNorm,
                     GroupNorm, Embedding, LSTM, GRU, RNN, MultiheadAttention,
                     TransformerEncoderLayer, TransformerEncoder, ReLU, Sigmoid, Tanh, SiLU, GELU,
                     LeakyReLU, Softplus, ReLU6, Softmax, LogSoftmax, Dropout, Identity, Flatten,
                     MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, CrossEntropyLoss, NLLLoss, MSELoss,
                     L1Loss, SmoothL1Loss, BCEWithLogitsLoss, Sequential, ModuleList, ModuleDict)
from . import functional, init, utils
