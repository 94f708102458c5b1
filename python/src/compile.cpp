// tandem.compile: a Python function traced by the same C++ tracer and cache as
// tandem::compile (graph::detail::CompiledCore). The Python side (tandem/_compile.py) splits
// the arguments into tensors and a static key (the other arguments and the train/eval modes
// of the Python modules); the function itself runs, with the GIL, only while tracing.
#include <pybind11/functional.h>

#include "bindings.h"

namespace tandem::py {
namespace py = pybind11;
using namespace pybind11::literals;

namespace {

class PyCompiled {
 public:
  PyCompiled(py::function fn, CompileOptions opts) : fn_(std::move(fn)), core_(std::move(opts)) {}
  ~PyCompiled() {
    py::gil_scoped_acquire acquire;
    fn_ = py::function();
  }

  // fn(tensors) -> list of tensors; called only when the core traces.
  std::vector<Tensor> call(const std::vector<Tensor>& tensors, const std::string& static_key) {
    auto run = [this](const std::vector<Tensor>& ts) {
      py::gil_scoped_acquire acquire;
      return fn_(ts).cast<std::vector<Tensor>>();
    };
    py::gil_scoped_release release;
    return core_.call(tensors, static_key, run);
  }

  py::dict stats() const {
    const CompileStats& s = core_.stats();
    py::dict d;
    d["calls"] = s.calls;
    d["traces"] = s.traces;
    d["cache_hits"] = s.cache_hits;
    d["reasons"] = s.reasons;
    d["graph_breaks"] = s.graph_breaks;
    d["notes"] = s.notes;
    return d;
  }
  std::string graph_str() const { return core_.graph().str(); }

 private:
  py::function fn_;
  graph::detail::CompiledCore core_;
};

}  // namespace

void bind_compile(py::module_& m) {
  py::module_ c = m.def_submodule("_compile");
  py::class_<PyCompiled>(c, "Compiled")
      .def(py::init([](py::function fn, bool dynamic_batch, int retrace_limit,
                       const std::string& dump_dir, std::vector<std::string> passes, bool freeze,
                       std::vector<std::shared_ptr<nn::Module>> modules,
                       std::vector<std::pair<std::string, Tensor>> named, bool use_plan) {
             CompileOptions o;
             o.dynamic_batch = dynamic_batch;
             o.retrace_limit = retrace_limit;
             o.dump_dir = dump_dir;
             o.passes = std::move(passes);
             o.freeze = freeze;
             o.modules.assign(modules.begin(), modules.end());
             o.named_tensors = std::move(named);
             o.use_plan = use_plan;
             return std::make_unique<PyCompiled>(std::move(fn), std::move(o));
           }), "fn"_a, "dynamic_batch"_a, "retrace_limit"_a, "dump_dir"_a, "passes"_a, "freeze"_a,
           "modules"_a, "named_tensors"_a, "use_plan"_a)
      .def("call", &PyCompiled::call)
      .def("stats", &PyCompiled::stats)
      .def("graph", &PyCompiled::graph_str);
}

}  // namespace tandem::py
