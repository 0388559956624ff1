"""Batches for training: shuffle, augment and normalise whole batches at once.

CIFAR fits in memory (150 MB as uint8), so there is no need for worker processes or
per-image transforms: the loader picks a batch of rows, shifts and mirrors them all with
a few tensor operations, and turns them into normalised float32 in one pass.

    >>> from tl_lessons.data import load_dataset
    >>> train = load_dataset("synthetic10", "train")
    >>> for x, y in Loader(train, batch_size=256, shuffle=True, augment=True):
    ...     pass                        # a training step: loss = F.cross_entropy(model(x), y), ...
    >>> x.dtype, x.shape, y[:5].tolist()
    (torch.float32, torch.Size([136, 3, 32, 32]), [...])
"""
from __future__ import annotations

import time

import torch

from tl_lessons.imageset import ImageSet


def augment_batch(images_uint8: torch.Tensor, generator: torch.Generator, pad: int = 4,
                  flip: bool | torch.Tensor = True, fill: str = "zeros") -> torch.Tensor:
    """Random crop after `pad` pixels of padding, and a horizontal flip, per image.

    The same augmentation as torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip,
    done for a whole batch at once; `generator` makes it repeatable. `flip`: True mirrors a
    random half, False none, a boolean tensor the images it marks. `fill`: "zeros" (black borders)
    or "reflect" (the image's own border mirrored outwards, which looks like more of the photo).

    >>> batch = torch.full((8, 3, 32, 32), 200, dtype=torch.uint8)
    >>> augmented = augment_batch(batch, torch.Generator().manual_seed(0))
    >>> augmented.shape, augmented.dtype, int(augmented.min())    # shifted in: 0 where the padding shows
    (torch.Size([8, 3, 32, 32]), torch.uint8, 0)
    """
    n, channels, height, width = images_uint8.shape
    device = images_uint8.device
    shifts = 2 * pad + 1  # a crop starts 0..2*pad pixels into the padded image
    # Every random choice comes from the CPU generator, so the result does not depend on the device.
    shift_y = torch.randint(0, shifts, (n,), generator=generator).to(device)
    shift_x = torch.randint(0, shifts, (n,), generator=generator).to(device)
    if isinstance(flip, torch.Tensor):
        mirror = flip
    else:
        mirror = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    mirror = mirror.to(device)

    # Cutting each image's window separately would cost one small copy per image. Instead the
    # crop is cut in two steps, rows then columns, and before each step the images are sorted
    # so that those sharing a shift sit side by side: one slice copy then moves the whole group.
    # Rows: sort by vertical shift, pad, keep `height` rows starting at the shift.
    by_y = torch.argsort(shift_y)
    if fill == "reflect":
        padded = reflect_pad(images_uint8.index_select(0, by_y), pad)
    else:
        padded = images_uint8.new_zeros(n, channels, height + 2 * pad, width + 2 * pad)
        padded[:, :, pad:pad + height, pad:pad + width] = images_uint8.index_select(0, by_y)
    rows = images_uint8.new_empty(n, channels, height, width + 2 * pad)
    first = 0
    for shift, count in enumerate(torch.bincount(shift_y, minlength=shifts).tolist()):
        rows[first:first + count] = padded[first:first + count, :, shift:shift + height]
        first += count
    # Columns: sort by (horizontal shift, mirrored), keep `width` columns, mirror every other group.
    column_group = (2 * shift_x + mirror.long())[by_y]
    by_x = torch.argsort(column_group)
    rows = rows.index_select(0, by_x)
    out = torch.empty_like(images_uint8)
    first = 0
    for group, count in enumerate(torch.bincount(column_group, minlength=2 * shifts).tolist()):
        shift, mirrored = divmod(group, 2)
        window = rows[first:first + count, :, :, shift:shift + width]
        out[first:first + count] = window.flip(3) if mirrored else window
        first += count
    # Undo the two sorts so that image i of the output is image i of the input, augmented.
    return out.index_select(0, torch.argsort(by_y[by_x]))


def reflect_pad(images: torch.Tensor, pad: int) -> torch.Tensor:
    """`pad` pixels around every image, the image's border mirrored outwards (F.pad's "reflect", for uint8 too).

    >>> reflect_pad(torch.tensor([[[[1, 2, 3]]]], dtype=torch.uint8).expand(1, 1, 3, 3), 1)[0, 0, 0].tolist()
    [2, 1, 2, 3, 2]
    """
    def mirrored(size):  # -2, -1, 0 .. size-1, size, size+1  ->  2, 1, 0 .. size-1, size-2, size-3
        index = torch.arange(-pad, size + pad, device=images.device).abs()
        return torch.where(index >= size, 2 * (size - 1) - index, index)

    return images.index_select(2, mirrored(images.shape[2])).index_select(3, mirrored(images.shape[3]))


