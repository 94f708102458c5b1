// tandem::data, io, onnx and summary for tandem.utils.data, tandem.save/load, tandem.onnx and
// tandem.utils.tensorboard.
//
// Python datasets in the C++ DataLoader: PyDataset::get takes the GIL to call __getitem__
// (worker threads take turns on it), while batching (collate) and everything after runs
// without it. Iteration releases the GIL while waiting for the next batch.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>

#include <tandem/data.h>
#include <tandem/io.h>
#include <tandem/onnx.h>
#include <tandem/summary.h>
#include <tandem/train.h>

#include "bindings.h"

namespace tandem::py {
namespace py = pybind11;
using namespace pybind11::literals;

namespace {
using Rel = py::gil_scoped_release;

// A sample element as a tensor: Tensor as is, NumPy arrays copied (the dataset may reuse
// them), Python ints as int64 and floats as float32 scalars, as PyTorch's default_collate.
Tensor sample_tensor(py::handle h, int64_t index) {
  if (py::isinstance<Tensor>(h)) return h.cast<Tensor>();
  if (py::isinstance<py::array>(h)) {
    py::object t = py::module_::import("tandem").attr("from_numpy")(py::array::ensure(h));
    return t.cast<Tensor>().clone();
  }
  if (PyBool_Check(h.ptr())) return scalar_tensor(h.ptr() == Py_True ? 1.0 : 0.0, {.dtype = DType::Bool});
  if (PyLong_Check(h.ptr())) return scalar_tensor(static_cast<double>(to_int(h)), {.dtype = DType::Int64});
  if (PyFloat_Check(h.ptr())) return scalar_tensor(to_float(h), {.dtype = DType::Float32});
  throw Error(fmt::format("DataLoader: sample {} holds a {}; expected tensors, NumPy arrays or "
                          "numbers (pass collate_fn for other samples)", index,
                          std::string(py::str(py::type::of(h).attr("__name__")))));
}

data::Example to_example(py::handle item, int64_t index) {
  if (py::isinstance<py::tuple>(item) || py::isinstance<py::list>(item)) {
    py::sequence s = py::reinterpret_borrow<py::sequence>(item);
    if (s.size() == 2) return {sample_tensor(s[0], index), sample_tensor(s[1], index)};
    if (s.size() == 1) return {sample_tensor(s[0], index), Tensor()};
    throw Error(fmt::format("DataLoader: sample {} is a sequence of {} elements; the built-in "
                            "batching takes (input, target) or a single tensor (pass collate_fn "
                            "for other samples)", index, s.size()));
  }
  return {sample_tensor(item, index), Tensor()};
}

// The first Python exception a Python dataset raised inside a DataLoader pass (GIL-protected).
// The C++ loader reports it as a tandem::Error; the pass re-raises the original exception, as
// PyTorch's DataLoader does, so `except ValueError` around a loop still works.
py::object& pending_dataset_error() {
  static auto* slot = new py::object();  // never destroyed: no GIL at interpreter exit
  return *slot;
}

class PyDataset : public data::Dataset {
 public:
  explicit PyDataset(py::object ds) : ds_(std::move(ds)), size_(static_cast<int64_t>(py::len(ds_))) {}
  ~PyDataset() override {
    py::gil_scoped_acquire acquire;
    ds_ = py::object();
  }
  int64_t size() const override { return size_; }
  data::Example get(int64_t index) const override {
    py::gil_scoped_acquire acquire;
    try {
      return to_example(ds_[py::int_(index)], index);
    } catch (py::error_already_set& e) {
      if (!pending_dataset_error()) pending_dataset_error() = e.value();
      throw;
    }
  }

