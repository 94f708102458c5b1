"""``tandem.utils.tensorboard.SummaryWriter``: TensorBoard event files written by tandem's
C++ writer (a background thread flushes them), with torch.utils.tensorboard's methods."""
import os
import socket
import time

from .. import _C
from .._C import Tensor


def _tensor(x):
    import numpy as np
    if isinstance(x, Tensor):
        return x.detach()
    return _C.from_numpy(np.asarray(np.asarray(x), order="C"))


class SummaryWriter:
    def __init__(self, log_dir=None, comment="", flush_secs=10, filename_suffix=""):
        if log_dir is None:
            stamp = time.strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self._w = _C._summary.Writer(self.log_dir, float(flush_secs), filename_suffix)
        self._step = 0

    def get_logdir(self):
        return self.log_dir

    def _s(self, step):
        return 0 if step is None else int(step)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):
        v = scalar_value.item() if isinstance(scalar_value, Tensor) else float(scalar_value)
        self._w.add_scalar(tag, v, self._s(global_step), walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        for k, v in tag_scalar_dict.items():
            self.add_scalar(f"{main_tag}/{k}", v, global_step, walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None):
        self._w.add_histogram(tag, _tensor(values), self._s(global_step), walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        self._w.add_image(tag, _tensor(img_tensor), self._s(global_step), dataformats, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        if dataformats not in ("NCHW", "NHW"):
            raise _C.Error(f"add_images: dataformats '{dataformats}' is not supported (NCHW, NHW)")
        self._w.add_images(tag, _tensor(img_tensor), self._s(global_step), 8, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._w.add_text(tag, text_string, self._s(global_step), walltime)

    def flush(self):
        self._w.flush()

    def close(self):
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
