#!/usr/bin/python3
"""Writes the demo page's data (web/demo/) and the page test's reference (web/test/demo_expected.json).

    /usr/bin/python3 web/demo/gen_demo.py build/release/tools [--train]

--train (what made the committed cnn.tlite): trains the zoo CNN for 2 epochs on Fashion-MNIST
(`tandem train --model cnn --epochs 2 --seed 0 --threads 1`, about 2 minutes on one core,
89% test accuracy) into build/demo-cnn and converts it with `tandem convert` to web/demo/cnn.tlite.
Without --train the committed cnn.tlite is kept.

Always: examples.json gets the first two test images of each class from Debian's
dataset-fashion-mnist (t10k, 20 images as base64 bytes), and demo_expected.json gets the native
`tandem-lite run` logits of cnn.tlite on each of them (input (byte/255 - 0.286)/0.353 as
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
            np.save(os.path.join(tmp, "x.npy"), x)
            subprocess.run([os.path.join(tools, "tandem-lite"), "run", model, "--input", "input=" + os.path.join(tmp, "x.npy"),
                            "--output-dir", tmp], check=True, stdout=subprocess.DEVNULL)
            y = np.load(os.path.join(tmp, "output.npy")).reshape(-1)
            examples.append({"index": i, "label": int(labels[i]),
                             "pixels": base64.b64encode(images[i].tobytes()).decode()})
            expected.append({"index": i, "logits": [float(v) for v in y], "top": int(np.argmax(y))})
    with open(os.path.join(HERE, "examples.json"), "w") as f:
        json.dump({"source": "Fashion-MNIST t10k (Debian's dataset-fashion-mnist)", "classes": CLASSES,
                   "mean": MEAN, "std": STD, "examples": examples}, f, indent=1)
        f.write("\n")
    with open(os.path.join(ROOT, "web", "test", "demo_expected.json"), "w") as f:
        json.dump({"model": "web/demo/cnn.tlite", "runtime": "native tandem-lite run", "examples": expected}, f, indent=1)
        f.write("\n")
    right = sum(e["top"] == x["label"] for e, x in zip(expected, examples))
    print(f"{len(examples)} examples, the CNN gets {right} right")


if __name__ == "__main__":
    main()