 private:
  py::object ds_;
  int64_t size_;
};

py::object batch_to_py(const data::Batch& b) {
  if (!b.target.defined()) return py::make_tuple(b.data);
  return py::make_tuple(b.data, b.target);
}

// One pass over a DataLoader; the GIL is released while a batch is produced and while the
// pass (and its worker threads, which may wait for the GIL) shuts down.
struct LoaderIter {
  std::shared_ptr<data::DataLoader> loader;
  std::optional<data::DataLoader::Iterator> it;
  bool started = false;
  ~LoaderIter() {
    Rel r;
    it.reset();
  }
  py::object next() {
    bool done;
    try {
      Rel r;
      if (!started) {
        it.emplace(loader->begin());
        started = true;
      } else {
        ++*it;
      }
      done = (*it == loader->end());
    } catch (const std::exception& e) {
      py::object original;
      std::swap(original, pending_dataset_error());
      if (!original) throw;
      std::string where = e.what();  // "DataLoader: batch b, sample i: ...", then the traceback
      if (py::hasattr(original, "add_note")) original.attr("add_note")(where.substr(0, where.find('\n')));
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(original.ptr())), original.ptr());
      throw py::error_already_set();
    }
    if (done) {
      { Rel r; it.reset(); }
      throw py::stop_iteration();
    }
    return batch_to_py(**it);
  }
};

}  // namespace

