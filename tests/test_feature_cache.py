"""Frozen stages computed once: the features in order and in little memory, their batches, and the plan."""

import pytest
import torch

from tl_lessons import feature_cache, transfer
from tl_lessons.feature_cache import FeatureBatches
from tl_lessons.loader import Loader
from tl_lessons.models import FastNet
from tl_lessons.synthetic import make_synthetic
from tl_lessons.transfer import apply_strategy


@pytest.fixture(scope="module")
def small():
    """(train, test): 20 and 10 images per class of synthetic10."""
    return make_synthetic(10, "train", n_per_class=20), make_synthetic(10, "test", n_per_class=10)


def features_of(gen):
    """Drive a `compute_features` generator to its end; returns (its events, what it returned)."""
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as done:
            return events, done.value


def peak_cpu_memory(work):
    """(work()'s result, the most bytes torch held at once on the CPU while it ran, counted from its start).

    The profiler records every allocation and release in the order they happen.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        result = work()
    changes = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in profiler.events()
                     if e.self_cpu_memory_usage)
    held = peak = 0
    for _, change in changes:
        held += change
        peak = max(peak, held)
    return result, peak


def frozen_stem(seed=0):
    torch.manual_seed(seed)
    frozen_part, _ = transfer.split_model(FastNet(10), 1)
    return frozen_part.eval()


@pytest.mark.parametrize("bf16, channels_last", [(False, False), (True, True)])
def test_cached_features_are_the_frozen_stages_outputs_in_order(small, bf16, channels_last):
    train_set, test_set = small
    frozen_part = frozen_stem().to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    loaders = [Loader(ds, batch_size=64, channels_last=channels_last) for ds in (train_set, test_set)]
    events, ((features, labels), (val_features, val_labels)) = features_of(
        feature_cache.compute_features(frozen_part, *loaders, started=0.0, bf16=bf16))
    for loader, got, got_labels in zip(loaders, (features, val_features), (labels, val_labels)):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            joined = torch.cat([frozen_part(x).float() for x, _ in loader])  # what the cache used to hold
        assert got.dtype == torch.float32 and torch.equal(got, joined)
        assert torch.equal(got_labels, loader.ds.labels)
    assert events[0] == {"kind": "features", "split": "train", "done": 0, "total": len(train_set),
                         "elapsed": events[0]["elapsed"]}  # said before any image is computed
    assert [e["done"] for e in events if e["split"] == "val"][-1] == len(test_set)


def test_caching_holds_little_more_than_the_features_themselves():
    images = make_synthetic(10, "train", n_per_class=100)
    frozen_part = frozen_stem()
    loader = Loader(images, batch_size=25)
    (_, ((features, labels), _)), peak = peak_cpu_memory(
        lambda: features_of(feature_cache.compute_features(frozen_part, loader, None, started=0.0, bf16=False)))
    final = features.numel() * features.element_size() + labels.numel() * labels.element_size()
    assert final < peak < 1.2 * final  # joining the batches at the end would need twice the final size


def test_feature_batches_come_in_the_loaders_order(small):
    train_set, _ = small
    loader = Loader(train_set, batch_size=48, shuffle=True, seed=3, drop_last=True)
    features = FeatureBatches(train_set.labels.float().unsqueeze(1), train_set.labels.clone(), batch_size=48,
                              shuffle=True, seed=3, drop_last=True)
    for _ in range(2):  # the second epoch is shuffled anew, alike
        for (_, loader_y), (x, y) in zip(loader, features, strict=True):
            assert torch.equal(loader_y, y) and torch.equal(x.squeeze(1), y.float())


def test_the_plan_caches_what_fits_in_its_share_of_the_memory(monkeypatch):
    torch.manual_seed(0)
    model = FastNet(10)
    strategy = apply_strategy(model, "linear_probe")
    one_image = 128 * 4 * 4 * 4 + 8  # FastNet's last stage: 128 channels of 4 x 4 (float32), and a label
    monkeypatch.setattr(feature_cache, "memory_to_spare", lambda device: 2 * 1000 * one_image)
    assert feature_cache.plan_cache(model, strategy, images=1000) == (4, None)   # half of what is free: enough
    stages, note = feature_cache.plan_cache(model, strategy, images=1001)
    assert stages == 0 and "half of the" in note
    assert feature_cache.plan_cache(model, strategy, images=1000, share=0.5)[0] == 0
    monkeypatch.setattr(feature_cache, "memory_to_spare", lambda device: None)  # unknown: only the kit's limit
    assert feature_cache.plan_cache(model, strategy, images=1000)[0] == 4


def test_only_stages_frozen_for_the_whole_run_are_cached():
    model = FastNet(10)
    assert feature_cache.cacheable_stages(model, apply_strategy(model, "freeze", k=2)) == 2
    assert feature_cache.cacheable_stages(model, apply_strategy(model, "gradual")) == 0   # it unfreezes while training
    assert feature_cache.cacheable_stages(model, None) == 0
