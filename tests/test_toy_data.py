"""Chapter 02's small problems: seeded, so the same arguments give the same points."""

import torch

from tl_lessons import toy_data


def test_make_moons_is_balanced_and_repeatable():
    X, y = toy_data.make_moons(100, seed=4)
    assert X.shape == (100, 2) and X.dtype == torch.float32
    assert y.tolist().count(0) == y.tolist().count(1) == 50
    assert torch.equal(X, toy_data.make_moons(100, seed=4)[0])
    assert not torch.equal(X, toy_data.make_moons(100, seed=5)[0])


def test_the_regression_is_the_line_it_says_plus_noise():
    X, y = toy_data.make_regression(n=500, noise=0.0)
    assert torch.allclose(y, X @ torch.tensor([2.0, -3.0], dtype=torch.float64))
    assert torch.equal(toy_data.make_regression(seed=3)[1], toy_data.make_regression(seed=3)[1])
