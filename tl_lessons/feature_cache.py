"""Frozen stages computed once: whether their outputs fit in memory, computing them, and batches over them.

When a run keeps its first stages frozen (in inference mode) for every epoch and does not augment
its images, those stages map each image to the same features every epoch. `fit` then runs them
once over every image (`compute_features`) and trains the rest of the model on the stored
features (`FeatureBatches`): the same run, much faster. `plan_cache` decides beforehand whether
the features fit in memory.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet(10)
    >>> stages, note = plan_cache(model, transfer.apply_strategy(model, "linear_probe"), images=5_000)
    >>> stages, note                # a linear probe trains the head alone: run the four stages before it once
    (4, None)
"""
import time

import torch
from torch import nn

from tl_lessons import text, transfer
from tl_lessons.hardware import memory_to_spare
from tl_lessons.inference import evaluation_mode, model_device
from tl_lessons.loader import batch_count, batch_rows, epoch_generator

# Cached features live in memory (the GPU's, when training there): at most this much, and at most half of
# the memory free when the run starts, so that the rest of the run and the other programs keep room.
CACHE_LIMIT_BYTES = 4 * 10**9  # 4 GB


class FeatureBatches:
    """Batches of cached features and labels, in the order a `Loader` with the same settings gives their images.

    >>> features, labels = torch.randn(10, 2048), torch.arange(10)      # 10 images' cached features
    >>> [len(y) for x, y in FeatureBatches(features, labels, batch_size=4, shuffle=True)]
    [4, 4, 2]
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool = False,
                 seed: int = 0, drop_last: bool = False):
        self.features, self.labels = features, labels
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def __len__(self) -> int:
        return batch_count(len(self.labels), self.batch_size, self.drop_last)

    def __iter__(self):
        generator = epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        for rows in batch_rows(len(self.labels), self.batch_size, self.shuffle, self.drop_last, generator,
                               self.labels.device):
            yield self.features[rows], self.labels[rows]


def cacheable_stages(model: nn.Module, strategy) -> int:
    """How many leading stages could be run once up front (0: none).

    They must stay frozen, in eval mode, for the whole run: strategies that unfreeze stages
    while training (`transfer.SCHEDULED`) change the frozen part, so they get no cache.
    """
    if strategy is None or strategy.name in transfer.SCHEDULED:
        return 0
    return transfer.cached_prefix(model, strategy)


def plan_cache(model: nn.Module, strategy, images: int, share: float = 1.0) -> tuple[int, str | None]:
    """(leading stages to cache, None), or (0, the sentence why not) when their outputs would not fit in memory.

    The size is known before anything is computed: one image's features, times the images. `share`:
    runs that train side by side (the dashboard's slots) each plan with their share of the memory, not
    each with all of it.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet(10)
    >>> plan_cache(model, transfer.apply_strategy(model, "freeze", k=2), images=6_000)     # 6,000 × 8,192 numbers
    (2, None)
    >>> plan_cache(model, transfer.apply_strategy(model, "freeze", k=2, bn="train"), images=6_000)  # BN still learns
    (0, None)
    """
    stages = cacheable_stages(model, strategy)
    if stages == 0:
        return 0, None
    frozen_part, _ = transfer.split_model(model, stages)
    with evaluation_mode(frozen_part), torch.no_grad():
        one = frozen_part(torch.zeros(1, 3, 32, 32, device=model_device(model)))
    size = images * (one.numel() * 4 + 8)  # float32 features and an int64 label per image
    spare = memory_to_spare(model_device(model))
    whole = CACHE_LIMIT_BYTES if spare is None else min(CACHE_LIMIT_BYTES, spare // 2)
    budget = int(whole * share)
    if size <= budget:
        return stages, None
    if whole == CACHE_LIMIT_BYTES:
        why, remedy = "the kit's limit for it", "train on fewer images"
    else:
        why, remedy = f"half of the {text.memory_size(spare)} free now", "close other programs or train on fewer images"
    if share < 1:
        why += ", shared with the runs training beside it"
    return 0, (f"The frozen stages' outputs for {images:,} images would take {text.memory_size(size)}, more than "
               f"the {text.memory_size(budget)} this run may keep in memory ({why}): training runs the frozen stages "
               f"on every step instead, which is slower, and augments the training images as usual. To cache "
               f"them, {remedy}.")


def compute_features(frozen_part: nn.Module, train_images, val_images, started: float, bf16: bool, stop=None):
    """Run the frozen stages once over every training and validation image.

    Yields "features" progress events (the first before any image is computed); returns ((train features,
    labels), (val features, labels) or None without a validation set), or None when `stop` was set meanwhile.
    """
    results = []
    for split, loader in (("train", train_images), ("val", val_images)):
        if loader is None:
            results.append(None)
            continue
        total, done, features, labels = len(loader.ds), 0, None, None
        yield {"kind": "features", "split": split, "done": 0, "total": total, "elapsed": time.perf_counter() - started}
        with torch.no_grad(), torch.autocast(loader.device.type, dtype=torch.bfloat16, enabled=bf16):
            for x, y in loader:
                if stop is not None and stop.is_set():
                    return None
                batch = frozen_part(x)
                if features is None:
                    # One tensor for every image, filled batch by batch: keeping the batches and joining
                    # them at the end would hold every feature twice.
                    features = torch.empty((total, *batch.shape[1:]), dtype=torch.float32, device=batch.device,
                                           memory_format=memory_format_of(batch))
                    labels = torch.empty(total, dtype=y.dtype, device=y.device)
                # Stored as float32 (from bfloat16 too): the rest of the model sees what it would without the cache.
                features[done:done + len(y)] = batch
                labels[done:done + len(y)] = y
                done += len(y)
                yield {"kind": "features", "split": split, "done": done, "total": total,
                       "elapsed": time.perf_counter() - started}
        results.append((features, labels))
    return results


def memory_format_of(batch: torch.Tensor) -> torch.memory_format:
    """The memory layout of a batch of features: channels-last when it is stored so, else the usual one."""
    if batch.dim() == 4 and not batch.is_contiguous() and batch.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
