"""``tandem.utils``: data loading and TensorBoard logging."""
from . import data, tensorboard
