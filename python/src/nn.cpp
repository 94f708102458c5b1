// The C++ layers (tandem::nn) for tandem.nn: each is wrapped by a Python Module subclass
// (python/tandem/nn/modules.py) that lists the same parameter handles, so optimizers,
// state_dict and the C++ forward all see one set of tensors.
#include "bindings.h"

namespace tandem::py {
namespace py = pybind11;
using namespace pybind11::literals;

namespace {
using Rel = py::gil_scoped_release;
using nn::Module;
template <class T>
using Cls = py::class_<T, Module, std::shared_ptr<T>>;

nn::Size2 size2(py::handle h, const char* what) {
  IntArray v = int_list(h, what);
  if (v.size() == 1) return nn::Size2(v[0]);
  TANDEM_CHECK(v.size() == 2, "{}: expected an int or a pair of ints", what);
  return nn::Size2(v[0], v[1]);
}

py::tuple named(const std::vector<std::pair<std::string, Tensor>>& items) {
  py::list out;
  for (auto& [n, t] : items) out.append(py::make_tuple(n, tensor_or_none(t)));
  return py::tuple(out);
}
}  // namespace

void bind_nn(py::module_& m) {
  py::module_ n = m.def_submodule("_nn");
  py::class_<Module, std::shared_ptr<Module>>(n, "Module")
      .def("forward", [](Module& mod, const Tensor& x) { Rel r; return mod.forward(x); }, "input"_a)
      .def("named_parameters", [](const Module& mod, bool recurse) {
        return named(mod.named_parameters(recurse));
      }, "recurse"_a = true)
      .def("named_buffers", [](const Module& mod, bool recurse) {
        return named(mod.named_buffers(recurse));
      }, "recurse"_a = true)
      .def("named_children", &Module::named_children)
      .def("train", [](Module& mod, bool on) { mod.train(on); }, "mode"_a = true)
      .def_property_readonly("training", &Module::is_training)
      .def("to_dtype", [](Module& mod, DType d) { mod.to(d); })
      .def("extra_repr", &Module::extra_repr)
      .def("type_name", &Module::name);

  Cls<nn::Linear>(n, "Linear")
      .def(py::init([](int64_t in, int64_t out, bool bias) {
             return std::make_shared<nn::Linear>(in, out, bias);
           }), "in_features"_a, "out_features"_a, "bias"_a = true);
  Cls<nn::Conv1d>(n, "Conv1d")
      .def(py::init([](int64_t in, int64_t out, int64_t k, int64_t stride, py::handle padding,
                       int64_t dilation, int64_t groups, bool bias, const std::string& mode) {
             nn::Conv1dOptions o;
             o.stride = stride;
             o.dilation = dilation;
             o.groups = groups;
             o.bias = bias;
             o.padding_mode = mode;
             if (py::isinstance<py::str>(padding)) o.padding = padding.cast<std::string>().c_str();
             else o.padding = to_int(padding);
             return std::make_shared<nn::Conv1d>(in, out, k, o);
           }), "in_channels"_a, "out_channels"_a, "kernel_size"_a, "stride"_a = 1, "padding"_a = 0,
           "dilation"_a = 1, "groups"_a = 1, "bias"_a = true, "padding_mode"_a = "zeros");
  Cls<nn::Conv2d>(n, "Conv2d")
      .def(py::init([](int64_t in, int64_t out, py::handle k, py::handle stride, py::handle padding,
                       py::handle dilation, int64_t groups, bool bias, const std::string& mode) {
             nn::Conv2dOptions o;
             o.stride = size2(stride, "Conv2d(stride)");
             o.dilation = size2(dilation, "Conv2d(dilation)");
             o.groups = groups;
             o.bias = bias;
             o.padding_mode = mode;
             if (py::isinstance<py::str>(padding)) {
               o.padding = padding.cast<std::string>().c_str();
             } else {
               nn::Size2 p = size2(padding, "Conv2d(padding)");
               o.padding = nn::Conv2dPadding(p.h, p.w);
             }
             return std::make_shared<nn::Conv2d>(in, out, size2(k, "Conv2d(kernel_size)"), o);
           }), "in_channels"_a, "out_channels"_a, "kernel_size"_a, "stride"_a = 1, "padding"_a = 0,
           "dilation"_a = 1, "groups"_a = 1, "bias"_a = true, "padding_mode"_a = "zeros");
  Cls<nn::ConvTranspose2d>(n, "ConvTranspose2d")
      .def(py::init([](int64_t in, int64_t out, py::handle k, py::handle stride, py::handle padding,
                       py::handle out_pad, int64_t groups, bool bias, py::handle dilation) {
             nn::ConvTranspose2dOptions o;
             o.stride = size2(stride, "stride");
             o.padding = size2(padding, "padding");
             o.output_padding = size2(out_pad, "output_padding");
             o.groups = groups;
             o.bias = bias;
             o.dilation = size2(dilation, "dilation");
             return std::make_shared<nn::ConvTranspose2d>(in, out, size2(k, "kernel_size"), o);
           }), "in_channels"_a, "out_channels"_a, "kernel_size"_a, "stride"_a = 1, "padding"_a = 0,
           "output_padding"_a = 0, "groups"_a = 1, "bias"_a = true, "dilation"_a = 1);
  auto bn_opts = [](double eps, std::optional<double> momentum, bool affine, bool track) {
    nn::BatchNormOptions o;
    o.eps = eps;
    o.momentum = momentum;
    o.affine = affine;
    o.track_running_stats = track;
    return o;
  };
  Cls<nn::BatchNorm1d>(n, "BatchNorm1d")
      .def(py::init([bn_opts](int64_t f, double eps, std::optional<double> mom, bool affine, bool track) {
             return std::make_shared<nn::BatchNorm1d>(f, bn_opts(eps, mom, affine, track));
           }), "num_features"_a, "eps"_a = 1e-5, "momentum"_a = 0.1, "affine"_a = true,
           "track_running_stats"_a = true);
  Cls<nn::BatchNorm2d>(n, "BatchNorm2d")
      .def(py::init([bn_opts](int64_t f, double eps, std::optional<double> mom, bool affine, bool track) {
             return std::make_shared<nn::BatchNorm2d>(f, bn_opts(eps, mom, affine, track));
           }), "num_features"_a, "eps"_a = 1e-5, "momentum"_a = 0.1, "affine"_a = true,
           "track_running_stats"_a = true);
  Cls<nn::LayerNorm>(n, "LayerNorm")
      .def(py::init([](py::handle shape, double eps, bool affine) {
             return std::make_shared<nn::LayerNorm>(int_list(shape, "LayerNorm(normalized_shape)"),
                                                    eps, affine);
           }), "normalized_shape"_a, "eps"_a = 1e-5, "elementwise_affine"_a = true);
  Cls<nn::GroupNorm>(n, "GroupNorm")
      .def(py::init<int64_t, int64_t, double, bool>(), "num_groups"_a, "num_channels"_a,
           "eps"_a = 1e-5, "affine"_a = true);
  Cls<nn::Embedding>(n, "Embedding")
      .def(py::init([](int64_t num, int64_t dim, std::optional<int64_t> padding_idx) {
             return std::make_shared<nn::Embedding>(num, dim, nn::EmbeddingOptions{padding_idx});
           }), "num_embeddings"_a, "embedding_dim"_a, "padding_idx"_a = py::none());

  auto rnn_opts = [](int64_t layers, bool bias, bool batch_first, double dropout, bool bidir) {
    nn::RNNOptions o;
    o.num_layers = layers;
    o.bias = bias;
    o.batch_first = batch_first;
    o.dropout = dropout;
    o.bidirectional = bidir;
    return o;
  };
  Cls<nn::LSTM>(n, "LSTM")
      .def(py::init([rnn_opts](int64_t in, int64_t hidden, int64_t layers, bool bias, bool bf,
                               double dropout, bool bidir) {
             return std::make_shared<nn::LSTM>(in, hidden, rnn_opts(layers, bias, bf, dropout, bidir));
           }), "input_size"_a, "hidden_size"_a, "num_layers"_a = 1, "bias"_a = true,
           "batch_first"_a = false, "dropout"_a = 0.0, "bidirectional"_a = false)
      .def("forward_state", [](nn::LSTM& mod, const Tensor& x, py::handle h0, py::handle c0) {
        Tensor h = opt_tensor(h0, "LSTM(h_0)"), c = opt_tensor(c0, "LSTM(c_0)");
        nn::LSTMOutput o;
        { Rel r; o = mod.forward(x, h, c); }
        return py::make_tuple(o.output, py::make_tuple(o.h_n, o.c_n));
      });
  Cls<nn::GRU>(n, "GRU")
      .def(py::init([rnn_opts](int64_t in, int64_t hidden, int64_t layers, bool bias, bool bf,
                               double dropout, bool bidir) {
             return std::make_shared<nn::GRU>(in, hidden, rnn_opts(layers, bias, bf, dropout, bidir));
           }), "input_size"_a, "hidden_size"_a, "num_layers"_a = 1, "bias"_a = true,
           "batch_first"_a = false, "dropout"_a = 0.0, "bidirectional"_a = false)
      .def("forward_state", [](nn::GRU& mod, const Tensor& x, py::handle h0) {
        Tensor h = opt_tensor(h0, "GRU(h_0)");
        nn::RNNOutput o;
        { Rel r; o = mod.forward(x, h); }
        return py::make_tuple(o.output, o.h_n);
      });
  Cls<nn::RNN>(n, "RNN")
      .def(py::init([rnn_opts](int64_t in, int64_t hidden, int64_t layers, const std::string& nl,
                               bool bias, bool bf, double dropout, bool bidir) {
             return std::make_shared<nn::RNN>(in, hidden, rnn_opts(layers, bias, bf, dropout, bidir), nl);
           }), "input_size"_a, "hidden_size"_a, "num_layers"_a = 1, "nonlinearity"_a = "tanh",
           "bias"_a = true, "batch_first"_a = false, "dropout"_a = 0.0, "bidirectional"_a = false)
      .def("forward_state", [](nn::RNN& mod, const Tensor& x, py::handle h0) {
        Tensor h = opt_tensor(h0, "RNN(h_0)");
        nn::RNNOutput o;
        { Rel r; o = mod.forward(x, h); }
        return py::make_tuple(o.output, o.h_n);
      });
  Cls<nn::MultiheadAttention>(n, "MultiheadAttention")
      .def(py::init([](int64_t embed, int64_t heads, double dropout, bool bias, bool bf) {
             nn::MultiheadAttentionOptions o;
             o.dropout = dropout;
             o.bias = bias;
             o.batch_first = bf;
             return std::make_shared<nn::MultiheadAttention>(embed, heads, o);
           }), "embed_dim"_a, "num_heads"_a, "dropout"_a = 0.0, "bias"_a = true,
           "batch_first"_a = false)
      .def("forward_qkv", [](nn::MultiheadAttention& mod, const Tensor& q, const Tensor& k,
                             const Tensor& v, py::handle kpm, bool need_weights, py::handle am,
                             bool average) {
        Tensor pad = opt_tensor(kpm, "key_padding_mask"), mask = opt_tensor(am, "attn_mask");
        nn::AttentionOutput o;
        { Rel r; o = mod.forward(q, k, v, pad, need_weights, mask, average); }
        return py::make_tuple(o.output, tensor_or_none(o.weights));
      });
  Cls<nn::TransformerEncoderLayer>(n, "TransformerEncoderLayer")
      .def(py::init([](int64_t d_model, int64_t nhead, int64_t ff, double dropout,
                       const std::string& act, double eps, bool bf, bool norm_first, bool bias) {
             nn::TransformerEncoderLayerOptions o;
             o.dim_feedforward = ff;
             o.dropout = dropout;
             o.activation = act;
             o.layer_norm_eps = eps;
             o.batch_first = bf;
             o.norm_first = norm_first;
             o.bias = bias;
             return std::make_shared<nn::TransformerEncoderLayer>(d_model, nhead, o);
           }), "d_model"_a, "nhead"_a, "dim_feedforward"_a = 2048, "dropout"_a = 0.1,
           "activation"_a = "relu", "layer_norm_eps"_a = 1e-5, "batch_first"_a = false,
           "norm_first"_a = false, "bias"_a = true)
      .def("forward_mask", [](nn::TransformerEncoderLayer& mod, const Tensor& src, py::handle mask,
                              py::handle kpm) {
        Tensor mk = opt_tensor(mask, "src_mask"), pad = opt_tensor(kpm, "src_key_padding_mask");
        Rel r;
        return mod.forward(src, mk, pad);
      });
  Cls<nn::TransformerEncoder>(n, "TransformerEncoder")
      .def(py::init([](const std::shared_ptr<nn::TransformerEncoderLayer>& layer, int64_t num,
                       std::shared_ptr<nn::LayerNorm> norm) {
             return std::make_shared<nn::TransformerEncoder>(layer, num, norm);
           }), "encoder_layer"_a, "num_layers"_a, "norm"_a = nullptr)
      .def("forward_mask", [](nn::TransformerEncoder& mod, const Tensor& src, py::handle mask,
                              py::handle kpm) {
        Tensor mk = opt_tensor(mask, "mask"), pad = opt_tensor(kpm, "src_key_padding_mask");
        Rel r;
        return mod.forward(src, mk, pad);
      });

  // ---- nn.init (in place, under no_grad like PyTorch's)
  py::module_ init = m.def_submodule("_init");
  init.def("uniform_", [](const Tensor& t, double a, double b) { Rel r; return nn::init::uniform_(t, a, b); },
           "tensor"_a, "a"_a = 0.0, "b"_a = 1.0);
  init.def("normal_", [](const Tensor& t, double mean, double std) { Rel r; return nn::init::normal_(t, mean, std); },
           "tensor"_a, "mean"_a = 0.0, "std"_a = 1.0);
  init.def("constant_", [](const Tensor& t, double v) { Rel r; return nn::init::constant_(t, v); },
           "tensor"_a, "val"_a);
  init.def("zeros_", [](const Tensor& t) { Rel r; return nn::init::zeros_(t); }, "tensor"_a);
  init.def("ones_", [](const Tensor& t) { Rel r; return nn::init::ones_(t); }, "tensor"_a);
  init.def("eye_", [](const Tensor& t) { Rel r; return nn::init::eye_(t); }, "tensor"_a);
  init.def("xavier_uniform_", [](const Tensor& t, double g) { Rel r; return nn::init::xavier_uniform_(t, g); },
           "tensor"_a, "gain"_a = 1.0);
  init.def("xavier_normal_", [](const Tensor& t, double g) { Rel r; return nn::init::xavier_normal_(t, g); },
           "tensor"_a, "gain"_a = 1.0);
  init.def("kaiming_uniform_", [](const Tensor& t, double a, const std::string& mode,
                                  const std::string& nl) {
    Rel r;
    return nn::init::kaiming_uniform_(t, a, mode, nl);
  }, "tensor"_a, "a"_a = 0.0, "mode"_a = "fan_in", "nonlinearity"_a = "leaky_relu");
  init.def("kaiming_normal_", [](const Tensor& t, double a, const std::string& mode,
                                 const std::string& nl) {
    Rel r;
    return nn::init::kaiming_normal_(t, a, mode, nl);
  }, "tensor"_a, "a"_a = 0.0, "mode"_a = "fan_in", "nonlinearity"_a = "leaky_relu");
  init.def("orthogonal_", [](const Tensor& t, double g) { Rel r; return nn::init::orthogonal_(t, g); },
           "tensor"_a, "gain"_a = 1.0);
}

}  // namespace tandem::py