void bind_data_io(py::module_& m) {
  py::module_ d = m.def_submodule("_data");
  py::class_<data::Dataset, std::shared_ptr<data::Dataset>>(d, "Dataset")
      .def("__len__", &data::Dataset::size)
      .def("__getitem__", [](const data::Dataset& ds, int64_t i) {
        int64_t n = ds.size();
        if (i < 0) i += n;
        if (i < 0 || i >= n) throw py::index_error(fmt::format("index {} out of range for a dataset of {}", i, n));
        data::Example e;
        { Rel r; e = ds.get(i); }
        if (!e.target.defined()) return py::make_tuple(e.data);
        return py::make_tuple(e.data, e.target);
      });
  d.def("TensorDataset", [](const Tensor& x, py::handle y) -> std::shared_ptr<data::Dataset> {
    return std::make_shared<data::TensorDataset>(x, opt_tensor(y, "TensorDataset(targets)"));
  });
  d.def("python_dataset", [](py::object ds) -> std::shared_ptr<data::Dataset> {
    return std::make_shared<PyDataset>(std::move(ds));
  });
  d.def("load_dataset", [](const std::string& name, bool train, int64_t limit) {
    Rel r;
    return train::load_dataset(name, train, limit);
  }, "name"_a, "train"_a = true, "limit"_a = 0);

  py::class_<data::DataLoader, std::shared_ptr<data::DataLoader>>(d, "DataLoader")
      .def(py::init([](std::shared_ptr<data::Dataset> ds, int64_t batch_size, bool shuffle,
                       uint64_t seed, bool drop_last, int num_workers, int prefetch) {
             data::DataLoaderOptions o;
             o.batch_size = batch_size;
             o.shuffle = shuffle;
             o.seed = seed;
             o.drop_last = drop_last;
             o.num_workers = num_workers;
             o.prefetch = prefetch;
             return std::make_shared<data::DataLoader>(std::move(ds), o);
           }), "dataset"_a, "batch_size"_a = 1, "shuffle"_a = false, "seed"_a = 0,
           "drop_last"_a = false, "num_workers"_a = 0, "prefetch"_a = 2)
      .def("set_epoch", &data::DataLoader::set_epoch)
      .def("__len__", &data::DataLoader::num_batches)
      .def("__iter__", [](std::shared_ptr<data::DataLoader> self) {
        auto it = std::make_unique<LoaderIter>();
        it->loader = std::move(self);
        return it;
      });
  py::class_<LoaderIter>(d, "_LoaderIter")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &LoaderIter::next);

  // ---- safetensors
  py::module_ io = m.def_submodule("_io");
  io.def("save_safetensors", [](const std::string& path, const std::map<std::string, Tensor>& ts,
                                const std::map<std::string, std::string>& md) {
    Rel r;
    io::save_safetensors(path, ts, md);
  }, "path"_a, "tensors"_a, "metadata"_a = std::map<std::string, std::string>{});
  io.def("load_safetensors", [](const std::string& path) {
    io::SafetensorsFile f;
    { Rel r; f = io::load_safetensors(path); }
    return py::make_tuple(f.tensors, f.metadata);
  }, "path"_a);

  // ---- ONNX
  py::module_ ox = m.def_submodule("_onnx");
  auto export_opts = [](int64_t opset, bool dynamic_batch, std::vector<std::string> in_names,
                        std::vector<std::string> out_names) {
    onnx::ExportOptions o;
    o.opset = opset;
    o.dynamic_batch = dynamic_batch;
    o.input_names = std::move(in_names);
    o.output_names = std::move(out_names);
    return o;
  };
  ox.def("export_module", [export_opts](std::shared_ptr<nn::Module> mod, const Tensor& x,
                                        const std::string& path, int64_t opset, bool dynamic,
                                        std::vector<std::string> in, std::vector<std::string> out) {
    Rel r;
    onnx::export_model(mod, x, path, export_opts(opset, dynamic, in, out));
  });
  ox.def("export_function", [export_opts](py::function fn, const std::vector<Tensor>& xs,
                                          const std::string& path, int64_t opset, bool dynamic,
                                          std::vector<std::string> in, std::vector<std::string> out,
                                          std::vector<std::shared_ptr<nn::Module>> modules) {
    auto call = [&fn](const std::vector<Tensor>& ts) {
      py::gil_scoped_acquire acquire;
      return fn(ts).cast<std::vector<Tensor>>();
    };
    Rel r;
    onnx::export_model(call, xs, path, export_opts(opset, dynamic, in, out), modules);
  });
  py::class_<onnx::Model>(ox, "Model")
      .def_static("load", [](const std::string& path) { Rel r; return onnx::Model::load(path); })
      .def("run", [](const onnx::Model& model, const std::map<std::string, Tensor>& inputs) {
        Rel r;
        return model.run(inputs);
      })
      .def("__str__", [](const onnx::Model& model) { return model.info().str(); })
      .def("plan_summary", [](const onnx::Model& model) { return model.plan_summary().str(); })
      .def("input_names", [](const onnx::Model& model) {
        std::vector<std::string> names;
        for (auto& i : model.info().inputs) names.push_back(i.name);
        return names;
      })
      .def("output_names", [](const onnx::Model& model) {
        std::vector<std::string> names;
        for (auto& o : model.info().outputs) names.push_back(o.name);
        return names;
      });

  // ---- TensorBoard
  py::module_ tb = m.def_submodule("_summary");
  py::class_<summary::Writer>(tb, "Writer")
      .def(py::init([](const std::string& logdir, double flush_secs, const std::string& suffix) {
             summary::WriterOptions o;
             o.flush_secs = flush_secs;
             o.filename_suffix = suffix;
             return std::make_unique<summary::Writer>(logdir, o);
           }), "logdir"_a, "flush_secs"_a = 10.0, "filename_suffix"_a = "")
      .def("add_scalar", [](summary::Writer& w, const std::string& tag, double v, int64_t step,
                            std::optional<double> wall) { w.add_scalar(tag, v, step, wall); })
      .def("add_histogram", [](summary::Writer& w, const std::string& tag, const Tensor& v,
                               int64_t step, std::optional<double> wall) {
        Rel r;
        w.add_histogram(tag, v, step, wall);
      })
      .def("add_image", [](summary::Writer& w, const std::string& tag, const Tensor& img,
                           int64_t step, const std::string& fmt, std::optional<double> wall) {
        Rel r;
        w.add_image(tag, img, step, fmt, wall);
      })
      .def("add_images", [](summary::Writer& w, const std::string& tag, const Tensor& imgs,
                            int64_t step, int64_t nrow, std::optional<double> wall) {
        Rel r;
        w.add_images(tag, imgs, step, nrow, wall);
      })
      .def("add_text", [](summary::Writer& w, const std::string& tag, const std::string& text,
                          int64_t step, std::optional<double> wall) { w.add_text(tag, text, step, wall); })
      .def("flush", [](summary::Writer& w) { Rel r; w.flush(); })
      .def("close", [](summary::Writer& w) { Rel r; w.close(); })
      .def_property_readonly("path", &summary::Writer::path)
      .def_property_readonly("logdir", &summary::Writer::logdir);
}

}  // namespace tandem::py
