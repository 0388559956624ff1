"""tl_lessons.loader: augmentation is exact, normalisation is right, epochs repeat by seed."""
import pytest
import torch
import torch.nn.functional as F

from tl_lessons.imageset import ImageSet
from tl_lessons.loader import Loader, augment_batch, measure_loader_throughput, normalise

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def random_images(n, seed=0):
    # Values 1..255, so that a zero can only come from the padding.
    return torch.randint(1, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def random_set(n=100, num_classes=10):
    labels = torch.arange(n) % num_classes
    return ImageSet(random_images(n), labels, [str(c) for c in range(num_classes)], "synthetic10", "train",
                    "test images", MEAN, STD)


def find_window(original, augmented, pad=4, fill="zeros"):
    """(dy, dx, mirrored) such that `augmented` is that window of the padded `original`, else None."""
    if fill == "reflect":  # F.pad mirrors float images only
        original, augmented = original.float(), augmented.float()
        padded = F.pad(original[None], (pad, pad, pad, pad), mode="reflect")[0]
    else:
        padded = F.pad(original, (pad, pad, pad, pad))
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            window = padded[:, dy:dy + 32, dx:dx + 32]
            if torch.equal(augmented, window):
                return dy - pad, dx - pad, False
            if torch.equal(augmented, window.flip(2)):
                return dy - pad, dx - pad, True
    return None


def test_every_crop_is_a_shifted_window_of_the_zero_padded_image():
    images = random_images(400)
    augmented = augment_batch(images, torch.Generator().manual_seed(0))
    assert augmented.dtype == torch.uint8 and augmented.shape == images.shape
    found = [find_window(images[i], augmented[i]) for i in range(len(images))]
    assert None not in found
    offsets = {(dy, dx) for dy, dx, _ in found}
    assert all(-4 <= dy <= 4 and -4 <= dx <= 4 for dy, dx in offsets)
    assert len(offsets) == 81  # 400 images reach every offset
    mirrored = sum(m for _, _, m in found)
    assert 150 < mirrored < 250  # about half are flipped


def test_a_flip_is_an_exact_mirror_and_no_padding_means_no_shift():
    images = random_images(64)
    flipped = augment_batch(images, torch.Generator().manual_seed(1), pad=0, flip=True)
    for original, out in zip(images, flipped):
        assert torch.equal(out, original) or torch.equal(out, original.flip(2))
    assert not torch.equal(flipped, images)
    assert torch.equal(augment_batch(images, torch.Generator().manual_seed(1), pad=0, flip=False), images)


def test_crop_without_flip_never_mirrors():
    images = random_images(100)
    augmented = augment_batch(images, torch.Generator().manual_seed(2), flip=False)
    assert all(find_window(i, a)[2] is False for i, a in zip(images, augmented))


def test_reflected_shifts_are_windows_of_the_mirror_padded_image_and_leave_no_black_border():
    images = random_images(200)
    augmented = augment_batch(images, torch.Generator().manual_seed(3), pad=2, fill="reflect")
    found = [find_window(images[i], augmented[i], pad=2, fill="reflect") for i in range(len(images))]
    assert None not in found
    assert {(dy, dx) for dy, dx, _ in found} == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert int(augmented.min()) >= 1   # the images hold no 0: zero padding would have put some in


def test_alternating_flips_mirror_each_image_in_exactly_one_of_two_epochs_in_a_row():
    ds = random_set(100, num_classes=100)   # the label names the image, whatever the shuffled order
    plain, mirrored = normalise(ds.images, MEAN, STD), normalise(ds.images.flip(3), MEAN, STD)

    def mirrored_in_an_epoch(loader):
        seen = torch.zeros(len(ds), dtype=torch.bool)
        for x, y in loader:
            for image, label in zip(x, y.tolist()):
                seen[label] = torch.equal(image, mirrored[label])
                assert seen[label] or torch.equal(image, plain[label])   # shift=0: no other change
        return seen

    alternate = Loader(ds, 32, shuffle=True, augment=True, shift=0, flip="alternate", seed=5)
    epochs = [mirrored_in_an_epoch(alternate) for _ in range(4)]
    for this_epoch, next_epoch in zip(epochs, epochs[1:]):
        assert torch.equal(this_epoch, ~next_epoch)
    assert 30 < int(epochs[0].sum()) < 70        # it starts from a random half
    random = Loader(ds, 32, shuffle=True, augment=True, shift=0, flip="random", seed=5)
    first, second = mirrored_in_an_epoch(random), mirrored_in_an_epoch(random)
    assert (first == second).any()                # random flips show some images the same way twice


def test_normalise_matches_the_textbook_formula():
    images = random_images(8)
    x = normalise(images, MEAN, STD)
    expected = (images.float() / 255 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    assert x.dtype == torch.float32
    assert torch.allclose(x, expected, atol=1e-6)


def test_loader_yields_normalised_float_batches_covering_each_image_once():
    ds = random_set(100)
    loader = Loader(ds, batch_size=32, shuffle=True, seed=0)
    assert len(loader) == 4 and len(Loader(ds, batch_size=32, drop_last=True)) == 3
    batches = list(loader)
    assert [len(y) for _, y in batches] == [32, 32, 32, 4]
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (32, 3, 32, 32) and y.dtype == torch.int64
    # Without augmentation the batch is exactly the normalised images: recover them and match.
    all_x = torch.cat([x for x, _ in batches])
    pixels = (all_x * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)) * 255
    pixels = pixels.round().to(torch.uint8)
    order = [next(i for i in range(100) if torch.equal(ds.images[i], p)) for p in pixels]
    assert sorted(order) == list(range(100))
    assert torch.cat([y for _, y in batches]).tolist() == ds.labels[order].tolist()


def test_loader_without_shuffle_keeps_dataset_order():
    ds = random_set(50)
    x, y = next(iter(Loader(ds, batch_size=50)))
    assert torch.equal(y, ds.labels)
    assert torch.allclose(x, normalise(ds.images, MEAN, STD))


def test_loader_uses_given_statistics():
    ds = random_set(10)
    x, _ = next(iter(Loader(ds, batch_size=10, mean=(0, 0, 0), std=(1, 1, 1))))
    assert torch.allclose(x, ds.images.float() / 255)


def epochs(loader, n):
    return [[(x.clone(), y.clone()) for x, y in loader] for _ in range(n)]


def same(epoch_a, epoch_b):
    return all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b))


