"""The benchmark set of deployed architectures (bench/vision_models.py: torchvision models and
a ViT-style encoder exported by PyTorch with a dynamic batch) runs through `tandem run` at batch
2 and gives PyTorch's output, within a tolerance relative to the output's scale (random
weights make some networks' logits large, others tiny).

    vision_models_test.py TANDEM_CLI DATA_DIR MODEL[,MODEL...]

Exports into DATA_DIR (the build tree) unless the files there are newer than the script.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

# float32 rounding through ~50 layers in another summation order; measured differences are
# ~1e-6 of the scale, a wrong fold or layout is ~1e-1 of it.
RELATIVE_TOLERANCE = 2e-5


def main():
    cli, data, models = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "vision_models.py")
    subprocess.run([sys.executable, script, data, "--models", ",".join(models), "--reference-batch", "2"],
                   check=True)
    failed = []
    for m in models:
        with tempfile.TemporaryDirectory() as out:
            run = subprocess.run([cli, "run", os.path.join(data, m + ".onnx"), os.path.join(data, m + ".input.npy"),
                                  "-o", out], capture_output=True, text=True, timeout=240)
            if run.returncode != 0:
                failed.append(f"{m}: tandem run exited {run.returncode}: {run.stderr.strip()[-500:]}")
                continue
            got = np.load(os.path.join(out, "output.npy"))
        want = np.load(os.path.join(data, m + ".torch.npy"))
        if got.shape != want.shape or got.dtype != want.dtype:
            failed.append(f"{m}: output {got.dtype}{got.shape}, PyTorch gives {want.dtype}{want.shape}")
            continue
        scale = float(np.abs(want).max())
        diff = float(np.abs(got.astype(np.float64) - want).max())
        ok = scale > 0 and diff <= RELATIVE_TOLERANCE * scale
        print(f"{m}: max abs diff {diff:.3e}, output scale {scale:.3e} ({'ok' if ok else 'MISMATCH'})")
        if not ok:
            failed.append(f"{m}: max abs diff {diff:.3e} exceeds {RELATIVE_TOLERANCE} x scale {scale:.3e}")
    for f in failed:
        print("FAIL " + f, file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
