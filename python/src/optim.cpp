// tandem::optim for tandem.optim: the optimizers (parameter groups as (tensors, options)) and
// the learning-rate schedulers. Steps run with the GIL released.
#include "bindings.h"

namespace tandem::py {
namespace py = pybind11;
using namespace pybind11::literals;

namespace {
using Rel = py::gil_scoped_release;
using optim::Optimizer;
using optim::LRScheduler;
using Groups = std::vector<std::pair<std::vector<Tensor>, std::map<std::string, double>>>;

std::vector<optim::ParamGroup> groups_of(const Groups& gs) {
  std::vector<optim::ParamGroup> out;
  for (auto& [ps, o] : gs) out.push_back({ps, o});
  return out;
}

py::tuple state_dict_of(const StateDict& sd) {
  return py::make_tuple(sd.tensors, sd.metadata);
}
StateDict state_dict_from(const std::map<std::string, Tensor>& t,
                          const std::map<std::string, std::string>& m) {
  return StateDict{t, m};
}
}  // namespace

void bind_optim(py::module_& m) {
  py::module_ o = m.def_submodule("_optim");
  py::class_<Optimizer, std::shared_ptr<Optimizer>>(o, "Optimizer")
      .def("step", [](Optimizer& opt) { Rel r; opt.step(); })
      .def("zero_grad", [](Optimizer& opt, bool none) { opt.zero_grad(none); }, "set_to_none"_a = true)
      .def("num_groups", [](Optimizer& opt) { return opt.param_groups().size(); })
      .def("group_params", [](Optimizer& opt, size_t i) { return opt.param_groups().at(i).params; })
      .def("group_options", [](Optimizer& opt, size_t i) { return opt.param_groups().at(i).options; })
      .def("set_group_option", [](Optimizer& opt, size_t i, const std::string& k, double v) {
        auto& g = opt.param_groups().at(i);
        TANDEM_CHECK(g.options.count(k), "{}: param_groups[{}] has no option '{}'", opt.name(), i, k);
        g.options[k] = v;
      })
      .def("add_param_group", [](Optimizer& opt, const std::vector<Tensor>& ps,
                                 const std::map<std::string, double>& options) {
        opt.add_param_group({ps, options});
      })
      .def("defaults", &Optimizer::defaults)
      .def("name", &Optimizer::name)
      .def("state_dict", [](const Optimizer& opt) { return state_dict_of(opt.state_dict()); })
      .def("load_state_dict", [](Optimizer& opt, const std::map<std::string, Tensor>& t,
                                 const std::map<std::string, std::string>& md) {
        opt.load_state_dict(state_dict_from(t, md));
      })
      .def("state_of", [](const Optimizer& opt, const Tensor& p) -> py::object {
        const auto* s = opt.state(p);
        if (!s) return py::none();
        py::dict d;
        for (auto& [k, v] : s->tensors) d[py::str(k)] = v;
        d["step"] = s->step;
        return d;
      });

  o.def("SGD", [](const Groups& g, double lr, double momentum, double dampening, double wd,
                  bool nesterov) -> std::shared_ptr<Optimizer> {
    return std::make_shared<optim::SGD>(groups_of(g), optim::SGDOptions{lr, momentum, dampening, wd, nesterov});
  });
  o.def("Adam", [](const Groups& g, double lr, double b1, double b2, double eps, double wd,
                   bool amsgrad) -> std::shared_ptr<Optimizer> {
    return std::make_shared<optim::Adam>(groups_of(g), optim::AdamOptions{lr, b1, b2, eps, wd, amsgrad});
  });
  o.def("AdamW", [](const Groups& g, double lr, double b1, double b2, double eps, double wd,
                    bool amsgrad) -> std::shared_ptr<Optimizer> {
    return std::make_shared<optim::AdamW>(groups_of(g), optim::AdamWOptions{lr, b1, b2, eps, wd, amsgrad});
  });
  o.def("RMSprop", [](const Groups& g, double lr, double alpha, double eps, double wd,
                      double momentum, bool centered) -> std::shared_ptr<Optimizer> {
    return std::make_shared<optim::RMSprop>(groups_of(g),
                                            optim::RMSpropOptions{lr, alpha, eps, wd, momentum, centered});
  });
  o.def("Adagrad", [](const Groups& g, double lr, double lr_decay, double wd, double init,
                      double eps) -> std::shared_ptr<Optimizer> {
    return std::make_shared<optim::Adagrad>(groups_of(g),
                                            optim::AdagradOptions{lr, lr_decay, wd, init, eps});
  });

  // ---- schedulers: the optimizer must outlive them (keep_alive in the Python wrapper).
  py::class_<LRScheduler, std::shared_ptr<LRScheduler>>(o, "LRScheduler")
      .def("step", [](LRScheduler& s) { s.step(); })
      .def("get_last_lr", &LRScheduler::get_last_lr)
      .def("last_epoch", &LRScheduler::last_epoch)
      .def("state_dict", [](const LRScheduler& s) { return state_dict_of(s.state_dict()); })
      .def("load_state_dict", [](LRScheduler& s, const std::map<std::string, Tensor>& t,
                                 const std::map<std::string, std::string>& md) {
        s.load_state_dict(state_dict_from(t, md));
      });
  py::class_<optim::ReduceLROnPlateau, LRScheduler, std::shared_ptr<optim::ReduceLROnPlateau>>(
      o, "ReduceLROnPlateauScheduler")
      .def("step_metric", [](optim::ReduceLROnPlateau& s, double v) { s.step(v); });
  using SP = std::shared_ptr<LRScheduler>;
  o.def("StepLR", [](Optimizer& opt, int64_t step, double gamma) -> SP {
    return std::make_shared<optim::StepLR>(opt, step, gamma);
  });
  o.def("MultiStepLR", [](Optimizer& opt, std::vector<int64_t> ms, double gamma) -> SP {
    return std::make_shared<optim::MultiStepLR>(opt, ms, gamma);
  });
  o.def("ExponentialLR", [](Optimizer& opt, double gamma) -> SP {
    return std::make_shared<optim::ExponentialLR>(opt, gamma);
  });
  o.def("CosineAnnealingLR", [](Optimizer& opt, int64_t t_max, double eta_min) -> SP {
    return std::make_shared<optim::CosineAnnealingLR>(opt, t_max, eta_min);
  });
  o.def("LinearLR", [](Optimizer& opt, double start, double end, int64_t total) -> SP {
    return std::make_shared<optim::LinearLR>(opt, start, end, total);
  });
  o.def("OneCycleLR", [](Optimizer& opt, std::vector<double> max_lrs, int64_t total,
                         double pct_start, const std::string& anneal, bool cycle_momentum,
                         double base_m, double max_m, double div, double final_div,
                         bool three_phase) -> SP {
    optim::OneCycleLROptions oo{pct_start, anneal, cycle_momentum, base_m, max_m, div, final_div,
                                three_phase};
    return std::make_shared<optim::OneCycleLR>(opt, max_lrs, total, oo);
  });
  o.def("SequentialLR", [](Optimizer& opt, std::vector<SP> scheds, std::vector<int64_t> ms) -> SP {
    return std::make_shared<optim::SequentialLR>(opt, scheds, ms);
  });
  o.def("ReduceLROnPlateau", [](Optimizer& opt, const std::string& mode, double factor,
                                int64_t patience, double threshold, const std::string& tmode,
                                int64_t cooldown, std::vector<double> min_lrs, double eps) {
    optim::ReduceLROnPlateauOptions oo;
    oo.mode = mode;
    oo.factor = factor;
    oo.patience = patience;
    oo.threshold = threshold;
    oo.threshold_mode = tmode;
    oo.cooldown = cooldown;
    if (min_lrs.size() == 1) oo.min_lr = min_lrs[0];
    else oo.min_lrs = min_lrs;
    oo.eps = eps;
    return std::make_shared<optim::ReduceLROnPlateau>(opt, oo);
  });
}

}  // namespace tandem::py