def normalise(images_uint8: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 pixels -> float32 `(pixel / 255 - mean) / std`, per channel.

    >>> white = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
    >>> normalise(white, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))[0, :, 0, 0].round(decimals=4)    # (1 - 0.5) / 0.25
    tensor([2., 2., 2.])
    """
    mean = torch.tensor(mean, dtype=torch.float32, device=images_uint8.device).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32, device=images_uint8.device).view(3, 1, 1)
    # (p / 255 - mean) / std == p * scale + shift: one multiply-add per pixel instead of three steps.
    scale = 1.0 / (255.0 * std)
    shift = -mean / std
    return torch.addcmul(shift, images_uint8.to(torch.float32), scale)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random source of one epoch (its order and augmentation).

    One generator per (seed, epoch): epoch 3 of a run is the same whether or not epochs 0-2 ran.

    >>> epoch_generator(seed=0, epoch=3).initial_seed()
    3
    """
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def batch_count(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches one epoch over `n` rows has (a last, smaller batch counts unless `drop_last`).

    >>> batch_count(100, 32), batch_count(100, 32, drop_last=True)
    (4, 3)
    """
    return n // batch_size if drop_last else -(-n // batch_size)


def batch_rows(n: int, batch_size: int, shuffle: bool, drop_last: bool, generator: torch.Generator, device="cpu"):
    """The row indices of each batch of one epoch over `n` rows, shuffled with `generator` when asked.

    >>> [rows.tolist() for rows in batch_rows(5, 2, shuffle=False, drop_last=False, generator=None)]
    [[0, 1], [2, 3], [4]]
    """
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(device)
    for b in range(batch_count(n, batch_size, drop_last)):
        yield order[b * batch_size:(b + 1) * batch_size]


class Loader:
    """Iterate over an ImageSet in batches of normalised float32 images and int64 labels.

    Each pass (`for x, y in loader`) is one epoch; its order and augmentation come from
    `seed` and the epoch number, so a run can be repeated exactly. With `augment`, every image
    moves by up to `shift` pixels each way (`shift_fill`: what fills the uncovered border, see
    `augment_batch`) and is mirrored: at random (`flip="random"`), or (`"alternate"`) in every
    other epoch, starting from a random half: any two epochs in a row show each image both ways,
    where random flips show a quarter of the images the same way twice.

    >>> from tl_lessons.data import load_dataset
    >>> loader = Loader(load_dataset("synthetic10", "train"), batch_size=512, shuffle=True, augment=True, seed=0)
    >>> len(loader), loader.epoch                 # 5,000 images: 9 full batches and one of 392
    (10, 0)
    """

    def __init__(self, ds: ImageSet, batch_size: int = 256, shuffle: bool = False, augment: bool = False,
                 device="cpu", channels_last: bool = False, seed: int = 0, drop_last: bool = False,
                 mean=None, std=None, shift: int = 4, shift_fill: str = "zeros", flip: str = "random"):
        self.ds = ds
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.seed = seed
        self.drop_last = drop_last
        self.shift, self.shift_fill, self.flip = shift, shift_fill, flip
        # flip="alternate": the images mirrored in even epochs (0, 2, ...); odd epochs mirror the others.
        self.mirrored_in_even_epochs = (torch.rand(len(ds), generator=torch.Generator().manual_seed(seed)) < 0.5
                                        ).to(self.device)
        # A model pre-trained elsewhere wants its own statistics: pass them as mean/std.
        self.mean = tuple(ds.mean if mean is None else mean)
        self.std = tuple(ds.std if std is None else std)
        self.epoch = 0  # the next epoch to produce; set it to resume a run at a given epoch
        # On a GPU the whole set is copied there once, so batches never cross the bus.
        self.images = ds.images.to(self.device)
        self.labels = ds.labels.to(self.device)

    def __len__(self) -> int:
        return batch_count(len(self.ds), self.batch_size, self.drop_last)

    def __iter__(self):
        epoch = self.epoch
        generator = epoch_generator(self.seed, epoch)
        self.epoch += 1
        for rows in batch_rows(len(self.ds), self.batch_size, self.shuffle, self.drop_last, generator, self.device):
            images = self.images.index_select(0, rows)  # much faster than self.images[rows]
            if self.augment:
                flip = True if self.flip == "random" else self.mirrored_in_even_epochs[rows] ^ (epoch % 2 == 1)
                images = augment_batch(images, generator, self.shift, flip, self.shift_fill)
            if self.channels_last:
                # Reordering the uint8 batch moves 4x fewer bytes than reordering the float one,
                # and normalise keeps the layout it is given.
                images = images.contiguous(memory_format=torch.channels_last)
            yield normalise(images, self.mean, self.std), self.labels.index_select(0, rows)


def measure_loader_throughput(ds: ImageSet, batch_size: int = 512, augment: bool = True,
                              seconds: float = 3.0, device="cpu") -> float:
    """Images per second the Loader delivers (shuffled, float32) over about `seconds`.

    >>> from tl_lessons.data import load_dataset
    >>> measure_loader_throughput(load_dataset("synthetic10"), seconds=0.2) > 1000   # `make bench` times CIFAR-10
    True
    """
    loader = Loader(ds, batch_size=batch_size, shuffle=True, augment=augment, device=device, drop_last=True)
    images = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for x, _ in loader:
            images += len(x)
            if time.perf_counter() - start >= seconds:
                break
    if loader.device.type == "cuda":
        torch.cuda.synchronize(loader.device)
    return images / (time.perf_counter() - start)
