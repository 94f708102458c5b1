"""Learning-rate schedulers (PyTorch's names and arguments) over tandem's C++ schedulers."""
from .. import _C

_copt = _C._optim


class LRScheduler:
    def __init__(self, optimizer, cpp):
        self.optimizer = optimizer  # keeps the C++ optimizer alive while this lives
        self._cpp = cpp

    def step(self):
        self._cpp.step()

    def get_last_lr(self):
        return list(self._cpp.get_last_lr())

    @property
    def last_epoch(self):
        return self._cpp.last_epoch()

    def state_dict(self):
        tensors, metadata = self._cpp.state_dict()
        return {"tensors": tensors, "metadata": metadata}

    def load_state_dict(self, state_dict):
        self._cpp.load_state_dict(state_dict["tensors"], state_dict["metadata"])


_LRScheduler = LRScheduler


class StepLR(LRScheduler):
    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, _copt.StepLR(optimizer._cpp, step_size, gamma))


class MultiStepLR(LRScheduler):
    def __init__(self, optimizer, milestones, gamma=0.1):
        super().__init__(optimizer, _copt.MultiStepLR(optimizer._cpp, list(milestones), gamma))


class ExponentialLR(LRScheduler):
    def __init__(self, optimizer, gamma):
        super().__init__(optimizer, _copt.ExponentialLR(optimizer._cpp, gamma))


class CosineAnnealingLR(LRScheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, _copt.CosineAnnealingLR(optimizer._cpp, T_max, eta_min))


class LinearLR(LRScheduler):
    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        super().__init__(optimizer, _copt.LinearLR(optimizer._cpp, start_factor, end_factor,
                                                   total_iters))


class OneCycleLR(LRScheduler):
    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise _C.Error("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        n = len(optimizer.param_groups)
        lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [float(max_lr)] * n
        super().__init__(optimizer, _copt.OneCycleLR(
            optimizer._cpp, lrs, total_steps, pct_start, anneal_strategy, cycle_momentum,
            base_momentum, max_momentum, div_factor, final_div_factor, three_phase))


class SequentialLR(LRScheduler):
    def __init__(self, optimizer, schedulers, milestones):
        self._children = list(schedulers)
        super().__init__(optimizer, _copt.SequentialLR(optimizer._cpp,
                                                       [s._cpp for s in schedulers],
                                                       list(milestones)))


class ReduceLROnPlateau(LRScheduler):
    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [float(min_lr)]
        super().__init__(optimizer, _copt.ReduceLROnPlateau(
            optimizer._cpp, mode, factor, patience, threshold, threshold_mode, cooldown, min_lrs,
            eps))

    def step(self, metrics):
        self._cpp.step_metric(float(metrics))
