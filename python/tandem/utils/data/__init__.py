"""``tandem.utils.data``: Dataset, TensorDataset, DataLoader (tandem's C++ loader: seeded
shuffling, worker threads, the same batches for any worker count).

Python datasets (any object with ``__len__`` and ``__getitem__``) work in the C++ loader:
``__getitem__`` is called with the GIL held (worker threads take turns on it), batching runs
without it. Samples are ``(input, target)`` pairs or single tensors of tensors, NumPy arrays or
numbers; pass ``collate_fn`` for anything else (then batching runs in Python)."""
import math
import random

from ... import _C
from ..._C import Tensor, Error

_cd = _C._data


class Dataset:
    def __getitem__(self, index):
        raise NotImplementedError

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Rows of tensors that share dim 0; served by the C++ loader without Python calls when
    there are one or two tensors."""

    def __init__(self, *tensors):
        if not tensors:
            raise Error("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0]
        for t in tensors:
            if t.shape[0] != n:
                raise Error(f"TensorDataset: size mismatch between tensors ({n} vs {t.shape[0]} "
                            "rows)")
        self.tensors = tensors
        self._cpp = _cd.TensorDataset(tensors[0], tensors[1] if len(tensors) > 1 else None) \
            if len(tensors) <= 2 else None

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, idx):
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.cumulative = []
        n = 0
        for d in self.datasets:
            n += len(d)
            self.cumulative.append(n)

    def __len__(self):
        return self.cumulative[-1] if self.cumulative else 0

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        for i, c in enumerate(self.cumulative):
            if idx < c:
                prev = self.cumulative[i - 1] if i else 0
                return self.datasets[i][idx - prev]
        raise IndexError("index out of range")


def random_split(dataset, lengths, generator=None, seed=0):
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise Error(f"random_split: the lengths sum to {sum(lengths)}, the dataset has {n}")
    perm = list(range(n))
    random.Random(seed).shuffle(perm)
    out, off = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[off:off + length]))
        off += length
    return out


class FashionMNIST(Dataset):
    """Fashion-MNIST from Debian's dataset-fashion-mnist (or an IDX directory ``root``),
    normalized as tandem's C++ loader does; served without Python calls."""

    def __init__(self, root="fashion-mnist", train=True, limit=0):
        self._cpp = _cd.load_dataset(root, train, limit)

    def __len__(self):
        return len(self._cpp)

    def __getitem__(self, index):
        return self._cpp[index]


def default_collate(batch):
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _C.stack(batch)
    if isinstance(elem, (int, float, bool)):
        import tandem
        return tandem.tensor(batch)
    if isinstance(elem, dict):
        return {k: default_collate([b[k] for b in batch]) for k in elem}
    if isinstance(elem, (tuple, list)):
        return [default_collate(list(s)) for s in zip(*batch)]
    import numpy as np
    if isinstance(elem, np.ndarray):
        return _C.stack([_C.from_numpy(np.asarray(b, order="C")).clone() for b in batch])
    raise Error(f"default_collate: can't batch elements of type {type(elem).__name__}")


class DataLoader:
    """Batches of a dataset. ``shuffle`` is seeded (``seed``, and ``set_epoch`` per epoch,
    or a new epoch on each iteration): the same batches for any ``num_workers``."""

    def __init__(self, dataset, batch_size=1, shuffle=False, num_workers=0, collate_fn=None,
                 drop_last=False, seed=0, prefetch_factor=2, pin_memory=False, sampler=None,
                 generator=None, persistent_workers=False, worker_init_fn=None):
        if sampler is not None:
            raise Error("DataLoader(sampler=...) is not supported; use shuffle and seed")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.seed = seed
        self._epoch = None
        self._next_epoch = 0
        if collate_fn is None:
            cpp_ds = getattr(dataset, "_cpp", None)
            if cpp_ds is None:
                cpp_ds = _cd.python_dataset(dataset)
            self._loader = _cd.DataLoader(cpp_ds, batch_size, shuffle, seed, drop_last,
                                          num_workers, prefetch_factor)
        else:
            self._loader = None

    def set_epoch(self, epoch):
        self._epoch = epoch

    def __len__(self):
        if self._loader is not None:
            return len(self._loader)
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        epoch = self._epoch if self._epoch is not None else self._next_epoch
        self._next_epoch = epoch + 1
        self._epoch = None
        if self._loader is not None:
            self._loader.set_epoch(epoch)
            for b in self._loader:
                yield b[0] if len(b) == 1 else list(b)
            return
        n = len(self.dataset)
        order = list(range(n))
        if self.shuffle:
            random.Random(self.seed * 1000003 + epoch).shuffle(order)
        for i in range(0, n, self.batch_size):
            idx = order[i:i + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            yield self.collate_fn([self.dataset[j] for j in idx])
