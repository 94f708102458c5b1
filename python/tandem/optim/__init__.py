"""``tandem.optim``: SGD, Adam, AdamW, RMSprop, Adagrad over tandem's fused C++ updates, and
``tandem.optim.lr_scheduler``. Parameter groups and options as in PyTorch."""
from .optimizer import Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad
from . import lr_scheduler
