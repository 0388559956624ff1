"""The runs behind README's "Why `full` misses 92 %": bigger networks than FastNet on this CPU.

Not part of the kit or its tests; one-off measurements kept so that anyone can repeat them
(each takes 8-10 minutes on the 2-core development machine and needs the real CIFAR-10):

    python docs/experiments/full_preset_attempts.py wide            # FastNet x2, 12 epochs: 86.0 %
    python docs/experiments/full_preset_attempts.py airbench-shape  # kit recipe, 4 epochs: 83.5 %
    python docs/experiments/full_preset_attempts.py airbench-style  # 5 epochs + tricks: 87.2 %

"airbench" is Keller Jordan's CIFAR-10 speed-run (2024); the network here has its shape and the
third run rebuilds several of its ideas from the paper's description, not its code.
"""
import dataclasses
import sys
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons import data, models, train


def conv_pool_block(in_channels, out_channels, bn_momentum):
    """airbench's block: conv, 2x2 max-pool, BN, GELU, conv, BN, GELU (no skip connection)."""
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), pool=nn.MaxPool2d(2),
        bn1=nn.BatchNorm2d(out_channels, momentum=bn_momentum), act1=nn.GELU(),
        conv2=nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        bn2=nn.BatchNorm2d(out_channels, momentum=bn_momentum), act2=nn.GELU()))


def airbench_shaped(widths=(64, 256, 256), num_classes=10, bn_momentum=0.1):
    """A 2x2 stem conv to 24 channels, three conv-pool blocks, max-pool, linear head (logits / 9)."""
    return nn.Sequential(OrderedDict(
        stem=nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 24, 2), act=nn.GELU())),
        stage1=conv_pool_block(24, widths[0], bn_momentum),
        stage2=conv_pool_block(widths[0], widths[1], bn_momentum),
        stage3=conv_pool_block(widths[1], widths[2], bn_momentum),
        head=nn.Sequential(OrderedDict(pool=nn.AdaptiveMaxPool2d(1), flatten=nn.Flatten(),
                                       scale=models.Scale(1 / 9), fc=nn.Linear(widths[2], num_classes, bias=False)))))


def with_fit(model, epochs, **changes):
    """Train with the kit's `fit` (the `full` recipe, `changes` applied), test accuracy per epoch."""
    train_set, test_set = data.load_cifar10("train"), data.load_cifar10("test")
    config = dataclasses.replace(train.PRESETS["full"], epochs=epochs, **changes)
    for event in train.fit(model, train_set, test_set, config):
        if event["kind"] == "epoch":
            print(f"epoch {event['epoch']}: test {event['val_acc']:.2%}, {event['elapsed']:.0f} s "
                  f"({event['val_seconds']:.0f} s of them testing)", flush=True)


def whitening_filters(images, eps=5e-4):
    """24 filters of 2x2 pixels that decorrelate image patches: eigenvectors of the patch covariance,
    scaled by 1/sqrt(eigenvalue), each with its negative."""
    patches = F.unfold(images, 2).transpose(1, 2).reshape(-1, 12)
    patches = patches - patches.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
    filters = eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]
    return torch.cat([filters, -filters]).view(24, 3, 2, 2)


def airbench_style(epochs=5, batch_size=512, lr=0.4, shift=2):
    """The airbench-shaped net with a whitened, frozen stem, partial-identity convolutions,
    2-pixel shifts (reflected borders), alternating flips, label smoothing 0.2 and, at test
    time, the average over the image, its mirror and shifted copies. Prints the time, data included."""
    started = time.perf_counter()
    torch.manual_seed(0)
    train_set, test_set = data.load_cifar10("train"), data.load_cifar10("test")
    mean, std = torch.tensor(train_set.mean).view(1, 3, 1, 1), torch.tensor(train_set.std).view(1, 3, 1, 1)
    train_x, test_x = [((ds.images.float() / 255) - mean) / std for ds in (train_set, test_set)]
    padded = F.pad(train_x, (shift,) * 4, mode="reflect")
    model = airbench_shaped(bn_momentum=0.4)  # running statistics that keep up with a short run
    with torch.no_grad():
        model.stem.conv.weight.copy_(whitening_filters(train_x[torch.randperm(len(train_x))[:5000]]))
        model.stem.conv.bias.zero_()
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                nn.init.dirac_(module.weight[:module.in_channels])  # the first filters pass their input on
    model.stem.conv.weight.requires_grad = False
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9,
                                nesterov=True, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(0)
    first_flip = torch.rand(len(train_x), generator=generator) < 0.5
    steps_per_epoch = len(train_x) // batch_size
    total = epochs * steps_per_epoch
    warmup = int(0.2 * total)
    step = 0
    for epoch in range(epochs):
        order = torch.randperm(len(train_x), generator=generator)
        for b in range(steps_per_epoch):
            rows = order[b * batch_size:(b + 1) * batch_size]
            offsets = torch.randint(0, (2 * shift + 1) ** 2, (len(rows),), generator=generator)
            x = torch.empty(len(rows), 3, 32, 32)
            for offset in offsets.unique().tolist():
                same = (offsets == offset).nonzero().squeeze(1)
                dy, dx = divmod(offset, 2 * shift + 1)
                x[same] = padded[rows[same], :, dy:dy + 32, dx:dx + 32]
            mirrored = first_flip[rows] ^ bool(epoch % 2)  # every image flips every other epoch
            x[mirrored] = x[mirrored].flip(3)
            rate = (step + 1) / warmup if step < warmup else (total - step) / (total - warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr * rate
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits.float(), train_set.labels[rows], label_smoothing=0.2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
        print(f"epoch {epoch + 1}: {time.perf_counter() - started:.0f} s", flush=True)
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(test_x), 1000):
            x = test_x[i:i + 1000]
            views = [x, F.pad(x, (1,) * 4, mode="reflect")[:, :, :32, :32], F.pad(x, (1,) * 4, mode="reflect")[:, :, 2:, 2:]]
            weights = [1.0, 0.5, 0.5]
            logits = sum(w * (model(v.contiguous(memory_format=torch.channels_last)).float()
                              + model(v.flip(3).contiguous(memory_format=torch.channels_last)).float())
                         for w, v in zip(weights, views))
            correct += (logits.argmax(1) == test_set.labels[i:i + 1000]).sum().item()
    print(f"test accuracy {correct / len(test_x):.2%} after {time.perf_counter() - started:.0f} s, data and testing included")


if __name__ == "__main__":
    torch.set_num_threads(train.cpu_threads())
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "wide":
        torch.manual_seed(0)
        with_fit(models.FastNet(10, width=(32, 64, 128, 256)), epochs=12)
    elif which == "airbench-shape":
        torch.manual_seed(0)
        with_fit(airbench_shaped(), epochs=4, label_smoothing=0.2)
    elif which == "airbench-style":
        airbench_style()
    else:
        sys.exit("Say which run: wide, airbench-shape or airbench-style (see this file's docstring).")
