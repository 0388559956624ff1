"""Synthetic practice datasets: generated in seconds, no download, and built for transfer.

synthetic10 has ten visual *primitives* (stripes, checkerboard, dots, ring, ...), one per
image. synthetic100 shows two primitives side by side, and its 100 classes are the ordered
pairs ("ring left of dots" is not "dots left of ring"). A network that learned to spot the
ten primitives on synthetic10 has learned most of what synthetic100 needs, which is exactly
the situation transfer learning exploits.

To keep the task honest, everything that is not the class varies at random: position,
size, colours (foreground darker or brighter than the background), stripe phase, a
blotchy background, stray strokes behind the shapes and pixel noise. A linear model on
raw pixels does poorly; a small CNN learns synthetic10 in seconds.

    >>> train = make_synthetic(10, "train")      # 5,000 images, 500 per class
    >>> train.classes[:3]
    ['horizontal stripes', 'vertical stripes', 'diagonal stripes']
"""
from __future__ import annotations

import math
import zlib

import torch

from tl_lessons.imageset import ImageSet
from tl_lessons.errors import ConfigError

SIZE = 32

# Per-channel mean and std of the default training sets (seed 0) on the 0..1 scale, measured over
# all their pixels; tests/test_synthetic.py checks that they still match the generator.
SYNTHETIC10_MEAN = (0.4979, 0.5002, 0.4963)
SYNTHETIC10_STD = (0.2600, 0.2599, 0.2582)
SYNTHETIC100_MEAN = (0.4987, 0.4978, 0.4983)
SYNTHETIC100_STD = (0.2533, 0.2531, 0.2536)

DEFAULT_PER_CLASS = {(10, "train"): 500, (10, "test"): 100, (100, "train"): 100, (100, "test"): 20}


# ---------------------------------------------------------------------------------------
# The ten primitives. Each maps patch coordinates (u, v), which run from -1 to 1 across the
# patch (u to the right, v down), a per-image random `phase` in [0, 1) and `ppu`, the pixels
# per unit of u, to how much of each pixel the primitive covers (0 to 1).
# ---------------------------------------------------------------------------------------


def _edge(distance, pixels_per_unit):
    """Soft inside/outside from a signed distance (positive inside), about one pixel wide."""
    return (0.5 + distance * pixels_per_unit).clamp(0, 1)


def _inside_square(u, v, ppu):
    return _edge(1 - torch.maximum(u.abs(), v.abs()), ppu)


def _stripes(t, phase, ppu, cycles=2.5):
    """Stripes across coordinate t: `cycles` dark/bright pairs over the patch, softened edges."""
    wave = torch.sin(math.pi * cycles * t + 2 * math.pi * phase)
    return _edge(wave, ppu / (math.pi * cycles))


def horizontal_stripes(u, v, phase, ppu):
    """Two and a half pairs of horizontal bars filling a square."""
    return _stripes(v, phase, ppu) * _inside_square(u, v, ppu)


def vertical_stripes(u, v, phase, ppu):
    """Two and a half pairs of vertical bars filling a square."""
    return _stripes(u, phase, ppu) * _inside_square(u, v, ppu)


def diagonal_stripes(u, v, phase, ppu):
    """Bars running from bottom-left to top-right, filling a square."""
    return _stripes((u + v) / math.sqrt(2), phase, ppu / math.sqrt(2), cycles=3) * _inside_square(u, v, ppu)


def checkerboard(u, v, phase, ppu):
    """A 4 x 4 board of alternating squares."""
    squares = torch.sin(math.pi * 2 * (u + 1)) * torch.sin(math.pi * 2 * (v + 1))
    return _edge(squares, ppu / (2 * math.pi)) * _inside_square(u, v, ppu)


def dots(u, v, phase, ppu):
    """A 3 x 3 grid of small discs."""
    cell_u = (u + 1) * 1.5 % 1 - 0.5
    cell_v = (v + 1) * 1.5 % 1 - 0.5
    return _edge(0.3 - torch.sqrt(cell_u**2 + cell_v**2), ppu / 1.5) * _inside_square(u, v, ppu)


def ring(u, v, phase, ppu):
    """A thick circle outline."""
    return _edge(0.22 - (torch.sqrt(u**2 + v**2) - 0.72).abs(), ppu)


