"""The 8x8 digits set that ships with scikit-learn (offline) and a small CNN,
shared by the training tests. Everything is seeded; torch runs one thread so
a run is the same on every machine of one kind."""

import numpy as np
import torch
from torch import nn

CLASSES = 10


def load(seed: int = 0):
    """(x_train, y_train, x_test, y_test): 1347 / 450 images, [N, 1, 8, 8] in [0, 1]."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    x, y = x[order], y[order]
    return x[:1347], y[:1347], x[1347:], y[1347:]


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, CLASSES)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def epoch(model, optimizer, x, y, batch: int = 32, seed: int = 0) -> None:
    model.train()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    for i in range(0, len(y), batch):
        idx = order[i:i + batch]
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()


def accuracy(model, x, y) -> float:
    """Percent of correct predictions."""
    model.eval()
    with torch.no_grad():
        return 100.0 * float((model(x).argmax(1) == y).float().mean())


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
