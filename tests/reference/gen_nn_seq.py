#!/usr/bin/python3
"""PyTorch reference data for the sequence modules (tests/nn/test_rnn.cpp,
test_attention.cpp, test_transformer.cpp): LSTM, GRU, RNN, MultiheadAttention,
TransformerEncoderLayer and TransformerEncoder.

Run with Debian's python (torch 1.13 + numpy), from anywhere:

    /usr/bin/python3 tests/reference/gen_nn_seq.py

It rewrites tests/data/nn_seq/ from scratch; each case seeds torch and NumPy from a CRC of
its name, so running it again gives the same inputs and weights, and outputs and gradients
equal up to the last bits (PyTorch's CPU kernels may round differently from run to run,
~1e-15 relative; the tests compare at 1e-9).

Layout, one folder per case (tests/data/nn_seq/<case>/):
    p.<key>.npy      the module's state_dict entry <key> (float64), loaded by the C++ test
                     through load_state_dict: a wrong parameter name fails there
    g.<key>.npy      d loss / d <key>
    in.<name>.npy    forward inputs (float64; masks bool or float64)
    out.<name>.npy   forward outputs
    w.<name>.npy     fixed random weights: loss = sum_k sum(out_k * w_k)
    grad.<name>.npy  d loss / d in.<name>, for the float inputs that are differentiated
manifest.json lists every case with the constructor arguments and the forward call, one
line each; the C++ tests hold the same configurations by case name.

All modules run in float64 and in eval mode (dropout off), with grad enabled so PyTorch
takes its reference (non-fused) path. Keep tensors tiny: the folder stays under 1.5 MB.
"""
import json
import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "nn_seq")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

MANIFEST = []


def seed_of(name):
    return zlib.crc32(name.encode())


def save(folder, fname, t):
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t
    np.save(os.path.join(folder, fname + ".npy"), np.ascontiguousarray(a))


def run_case(name, make_module, make_inputs, call, config):
    """make_module() -> module; make_inputs(rng) -> dict name -> tensor (order kept);
    call(module, inputs) -> dict name -> output tensor (None entries skipped)."""
    seed = seed_of(name)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    m = make_module().double()
    m.eval()
    # Perturb every parameter so zero-initialized biases (MHA) are checked too.
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.from_numpy(rng.uniform(-0.1, 0.1, size=tuple(p.shape))))
    inputs = make_inputs(rng)
    outs = call(m, inputs)
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder)
    loss = 0
    for k, v in outs.items():
        if v is None:
            continue
        w = torch.from_numpy(rng.standard_normal(tuple(v.shape)))
        save(folder, "out." + k, v)
        save(folder, "w." + k, w)
        loss = loss + (v * w).sum()
    loss.backward()
    for k, v in m.state_dict().items():
        save(folder, "p." + k, v)
    for k, p in m.named_parameters():
        save(folder, "g." + k, p.grad if p.grad is not None else torch.zeros_like(p))
    for k, v in inputs.items():
        if v is None:
            continue
        save(folder, "in." + k, v)
        if v.requires_grad:
            save(folder, "grad." + k, v.grad)
    MANIFEST.append({"case": name, **config, "inputs": {k: list(v.shape) for k, v in inputs.items()
                                                        if v is not None}})


def randn(rng, *shape, grad=True):
    return torch.from_numpy(rng.standard_normal(shape)).requires_grad_(grad)