def disc(u, v, phase, ppu):
    """A filled circle."""
    return _edge(0.85 - torch.sqrt(u**2 + v**2), ppu)


def cross(u, v, phase, ppu):
    """A plus sign with thick arms."""
    arm = 0.25 - torch.minimum(u.abs(), v.abs())
    return _edge(arm, ppu) * _inside_square(u, v, ppu)


def triangle(u, v, phase, ppu):
    """A filled triangle pointing up."""
    # The apex is at v = -0.9 and the base at v = 0.9 (v grows downwards).
    half_width = (v + 0.9) / 1.8 * 0.95
    return _edge(torch.minimum(half_width - u.abs(), 0.9 - v.abs()), ppu)


def frame(u, v, phase, ppu):
    """A thick square outline."""
    return _edge(0.18 - (torch.maximum(u.abs(), v.abs()) - 0.8).abs(), ppu)


PRIMITIVES = {
    "horizontal stripes": horizontal_stripes,
    "vertical stripes": vertical_stripes,
    "diagonal stripes": diagonal_stripes,
    "checkerboard": checkerboard,
    "dots": dots,
    "ring": ring,
    "disc": disc,
    "cross": cross,
    "triangle": triangle,
    "frame": frame,
}
PRIMITIVE_NAMES = list(PRIMITIVES)


def class_names(num_classes: int) -> list[str]:
    """Names of the classes: `class_names(100)[12] == 'vertical stripes left of diagonal stripes'`."""
    if num_classes == 10:
        return list(PRIMITIVE_NAMES)
    return [f"{left} left of {right}" for left in PRIMITIVE_NAMES for right in PRIMITIVE_NAMES]


def primitives_of(label: int, num_classes: int) -> tuple[int, ...]:
    """The primitive(s) a class is made of: `primitives_of(12, 100) == (1, 2)`; `primitives_of(3, 10) == (3,)`."""
    return (label,) if num_classes == 10 else divmod(label, 10)


# ---------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------


def _coverage(primitive, center_x, center_y, size, generator):
    """(N, 32, 32) coverage of one primitive per image, placed at (center_x, center_y) with side `size` pixels."""
    pixel = torch.arange(SIZE, dtype=torch.float32) + 0.5
    half = (size / 2).view(-1, 1, 1)
    u = (pixel.view(1, 1, -1) - center_x.view(-1, 1, 1)) / half
    v = (pixel.view(1, -1, 1) - center_y.view(-1, 1, 1)) / half
    phase = torch.rand(len(size), generator=generator).view(-1, 1, 1)
    coverage = torch.zeros(len(size), SIZE, SIZE)
    for index, draw in enumerate(PRIMITIVES.values()):
        rows = (primitive == index).nonzero().squeeze(1)
        if len(rows):
            coverage[rows] = draw(u[rows], v[rows], phase[rows], half[rows])
    return coverage


def _background(n, generator):
    """A random colour plus soft blotches: a random mix of the 4 x 4 slowest waves across the image."""
    base = torch.rand(n, 3, 1, 1, generator=generator) * 0.6 + 0.2
    # waves[i, k] = cos(pi * k * (i + 0.5) / 32): wave k has k half-periods across the image.
    position = torch.arange(SIZE, dtype=torch.float32) + 0.5
    waves = torch.cos(math.pi * position.view(-1, 1) * torch.arange(4).view(1, -1) / SIZE)
    weights = 0.12 * (2 * torch.rand(n, 3, 4, 4, generator=generator) - 1)
    weights[:, :, 0, 0] = 0  # the constant wave would only shift `base`
    return (waves @ weights @ waves.T).add_(base)


def _paint(canvas, coverage, generator):
    """Paint a random colour through `coverage`, clearly brighter or darker than the canvas."""
    n = len(canvas)
    darker = torch.rand(n, 1, 1, 1, generator=generator) < 0.5
    bright = 0.65 + 0.35 * torch.rand(n, 3, 1, 1, generator=generator)
    dark = 0.3 * torch.rand(n, 3, 1, 1, generator=generator)
    colour = torch.where(darker, dark, bright)
    # In place: these tensors are large (N x 3 x 32 x 32) and a copy per step would double the time.
    return canvas.lerp_(colour.expand_as(canvas), coverage.unsqueeze(1))


