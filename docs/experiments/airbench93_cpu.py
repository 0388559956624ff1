"""CIFAR-10 in a few CPU minutes: a small whitened VGG-style net and a short, carefully tuned run.

The method follows the ideas of Keller Jordan's airbench ("94% on CIFAR-10 in 3.29 seconds on a
single GPU", 2024) -- data-initialised whitening stem, identity-initialised convolutions,
BatchNorm with frozen scale and a fast-learning shift, decoupled SGD-Nesterov, label smoothing,
lookahead averaging of the weights, alternating flips, 2-pixel translations and test-time
views -- written from scratch for this kit, as named stages (`stem, stage1..3, head`).

    python docs/experiments/airbench93_cpu.py --epochs 10 --val     # train on 45,000 images, report the 5,000 held out
    python docs/experiments/airbench93_cpu.py --epochs 10 --test    # train on all 50,000, report the 10,000 test images

Every wall time printed counts from the start of the process (imports excepted): reading the
data, building and (optionally) compiling the net, training, and the test-time views.
"""
import argparse
import json
import math
import os
import pickle
import time
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

DATA = Path(os.environ.get("TL_LESSONS_DATA", "/work/data")) / "cifar-10-batches-py"
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


# ----------------------------------------------------------------------------------------- data

def read_cifar10(split):
    """uint8 images (N, 3, 32, 32) and int64 labels from the official python pickles."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for name in names:
        with open(DATA / name, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        images.append(torch.from_numpy(batch[b"data"]).view(-1, 3, 32, 32))
        labels.append(torch.tensor(batch[b"labels"], dtype=torch.long))
    return torch.cat(images), torch.cat(labels)


def held_out_rows(labels, per_class=500):
    """The validation split: the last `per_class` training images of every class (5,000 in all)."""
    chosen = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(10):
        rows = (labels == c).nonzero().squeeze(1)
        chosen[rows[-per_class:]] = True
    return chosen


def load(mode):
    """(train images, train labels, eval images, eval labels) for mode "val" or "test"."""
    x, y = read_cifar10("train")
    if mode == "val":
        held = held_out_rows(y)
        return x[~held], y[~held], x[held], y[held]
    tx, ty = read_cifar10("test")
    return x, y, tx, ty


def normalise(images_uint8):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images_uint8.float().div_(255) - mean) / std


def reflect_pad(x, s):
    """F.pad(x, (s,) * 4, mode="reflect") for any dtype (uint8 here), by slice copies."""
    n, c, h, w = x.shape
    out = x.new_empty(n, c, h + 2 * s, w + 2 * s)
    out[:, :, s:s + h, s:s + w] = x
    for j in range(1, s + 1):  # rows, then columns (which fills the corners too)
        out[:, :, s - j, s:s + w] = x[:, :, j]
        out[:, :, s + h - 1 + j, s:s + w] = x[:, :, h - 1 - j]
    for j in range(1, s + 1):
        out[:, :, :, s - j] = out[:, :, :, s + j]
        out[:, :, :, s + w - 1 + j] = out[:, :, :, s + w - 1 - j]
    return out


class Batches:
    """Shuffled training batches with 2-pixel reflected translations and alternating flips.

    Every image gets one random mirror at the start; from then on all images are mirrored
    together in every other epoch, so each image is seen both ways in any two epochs in a row.
    """

    def __init__(self, images, labels, batch_size, shift=2, flip="alternate", generator=None):
        self.labels, self.batch_size, self.shift, self.flip = labels, batch_size, shift, flip
        self.gen = generator or torch.Generator().manual_seed(0)
        x = images.clone()                     # uint8 until the batch is cut: cheap to set up
        if flip != "none":
            mirrored = torch.rand(len(x), generator=self.gen) < 0.5
            x[mirrored] = x[mirrored].flip(3)
        self.padded = reflect_pad(x, shift) if shift else x
        self.epoch = 0

    def __len__(self):
        return len(self.labels) // self.batch_size  # the last partial batch is dropped

    def __iter__(self):
        order = torch.randperm(len(self.labels), generator=self.gen)
        mirror_all = self.flip == "alternate" and self.epoch % 2 == 1
        self.epoch += 1
        s = self.shift
        for b in range(len(self)):
            rows = order[b * self.batch_size:(b + 1) * self.batch_size]
            src = self.padded.index_select(0, rows)
            if s:
                offsets = torch.randint(0, (2 * s + 1) ** 2, (len(rows),), generator=self.gen)
                x = torch.empty(len(rows), 3, 32, 32, dtype=src.dtype)
                for o in range(offsets.max().item() + 1):
                    group = (offsets == o).nonzero().squeeze(1)
                    if len(group):
                        dy, dx = divmod(o, 2 * s + 1)
                        x[group] = src[group, :, dy:dy + 32, dx:dx + 32]
            else:
                x = src
            if self.flip == "random":
                m = torch.rand(len(rows), generator=self.gen) < 0.5
                x[m] = x[m].flip(3)
            elif mirror_all:
                x = x.flip(3)
            yield normalise(x).contiguous(memory_format=torch.channels_last), self.labels[rows]


# -------------------------------------------------------------------------------------- network

class Scale(nn.Module):
    """Multiplies by a fixed number (no parameters)."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def batchnorm(channels, momentum):
    """BatchNorm whose scale stays at 1 (only its shift learns); `momentum` is PyTorch's."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=momentum)
    bn.weight.requires_grad = False
    return bn


def identity_start(conv):
    """The first in_channels filters start as identity maps, the rest keep PyTorch's init."""
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:conv.in_channels])
    return conv


