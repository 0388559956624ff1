"""Two small problems for chapter 02, small enough to solve by hand: a linear regression and two half-moons.

Both are drawn from a seeded generator, so the same arguments always give the same points.

    >>> X, y = make_regression()      # 256 points: y = X @ [2, -3] + noise
    >>> X, y = make_moons()           # 200 points of two interleaved half-circles, classes 0 and 1
"""
from __future__ import annotations

import math

import torch


def make_regression(n: int = 256, noise: float = 0.5, seed: int = 0):
    """A small linear regression problem: X (n, 2), y = X @ [2, -3] + noise, in float64.

    >>> X, y = make_regression(n=8)
    >>> X.shape, y.shape
    (torch.Size([8, 2]), torch.Size([8]))
    """
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    y = X @ torch.tensor([2.0, -3.0], dtype=torch.float64) + noise * torch.randn(n, generator=generator, dtype=torch.float64)
    return X, y


def make_moons(n: int = 200, noise: float = 0.15, seed: int = 0):
    """Two interleaved half-circles in 2-D, n/2 points each: X float32 (n, 2), y int64 (n,) in {0, 1}.

    >>> X, y = make_moons(10)
    >>> X.shape, y.tolist()
    (torch.Size([10, 2]), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    generator = torch.Generator().manual_seed(seed)
    half = n // 2
    angle = torch.rand(n, generator=generator) * math.pi
    upper = torch.stack((torch.cos(angle[:half]), torch.sin(angle[:half])), dim=1)
    lower = torch.stack((1 - torch.cos(angle[half:]), 0.5 - torch.sin(angle[half:])), dim=1)
    X = torch.cat((upper, lower)) + noise * torch.randn(n, 2, generator=generator)
    y = torch.cat((torch.zeros(half, dtype=torch.int64), torch.ones(n - half, dtype=torch.int64)))
    return X, y
