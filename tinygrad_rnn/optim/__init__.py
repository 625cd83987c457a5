"""Optimisers with PyTorch's update rules (SGD, Adam, Adagrad) and their learning-rate schedules (`lr_scheduler`).

As `torch.optim`: `tg.optim.Adam(model.parameters(), lr=1e-3)`, `tg.optim.lr_scheduler.StepLR(optimizer, 10)`.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "Optimizer", "lr_scheduler"]
