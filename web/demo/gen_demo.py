#!/usr/bin/python3
"""Writes the demo page's data (web/demo/) and the page test's reference (web/test/demo_expected.json).

    /usr/bin/python3 web/demo/gen_demo.py build/release/tools [--train]

--train (what made the committed models): trains the zoo CNN for 2 epochs on Fashion-MNIST
(`tandem train --model cnn --epochs 2 --seed 0 --threads 1`, about 2 minutes on one core,
89% test accuracy) into build/demo-cnn, converts it with `tandem convert` to web/demo/cnn.tlite,
and quantizes it (`tandem export`, `tandem quantize` calibrated on the first 512 training
images, `tandem convert`) to web/demo/cnn_int8.tlite. Without --train the committed models stay.

Always: examples.json gets the first two test images of each class from Debian's
dataset-fashion-mnist (t10k, 20 images as base64 bytes), and demo_expected.json gets the native
`tandem-lite run` logits of cnn.tlite and cnn_int8.tlite on each of them (input (byte/255 - 0.286)/0.353 as
float32, the normalization the CNN was trained with), which the headless Chromium test compares
with the page's.
"""
import base64
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
MEAN, STD = 0.2860, 0.3530  # include/tandem/train/fit.h: kPixelMean, kPixelStd
PER_CLASS = 2


def read_idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def quantize(tools, run):
    tandem = os.path.join(tools, "tandem")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file, q_file, calib = (os.path.join(tmp, f) for f in ("cnn.onnx", "cnn_int8.onnx", "calib.npy"))
        subprocess.run([tandem, "export", "--model", "cnn", "--weights", os.path.join(run, "model.safetensors"),
                        "--dynamic-batch", "-o", onnx_file], check=True)
        x = read_idx("train-images-idx3-ubyte.gz")[:512].astype(np.float64)
        np.save(calib, ((x / 255.0 - MEAN) / STD).astype(np.float32).reshape(-1, 1, 28, 28))
        subprocess.run([tandem, "quantize", onnx_file, "--data", calib, "--out", q_file], check=True)
        subprocess.run([tandem, "convert", q_file, os.path.join(HERE, "cnn_int8.tlite")], check=True)


def native_logits(tools, model, x, tmp):
    np.save(os.path.join(tmp, "x.npy"), x)
    subprocess.run([os.path.join(tools, "tandem-lite"), "run", model, "--input", "input=" + os.path.join(tmp, "x.npy"),
                    "--output-dir", tmp], check=True, stdout=subprocess.DEVNULL)
    return np.load(os.path.join(tmp, "output.npy")).reshape(-1)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tools = sys.argv[1]
    model = os.path.join(HERE, "cnn.tlite")
    if "--train" in sys.argv[2:]:
        run = os.path.join(ROOT, "build", "demo-cnn")
        subprocess.run([os.path.join(tools, "tandem"), "train", "--model", "cnn", "--epochs", "2", "--seed", "0",
                        "--threads", "1", "--out", run, "--no-tensorboard", "--no-progress"], check=True)
        subprocess.run([os.path.join(tools, "tandem"), "convert", "--model", "cnn", "--weights",
                        os.path.join(run, "model.safetensors"), model], check=True)
        quantize(tools, run)
    images = read_idx("t10k-images-idx3-ubyte.gz")
    labels = read_idx("t10k-labels-idx1-ubyte.gz")
    picked = []
    for c in range(10):
        picked += [int(i) for i in np.nonzero(labels == c)[0][:PER_CLASS]]
    picked.sort()
    examples, expected = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in picked:
            x = ((images[i].astype(np.float64) / 255.0 - MEAN) / STD).astype(np.float32).reshape(1, 1, 28, 28)
            y = native_logits(tools, model, x, tmp)
            y8 = native_logits(tools, os.path.join(HERE, "cnn_int8.tlite"), x, tmp)
            examples.append({"index": i, "label": int(labels[i]),
                             "pixels": base64.b64encode(images[i].tobytes()).decode()})
            expected.append({"index": i, "logits": [float(v) for v in y], "top": int(np.argmax(y)),
                             "int8_logits": [float(v) for v in y8], "int8_top": int(np.argmax(y8))})
    with open(os.path.join(HERE, "examples.json"), "w") as f:
        json.dump({"source": "Fashion-MNIST t10k (Debian's dataset-fashion-mnist)", "classes": CLASSES,
                   "mean": MEAN, "std": STD, "examples": examples}, f, indent=1)
        f.write("\n")
    with open(os.path.join(ROOT, "web", "test", "demo_expected.json"), "w") as f:
        json.dump({"models": ["web/demo/cnn.tlite", "web/demo/cnn_int8.tlite"], "runtime": "native tandem-lite run",
                   "mean": MEAN, "std": STD, "examples": expected}, f, indent=1)
        f.write("\n")
    right = sum(e["top"] == x["label"] for e, x in zip(expected, examples))
    right8 = sum(e["int8_top"] == x["label"] for e, x in zip(expected, examples))
    print(f"{len(examples)} examples, the CNN gets {right} right, its int8 model {right8}")


if __name__ == "__main__":
    main()
