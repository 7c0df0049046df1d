"""Small classifiers for the stand-in recognisability tests (fast on 2 CPU cores)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def logistic_regression_accuracy(x_train, y_train, x_test, y_test, iterations: int = 40,
                                 l2: float = 1e-4) -> float:
    """Multinomial logistic regression on raw pixels (full-batch L-BFGS): test accuracy."""
    torch.manual_seed(0)
    xt, xe = x_train.flatten(1).float(), x_test.flatten(1).float()
    mean, std = xt.mean(0), xt.std(0) + 0.05
    xt, xe = (xt - mean) / std, (xe - mean) / std
    classes = int(max(y_train.max(), y_test.max())) + 1
    model = nn.Linear(xt.shape[1], classes)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=iterations, history_size=10)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), y_train) + l2 * model.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return (model(xe).argmax(1) == y_test).float().mean().item()


def small_cnn_accuracy(x_train, y_train, x_test, y_test, epochs: int = 4, batch: int = 64) -> float:
    """A two-convolution CNN trained with Adam: test accuracy."""
    torch.manual_seed(0)
    channels = x_train.shape[1]
    model = nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.LazyLinear(32), nn.ReLU(), nn.Linear(32, 10))
    model(x_train[:2])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train), generator=g).split(batch):
            opt.zero_grad()
            F.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()
