"""``tandem.compile``: trace a Python function (a forward or a whole training step) into a
graph with tandem's C++ tracer, then run the optimized graph on later calls.

    model = Net()
    opt = tandem.optim.Adam(model.parameters())

    @tandem.compile(modules=[model])
    def step(x, y):
        opt.zero_grad()
        loss = tandem.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

The cache key, the re-trace reasons (``step.stats()["reasons"]``) and the errors are the C++
``tandem::compile``'s (tandem/graph/compile.h); on top of them the key holds the non-tensor
arguments and the train/eval mode of every module in ``modules``. The Python body runs only
while tracing: side effects in it (prints, Python counters) happen once per trace."""
from . import _C
from ._C import Tensor, Error


class CompiledFunction:
    def __init__(self, fn, modules=(), dynamic=False, passes=("all",), freeze=False,
                 retrace_limit=8, dump_dir="", use_plan=True):
        from .nn import Module
        self._fn = fn
        mods = list(modules)
        if isinstance(fn, Module) and fn not in mods:
            mods.append(fn)
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, Module) and owner not in mods:
            mods.append(owner)
        self._modules = mods
        named, cpp = [], []
        for root in mods:
            for name, t in list(root.named_parameters()) + list(root.named_buffers()):
                named.append((name, t))
            for m in root.modules():
                if m._cpp is not None:
                    cpp.append(m._cpp)
        self._layout = None
        self._core = _C._compile.Compiled(self._run, dynamic, retrace_limit, dump_dir,
                                          list(passes), freeze, cpp, named, use_plan)
        self._args = None

    def _run(self, tensors):
        # Tracing: rebuild the call with the traced tensors in place of the tensor arguments.
        it = iter(tensors)
        args = [next(it) if is_t else a for a, is_t in self._args]
        out = self._fn(*args)
        if isinstance(out, Tensor):
            self._layout = "tensor"
            return [out]
        if isinstance(out, (tuple, list)) and all(isinstance(o, Tensor) for o in out):
            self._layout = type(out)
            return list(out)
        raise Error("compile: the function must return a Tensor or a tuple/list of Tensors, "
                    f"got {type(out).__name__}")

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise Error("compile: keyword arguments are not supported; pass them positionally")
        self._args = [(a, isinstance(a, Tensor)) for a in args]
        tensors = [a for a in args if isinstance(a, Tensor)]
        statics = [repr(a) if not isinstance(a, Tensor) else "T" for a in args]
        modes = "".join("1" if m.training else "0" for root in self._modules for m in root.modules())
        key = "|".join(statics) + "|modes=" + modes
        try:
            outs = self._core.call(tensors, key)
        finally:
            self._args = None
        if self._layout == "tensor":
            return outs[0]
        return self._layout(outs)

    def stats(self):
        """calls, traces, cache_hits and one reason per trace."""
        return self._core.stats()

    def graph(self):
        """The last graph run or traced, as text."""
        return self._core.graph()


def compile(fn=None, *, modules=(), dynamic=False, passes=("all",), freeze=False,
            retrace_limit=8, dump_dir="", use_plan=True, **unsupported):
    """Returns a compiled version of ``fn`` (or a decorator when ``fn`` is omitted).
    ``modules``: the Modules whose parameters ``fn`` uses (names in the graph, and their
    train/eval modes in the cache key); a Module passed as ``fn`` is added automatically.
    ``dynamic``: dim 0 of the tensor arguments is a batch that may change without re-tracing.
    """
    if unsupported:
        raise Error(f"compile: unsupported options {sorted(unsupported)}")
    if passes is None:
        passes = ()
    if fn is None:
        return lambda f: CompiledFunction(f, modules, dynamic, passes, freeze, retrace_limit,
                                          dump_dir, use_plan)
    return CompiledFunction(fn, modules, dynamic, passes, freeze, retrace_limit, dump_dir,
                            use_plan)