# ---- LSTM / GRU ---------------------------------------------------------------
# Sizes: seq 5, batch 3, input 4, hidden 6.
def rnn_cases():
    L, N, I, H = 5, 3, 4, 6
    configs = [
        # name, layers, bias, batch_first, bidirectional, with_h0, unbatched
        ("1l", 1, True, False, False, False, False),
        ("2l_bf_h0", 2, True, True, False, True, False),
        ("2l_bi_h0", 2, True, False, True, True, False),
        ("1l_nobias_bi_bf", 1, False, True, True, False, False),
        ("2l_unbatched_h0", 2, True, False, False, True, True),
    ]
    for kind in ("lstm", "gru"):
        for tag, layers, bias, bf, bi, with_h0, unbatched in configs:
            D = 2 if bi else 1
            cls = nn.LSTM if kind == "lstm" else nn.GRU

            def make_module(cls=cls, layers=layers, bias=bias, bf=bf, bi=bi):
                return cls(I, H, num_layers=layers, bias=bias, batch_first=bf, bidirectional=bi)

            def make_inputs(rng, layers=layers, bf=bf, D=D, with_h0=with_h0, unbatched=unbatched,
                            kind=kind):
                if unbatched:
                    x = randn(rng, L, I)
                else:
                    x = randn(rng, N, L, I) if bf else randn(rng, L, N, I)
                d = {"x": x}
                if with_h0:
                    hs = (D * layers, H) if unbatched else (D * layers, N, H)
                    d["h0"] = randn(rng, *hs)
                    if kind == "lstm":
                        d["c0"] = randn(rng, *hs)
                return d

            def call(m, inp, kind=kind):
                if kind == "lstm":
                    hx = (inp["h0"], inp["c0"]) if "h0" in inp else None
                    out, (h, c) = m(inp["x"], hx)
                    return {"output": out, "h_n": h, "c_n": c}
                out, h = m(inp["x"], inp.get("h0"))
                return {"output": out, "h_n": h}

            run_case(f"{kind}_{tag}", make_module, make_inputs, call,
                     {"module": kind, "input_size": I, "hidden_size": H, "num_layers": layers,
                      "bias": bias, "batch_first": bf, "bidirectional": bi})

    # Elman RNN: tanh (2 layers, bidirectional, h0) and relu (batch_first, no bias).
    for tag, nl, layers, bias, bf, bi, with_h0 in (("tanh_2l_bi_h0", "tanh", 2, True, False, True, True),
                                                   ("relu_1l_nobias_bf", "relu", 1, False, True, False, False)):
        D = 2 if bi else 1

        def make_module(nl=nl, layers=layers, bias=bias, bf=bf, bi=bi):
            return nn.RNN(I, H, num_layers=layers, nonlinearity=nl, bias=bias, batch_first=bf, bidirectional=bi)

        def make_inputs(rng, layers=layers, bf=bf, D=D, with_h0=with_h0):
            d = {"x": randn(rng, N, L, I) if bf else randn(rng, L, N, I)}
            if with_h0:
                d["h0"] = randn(rng, D * layers, N, H)
            return d

        def call(m, inp):
            out, h = m(inp["x"], inp.get("h0"))
            return {"output": out, "h_n": h}

        run_case(f"rnn_{tag}", make_module, make_inputs, call,
                 {"module": "rnn", "nonlinearity": nl, "input_size": I, "hidden_size": H, "num_layers": layers,
                  "bias": bias, "batch_first": bf, "bidirectional": bi})


# ---- MultiheadAttention --------------------------------------------------------
# embed 8, heads 2, target length 4, source length 5, batch 3.
def mha_cases():
    E, NH, L, S, N = 8, 2, 4, 5, 3

    def kpm(rng, n, s):
        m = np.zeros((n, s), dtype=bool)
        for b in range(1, n):  # pad the last b keys of sequence b, never all of them
            m[b, s - b:] = True
        return torch.from_numpy(m)

    def case(name, bias=True, batch_first=False, self_attn=False, key_padding="none",
             attn_mask="none", need_weights=True, average=True, unbatched=False):
        def make_module():
            return nn.MultiheadAttention(E, NH, bias=bias, batch_first=batch_first)

        def make_inputs(rng):
            s = L if self_attn else S

            def seq(n_len):
                if unbatched:
                    return randn(rng, n_len, E)
                return randn(rng, N, n_len, E) if batch_first else randn(rng, n_len, N, E)
            d = {"query": seq(L)}
            if not self_attn:
                d["key"] = seq(S)
                d["value"] = seq(S)
            if key_padding == "bool":
                d["key_padding_mask"] = kpm(rng, N, s)
            elif key_padding == "float":
                d["key_padding_mask"] = torch.from_numpy(rng.uniform(-2, 0, size=(N, s)))
            if attn_mask == "causal_bool":
                d["attn_mask"] = torch.triu(torch.ones(L, s, dtype=torch.bool), diagonal=1)
            elif attn_mask == "float_2d":
                d["attn_mask"] = torch.from_numpy(rng.uniform(-1, 1, size=(L, s)))
            elif attn_mask == "float_3d":
                d["attn_mask"] = torch.from_numpy(rng.uniform(-1, 1, size=(N * NH, L, s)))
            return d

        def call(m, inp):
            q = inp["query"]
            k = inp.get("key", q)
            v = inp.get("value", q)
            out, w = m(q, k, v, key_padding_mask=inp.get("key_padding_mask"), need_weights=need_weights,
                       attn_mask=inp.get("attn_mask"), average_attn_weights=average)
            return {"output": out, "weights": w}

        run_case(name, make_module, make_inputs, call,
                 {"module": "mha", "embed_dim": E, "num_heads": NH, "bias": bias,
                  "batch_first": batch_first, "self_attention": self_attn,
                  "need_weights": need_weights, "average_attn_weights": average})

    case("mha_self", self_attn=True)
    case("mha_cross_bf_kpm_heads", batch_first=True, key_padding="bool", average=False)
    case("mha_causal_kpm_nobias", self_attn=True, bias=False, key_padding="bool",
         attn_mask="causal_bool")
    # PyTorch 1.13 cannot combine a float key_padding_mask with an attn_mask (2.x adds them).
    case("mha_float_kpm_noweights", key_padding="float", need_weights=False)
    case("mha_float3d_bool_kpm", key_padding="bool", attn_mask="float_3d")
    case("mha_float2d_bool_kpm_bf", batch_first=True, key_padding="bool", attn_mask="float_2d")
    case("mha_unbatched", unbatched=True, attn_mask="float_2d")