def conv_group(cin, cout, bn_momentum, act):
    """conv 3x3 -> max-pool 2 -> BN -> act -> conv 3x3 -> BN -> act (no skip connection)."""
    return nn.Sequential(OrderedDict(
        conv1=identity_start(nn.Conv2d(cin, cout, 3, padding=1, bias=False)),
        pool=nn.MaxPool2d(2),
        norm1=batchnorm(cout, bn_momentum), act1=act(),
        conv2=identity_start(nn.Conv2d(cout, cout, 3, padding=1, bias=False)),
        norm2=batchnorm(cout, bn_momentum), act2=act()))


def build_net(widths=(64, 128, 128), stem_kernel=2, bn_momentum=0.4, logit_scale=1 / 9, act="gelu",
              num_classes=10):
    """stem (whitening conv + act), stage1..3 (conv groups), head (max-pool, scale, linear)."""
    act_cls = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}[act]
    stem_width = 2 * 3 * stem_kernel ** 2
    net = nn.Sequential(OrderedDict(
        stem=nn.Sequential(OrderedDict(conv=nn.Conv2d(3, stem_width, stem_kernel, bias=True), act=act_cls())),
        stage1=conv_group(stem_width, widths[0], bn_momentum, act_cls),
        stage2=conv_group(widths[0], widths[1], bn_momentum, act_cls),
        stage3=conv_group(widths[1], widths[2], bn_momentum, act_cls),
        head=nn.Sequential(OrderedDict(
            pool=nn.AdaptiveMaxPool2d(1), flatten=nn.Flatten(), scale=Scale(logit_scale),
            fc=nn.Linear(widths[2], num_classes, bias=False)))))
    net.stem.conv.weight.requires_grad = False  # set from the data, never trained
    with torch.no_grad():
        net.stem.conv.bias.zero_()
    return net


@torch.no_grad()
def init_whitening(conv, images, eps=5e-4):
    """Stem filters that whiten k x k patches: the patch covariance's eigenvectors divided by the
    square root of their eigenvalues, each filter together with its negative (so 2 * 3 * k * k)."""
    k = conv.kernel_size[0]
    patches = F.unfold(images, k)                                  # N, 3*k*k, positions
    covariance = torch.bmm(patches, patches.transpose(1, 2)).sum(0).double() / (len(images) * patches.shape[2])
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)      # second moment, not centred
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).flip(0)  # largest first
    filters = filters.view(-1, 3, k, k).float()
    conv.weight.copy_(torch.cat([filters, -filters]))


# ------------------------------------------------------------------------------------- training

class Lookahead:
    """An average of the weights (and BN statistics) that the net is pulled back onto every few steps."""

    def __init__(self, net):
        self.tensors = [t for t in net.state_dict().values() if t.is_floating_point()]
        self.average = [t.detach().clone() for t in self.tensors]

    @torch.no_grad()
    def pull(self, keep):
        """average <- keep * average + (1 - keep) * weights; then weights <- average."""
        for avg, t in zip(self.average, self.tensors):
            avg.lerp_(t, 1 - keep)
            t.copy_(avg)