def _strokes(canvas, generator, count=3):
    """Clutter: `count` short straight strokes of random colour, position and direction per image."""
    n = len(canvas)
    pixel = torch.arange(SIZE, dtype=torch.float32) + 0.5
    for _ in range(count):
        start_x, start_y = (SIZE * torch.rand(2, n, 1, 1, generator=generator)).unbind(0)
        angle = math.pi * torch.rand(n, 1, 1, generator=generator)
        length = 4 + 6 * torch.rand(n, 1, 1, generator=generator)  # 4..10 pixels
        # Distance from every pixel to the stroke, from two parts: across the stroke's line, and
        # along it beyond either end (zero between the ends).
        dx = pixel.view(1, 1, -1) - start_x
        dy = pixel.view(1, -1, 1) - start_y
        across = dy * angle.cos() - dx * angle.sin()
        along = dx * angle.cos() + dy * angle.sin()
        beyond = along - torch.clamp(along, min=torch.zeros_like(length), max=length)
        distance = torch.sqrt(across**2 + beyond**2)
        colour = torch.rand(n, 3, 1, 1, generator=generator)
        canvas.lerp_(colour.expand_as(canvas), _edge(0.7 - distance, 1.0).unsqueeze(1))
    return canvas


def _draw(labels, num_classes, generator):
    n = len(labels)
    canvas = _strokes(_background(n, generator), generator)
    if num_classes == 10:
        size = 14 + 14 * torch.rand(n, generator=generator)            # 14..28 pixels
        slack = (SIZE - size) / 2                                        # keep the patch inside
        center_x = SIZE / 2 + slack * (2 * torch.rand(n, generator=generator) - 1)
        center_y = SIZE / 2 + slack * (2 * torch.rand(n, generator=generator) - 1)
        canvas = _paint(canvas, _coverage(labels, center_x, center_y, size, generator), generator)
    else:
        left, right = labels // 10, labels % 10
        for primitive, middle in ((left, SIZE * 0.25), (right, SIZE * 0.75)):
            size = 12 + 4 * torch.rand(n, generator=generator)           # 12..16 pixels
            center_x = middle + 1.5 * (2 * torch.rand(n, generator=generator) - 1)
            slack = (SIZE - size) / 2
            center_y = SIZE / 2 + slack * (2 * torch.rand(n, generator=generator) - 1)
            canvas = _paint(canvas, _coverage(primitive, center_x, center_y, size, generator), generator)
    canvas += 0.2 * torch.rand(canvas.shape, generator=generator) - 0.1  # pixel noise, std 0.058
    return canvas.clamp_(0, 1).mul_(255).round_().to(torch.uint8)


def make_synthetic(num_classes: int = 10, split: str = "train", n_per_class: int | None = None,
                   seed: int = 0) -> ImageSet:
    """Generate synthetic10 or synthetic100; the same (num_classes, split, seed) gives the same images.

    >>> test = make_synthetic(100, "test")       # 2,000 images, 20 per class
    """
    if num_classes not in (10, 100):
        raise ConfigError(f"Synthetic sets have 10 or 100 classes, not {num_classes}.")
    if split not in ("train", "test"):
        raise ConfigError(f"Unknown split {split!r}: choose 'train' or 'test'.")
    if n_per_class is None:
        n_per_class = DEFAULT_PER_CLASS[(num_classes, split)]
    if n_per_class < 1:
        raise ConfigError(f"Images per class must be at least 1, not {n_per_class}.")
    # crc32 of a string, unlike hash(), is the same in every Python process.
    generator = torch.Generator().manual_seed(zlib.crc32(f"synthetic{num_classes}/{split}/{seed}".encode()))
    labels = torch.arange(num_classes).repeat(n_per_class)
    labels = labels[torch.randperm(len(labels), generator=generator)]
    images = _draw(labels, num_classes, generator)
    mean, std = (SYNTHETIC10_MEAN, SYNTHETIC10_STD) if num_classes == 10 else (SYNTHETIC100_MEAN, SYNTHETIC100_STD)
    return ImageSet(
        images=images.contiguous(),
        labels=labels,
        classes=class_names(num_classes),
        name=f"synthetic{num_classes}",
        split=split,
        source=f"synthetic{num_classes}: images generated by tl_lessons.synthetic (seed {seed}), not real photos",
        mean=mean,
        std=std,
    )