# ---- TransformerEncoderLayer / TransformerEncoder ------------------------------
# d_model 8, nhead 2, feedforward 16, seq 5, batch 3.
def encoder_cases():
    E, NH, FF, L, N = 8, 2, 16, 5, 3

    def case(name, norm_first, activation, batch_first, masks, num_layers=0, final_norm=False):
        def make_module():
            layer = nn.TransformerEncoderLayer(E, NH, dim_feedforward=FF, dropout=0.1,
                                               activation=activation, layer_norm_eps=1e-5,
                                               batch_first=batch_first, norm_first=norm_first)
            if num_layers == 0:
                return layer
            norm = nn.LayerNorm(E) if final_norm else None
            return nn.TransformerEncoder(layer, num_layers, norm=norm, enable_nested_tensor=False)

        def make_inputs(rng):
            d = {"src": randn(rng, N, L, E) if batch_first else randn(rng, L, N, E)}
            if masks:
                d["src_mask"] = torch.from_numpy(rng.uniform(-1, 1, size=(L, L)))
                m = np.zeros((N, L), dtype=bool)
                m[1, L - 1:] = True
                m[2, L - 2:] = True
                d["src_key_padding_mask"] = torch.from_numpy(m)
            return d

        def call(m, inp):
            if num_layers == 0:
                out = m(inp["src"], src_mask=inp.get("src_mask"),
                        src_key_padding_mask=inp.get("src_key_padding_mask"))
            else:
                out = m(inp["src"], mask=inp.get("src_mask"),
                        src_key_padding_mask=inp.get("src_key_padding_mask"))
            return {"output": out}

        run_case(name, make_module, make_inputs, call,
                 {"module": "encoder" if num_layers else "encoder_layer", "d_model": E, "nhead": NH,
                  "dim_feedforward": FF, "activation": activation, "norm_first": norm_first,
                  "batch_first": batch_first, "num_layers": num_layers, "final_norm": final_norm})

    case("enc_post_relu", False, "relu", False, False)
    case("enc_pre_gelu_bf_masks", True, "gelu", True, True)
    case("enc_post_gelu_masks", False, "gelu", False, True)
    case("enc_pre_relu_bf", True, "relu", True, False)
    case("encoder2_post_norm_masks", False, "relu", False, True, num_layers=2, final_norm=True)
    case("encoder2_pre_bf", True, "gelu", True, False, num_layers=2)


def main():
    if os.path.exists(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)
    rnn_cases()
    mha_cases()
    encoder_cases()
    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, sort_keys=True) for c in MANIFEST) + "\n]\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT_DIR) for fn in fns)
    print(f"{len(MANIFEST)} cases, {total / 1024:.0f} KiB in {OUT_DIR}")


if __name__ == "__main__":
    main()