def lr_factor(step, total, start=0.2, peak_at=0.23, end=0.07):
    """Piecewise-linear schedule: `start` -> 1 at `peak_at` of the run -> `end` at its last step."""
    peak = int(peak_at * total)
    if step < peak:
        return start + (1 - start) * step / peak
    return 1 + (end - 1) * (step - peak) / max(1, total - peak)


def evaluate(net, images, labels, tta=2, batch=1000, bf16=False):
    """Accuracy with test-time views: 0 = the image; 1 = mean with its mirror; 2 = half that, plus
    half the mirrored views of the image shifted one pixel up-left and one down-right."""
    net.eval()
    correct = 0

    def mirrored(x):
        cl = torch.channels_last
        out = net(x.contiguous(memory_format=cl)).float()
        if tta >= 1:
            out = 0.5 * out + 0.5 * net(x.flip(3).contiguous(memory_format=cl)).float()
        return out

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(images), batch):
            x = normalise(images[i:i + batch])
            logits = mirrored(x)
            if tta >= 2:
                p = F.pad(x, (1,) * 4, mode="reflect")
                shifted = 0.5 * (mirrored(p[:, :, :32, :32]) + mirrored(p[:, :, 2:, 2:]))
                logits = 0.5 * logits + 0.5 * shifted
            correct += (logits.argmax(1) == labels[i:i + batch]).sum().item()
    net.train()
    return correct / len(images)


