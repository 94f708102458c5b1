"""torchvision's segmentation and detection models for the ONNX inference benchmark: the
exports of tests/onnx/torchvision_tasks_test.py (PyTorch 1.13, opset 11, seeded random weights
and heads; segmentation at [1, 3, 160, 160], detection on one [3, 256, 256] image), with the
test's input as the benchmark's batch-1 input.

    /usr/bin/python3 bench/vision_tasks.py OUT_DIR [--models a,b,...]

Writes OUT_DIR/<name>.onnx and OUT_DIR/<name>_b1.input.npy per model (exported again when the
test script is newer than the files). `--list` prints the names. bench/onnx_run.sh calls it for
the names given in BENCH_MODELS.
"""
import argparse
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "onnx"))
import torchvision_tasks_test as tasks  # noqa: E402

NAMES = list(tasks.SEGMENTATION) + list(tasks.DETECTION)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--models", default=",".join(NAMES))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print(" ".join(NAMES))
        return
    os.makedirs(a.out, exist_ok=True)
    script = os.path.getmtime(tasks.__file__)
    for name in a.models.split(","):
        if name not in NAMES:
            sys.exit(f"vision_tasks.py: unknown model {name} ({' '.join(NAMES)})")
        onnx_file = os.path.join(a.out, name + ".onnx")
        if not os.path.exists(onnx_file) or os.path.getmtime(onnx_file) < script:
            tasks.export(a.out, name)
        shutil.copyfile(os.path.join(a.out, name + ".input.npy"), os.path.join(a.out, name + "_b1.input.npy"))


if __name__ == "__main__":
    main()