def test_loader_repeats_exactly_for_the_same_seed_and_epoch():
    ds = random_set(100)
    first = epochs(Loader(ds, batch_size=16, shuffle=True, augment=True, seed=7), 2)
    second = epochs(Loader(ds, batch_size=16, shuffle=True, augment=True, seed=7), 2)
    assert same(first[0], second[0]) and same(first[1], second[1])
    assert not same(first[0], first[1])  # a new epoch is a new shuffle and new augmentation
    other_seed = epochs(Loader(ds, batch_size=16, shuffle=True, augment=True, seed=8), 1)
    assert not same(first[0], other_seed[0])
    resumed = Loader(ds, batch_size=16, shuffle=True, augment=True, seed=7)
    resumed.epoch = 1
    assert same(epochs(resumed, 1)[0], first[1])


def test_channels_last_keeps_values():
    ds = random_set(20)
    x, _ = next(iter(Loader(ds, batch_size=20, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, normalise(ds.images, MEAN, STD))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_loader_gives_the_cpu_batches():
    ds = random_set(100)
    cpu = epochs(Loader(ds, batch_size=32, shuffle=True, augment=True, seed=3), 1)[0]
    gpu = epochs(Loader(ds, batch_size=32, shuffle=True, augment=True, seed=3, device="cuda"), 1)[0]
    assert gpu[0][0].device.type == "cuda"
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert torch.equal(yc, yg.cpu()) and torch.allclose(xc, xg.cpu(), atol=1e-6)


def test_measure_loader_throughput_counts_images():
    # How many per second is the benchmark's to judge (`bench --only loader`); here, that it counts some.
    rate = measure_loader_throughput(random_set(1024), batch_size=256, seconds=0.2)
    assert rate > 0