def machine_busy_s():
    """CPU seconds used so far by the whole machine (all processes), from /proc/stat (Linux)."""
    try:
        f = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def run(args, started=None):
    started = started or time.perf_counter()
    busy0, cpu0 = machine_busy_s(), time.process_time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y, eval_x, eval_y = load("test" if args.test else "val")
    t_data = time.perf_counter() - started

    net = build_net(tuple(args.widths), args.stem_kernel, 1 - args.bn_keep, args.logit_scale, args.act)
    init_whitening(net.stem.conv, normalise(train_x[:args.whiten_images]))
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    batches = Batches(train_x, train_y, args.batch_size, args.shift, args.flip,
                      torch.Generator().manual_seed(args.seed))

    # Hyper-parameters per 1024 images, turned into PyTorch SGD's: with Nesterov momentum m the
    # steady-state step is (1 + 1/(1-m)) times the gradient, so the rate is divided by that too.
    per_1024 = 1024 * (1 + 1 / (1 - args.momentum))
    lr = args.lr / per_1024
    decay = args.wd * args.batch_size / per_1024           # weight shrink per step, at schedule 1
    bn_shifts = [p for n, p in net.named_parameters() if ".norm" in n and p.requires_grad]
    others = [p for n, p in net.named_parameters() if ".norm" not in n and p.requires_grad]
    stem_bias = net.stem.conv.bias
    groups = [dict(params=bn_shifts, lr=lr * args.bias_scale, weight_decay=decay / (lr * args.bias_scale)),
              dict(params=others, lr=lr, weight_decay=decay / lr)]
    opt = torch.optim.SGD(groups, momentum=args.momentum, nesterov=True)
    base_lrs = [g["lr"] for g in opt.param_groups]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing, reduction="sum")

    model = torch.compile(net) if args.compile else net
    total = math.ceil(len(batches) * args.epochs)
    step, lookahead, log = 0, None, []
    t_setup = time.perf_counter() - started
    train_time = 0.0
    for epoch in range(math.ceil(args.epochs)):
        stem_bias.requires_grad = epoch < args.whiten_bias_epochs
        t0 = time.perf_counter()
        for x, y in batches:
            if args.low_res and step < args.low_res_epochs * len(batches):  # progressive resizing
                x = F.interpolate(x, size=args.low_res, mode="bilinear", antialias=True, align_corners=False)
                x = x.contiguous(memory_format=torch.channels_last)
            f = lr_factor(step, total, args.lr_start, args.lr_peak_at, args.lr_end)
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * f
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(args.bf16)):
                out = model(x)
            loss = loss_fn(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if args.lookahead and step >= args.lookahead_from * len(batches) and step % args.lookahead_every == 0:
                if lookahead is None:
                    lookahead = Lookahead(net)
                else:
                    lookahead.pull(args.lookahead_keep ** args.lookahead_every * (step / total) ** 3)
            if step >= total:
                break
        if lookahead is not None:
            lookahead.pull(0.0)  # the net ends every epoch exactly on the average
        train_time += time.perf_counter() - t0
        entry = dict(epoch=epoch + 1, loss=loss.item() / len(y), elapsed=time.perf_counter() - started,
                     train_s=train_time)
        if args.eval_every_epoch and epoch + 1 < math.ceil(args.epochs):
            entry["acc_plain"] = evaluate(net, eval_x, eval_y, 0, bf16=bool(args.bf16))
        print(json.dumps(entry), flush=True)
        log.append(entry)
        if step >= total:
            break
    t_eval0 = time.perf_counter()
    acc = evaluate(net, eval_x, eval_y, args.tta, bf16=bool(args.bf16))
    t_eval = time.perf_counter() - t_eval0
    cpu_s = time.process_time()
    # Cores that *other* processes kept busy, on average, while this run was timed.
    others_busy = (machine_busy_s() - busy0 - (cpu_s - cpu0)) / (time.perf_counter() - started)
    # Untimed extras for choosing the test-time views on validation runs.
    acc_by_tta = {t: evaluate(net, eval_x, eval_y, t, bf16=bool(args.bf16)) for t in (0, 1, 2) if t != args.tta} \
        if args.also_plain else {}
    acc_by_tta[args.tta] = acc
    wall = t_eval0 - started + t_eval
    images = total * args.batch_size
    result = dict(mode="test" if args.test else "val", epochs=args.epochs, acc=acc, acc_by_tta_untimed=acc_by_tta,
                  wall_s=round(wall, 1), data_s=round(t_data, 1), setup_s=round(t_setup, 1),
                  train_s=round(train_time, 1), eval_s=round(t_eval, 1),
                  train_img_per_s=round(images / train_time, 1), process_cpu_s=round(cpu_s, 1),
                  others_cores=round(others_busy, 2), load_avg=os.getloadavg(),
                  args=vars(args))
    print("RESULT " + json.dumps(result), flush=True)
    return result


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--val", action="store_true", help="train on 45,000, evaluate on 5,000 held-out training images")
    mode.add_argument("--test", action="store_true", help="train on all 50,000, evaluate on the test set")
    a = p.add_argument
    a("--epochs", type=float, default=10)
    a("--batch-size", type=int, default=1024)
    a("--lr", type=float, default=11.5, help="per 1024 images (decoupled from momentum)")
    a("--momentum", type=float, default=0.85)
    a("--wd", type=float, default=0.0153, help="per 1024 images (decoupled from the lr)")
    a("--bias-scale", type=float, default=64.0, help="lr multiplier for the BatchNorm shifts")
    a("--label-smoothing", type=float, default=0.2)
    a("--lr-start", type=float, default=0.2)
    a("--lr-peak-at", type=float, default=0.23)
    a("--lr-end", type=float, default=0.07)
    a("--whiten-bias-epochs", type=int, default=3)
    a("--whiten-images", type=int, default=5000)
    a("--bn-keep", type=float, default=0.6, help="share of the old BN running statistics kept per step")
    a("--lookahead", type=int, default=1)
    a("--lookahead-from", type=float, default=3, help="lookahead averaging starts after this many epochs")
    a("--lookahead-every", type=int, default=5)
    a("--lookahead-keep", type=float, default=0.95)
    a("--widths", type=int, nargs=3, default=[64, 128, 128])
    a("--stem-kernel", type=int, default=2)
    a("--act", default="gelu")
    a("--logit-scale", type=float, default=1 / 9)
    a("--shift", type=int, default=2)
    a("--flip", default="alternate", choices=["alternate", "random", "none"])
    a("--low-res", type=int, default=0, help="train the first --low-res-epochs at this size (0 = never)")
    a("--low-res-epochs", type=float, default=0)
    a("--tta", type=int, default=2)
    a("--bf16", type=int, default=0)
    a("--channels-last", type=int, default=1)
    a("--compile", type=int, default=0)
    a("--threads", type=int, default=2)
    a("--seed", type=int, default=0)
    a("--eval-every-epoch", type=int, default=0)
    a("--also-plain", type=int, default=0, help="also report the accuracy with the other test-time view levels (untimed)")
    return p


if __name__ == "__main__":
    t = time.perf_counter()
    run(parser().parse_args(), started=t)
