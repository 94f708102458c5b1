"""Fashion-MNIST CNN, written as a PyTorch script; only the imports choose the framework.

    PYTHONPATH=build/release/python /usr/bin/python3 python/examples/fashion_mnist_cnn.py
    /usr/bin/python3 python/examples/fashion_mnist_cnn.py --torch      # the same with PyTorch

The recipe of `tandem train --model cnn`: two 3x3 convolutions with max pooling, two fully
connected layers, Adam (lr 1e-3), a cosine schedule per step, batch 128, 6 epochs; data from
Debian's dataset-fashion-mnist, read by a plain Python Dataset."""
import argparse
import gzip
import os
import sys
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--torch", action="store_true", help="run with PyTorch instead of tandem")
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--max-steps", type=int, default=0, help="stop training after N steps")
parser.add_argument("--test-limit", type=int, default=0, help="evaluate on the first N images")
parser.add_argument("--threads", type=int, default=0)
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
parser.add_argument("--checkpoint", default="fashion_cnn.ckpt")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

# ---- the only framework-specific lines
if args.torch:
    import torch
    from torch import nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset
else:
    import tandem as torch
    from tandem import nn
    import tandem.nn.functional as F
    from tandem.utils.data import DataLoader, Dataset
# ----


class FashionMNIST(Dataset):
    MEAN, STD = 0.2860, 0.3530

    def __init__(self, root, train):
        prefix = "train" if train else "t10k"
        with gzip.open(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz")) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        with gzip.open(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz")) as f:
            self.labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
        self.images = ((images.astype(np.float32) / 255.0 - self.MEAN) / self.STD)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


class CNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def evaluate(model, loader):
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss_sum += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
            total += y.shape[0]
    model.train()
    return correct / total, loss_sum / total


def main():
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set = FashionMNIST(args.data, train=True)
    test_set = FashionMNIST(args.data, train=False)
    if args.test_limit:
        test_set.images, test_set.labels = (test_set.images[:args.test_limit],
                                            test_set.labels[:args.test_limit])
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=500)

    model = CNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    total_steps = args.epochs * len(train_loader)
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)

    step, start = 0, time.time()
    for epoch in range(args.epochs):
        t0, seen, running = time.time(), 0, 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item() * y.shape[0]
            seen += y.shape[0]
            step += 1
            if step >= total_steps:
                break
        acc, test_loss = evaluate(model, test_loader)
        print(f"epoch {epoch + 1}: train loss {running / seen:.4f}  test loss {test_loss:.4f}  "
              f"test accuracy {acc * 100:.2f}%  {seen / (time.time() - t0):.0f} samples/s",
              flush=True)
        torch.save({"model": model.state_dict(), "epoch": epoch + 1}, args.checkpoint)
        if step >= total_steps:
            break

    # The checkpoint restores the same model.
    restored = CNN()
    restored.load_state_dict(torch.load(args.checkpoint)["model"])
    acc2, _ = evaluate(restored, test_loader)
    print(f"final test accuracy {acc * 100:.2f}% (restored from checkpoint: {acc2 * 100:.2f}%), "
          f"{step} steps in {time.time() - start:.1f} s")
    return acc, acc2


if __name__ == "__main__":
    acc, acc2 = main()
    sys.exit(0 if abs(acc - acc2) < 1e-9 else 1)
