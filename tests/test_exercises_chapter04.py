"""Chapter 04 checks accept the reference answers and reject the typical wrong ones with the right hint."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons.exercises import chapter04 as ex


def unfinished(*args):
    raise NotImplementedError


def test_practice_models_differ_by_seed_and_have_set_statistics():
    a, b = ex.practice_model(10, seed=1), ex.practice_model(10, seed=2)
    assert ex._same(a, b)  # some entries differ
    assert (a.stem.bn.running_var > 0.4).all()  # not the default 1.0 everywhere: copying buffers is tested


def copy_backbone(source, target):
    backbone = {name: tensor for name, tensor in source.state_dict().items() if not name.startswith("head.")}
    target.load_state_dict(backbone, strict=False)


def test_copy_backbone_accepts_reference_and_explains_mistakes():
    assert ex.check_copy_backbone(copy_backbone).ok
    whole = ex.check_copy_backbone(lambda s, t: t.load_state_dict(s.state_dict(), strict=False))
    assert not whole.ok and "SHAPE" in whole.message

    def parameters_only(source, target):
        with torch.no_grad():
            for (name, p), q in zip(source.named_parameters(), target.parameters()):
                if not name.startswith("head."):
                    q.copy_(p)

    buffers = ex.check_copy_backbone(parameters_only)
    assert not buffers.ok and "BatchNorm statistics" in buffers.message
    assert not ex.check_copy_backbone(lambda s, t: None).ok
    assert not ex.check_copy_backbone(unfinished).ok


def freeze_first(model, k):
    for index, stage in enumerate(model.children()):
        stage.requires_grad_(index >= k)


def test_freeze_first_accepts_reference_and_explains_mistakes():
    assert ex.check_freeze_first(freeze_first).ok

    def freeze_last(model, k):
        stages = list(model.children())
        for index, stage in enumerate(stages):
            stage.requires_grad_(index < len(stages) - k)

    last = ex.check_freeze_first(freeze_last)
    assert not last.ok and "LAST" in last.message

    def only_freezes(model, k):  # never unfreezes what a previous call froze
        for stage in list(model.children())[:k]:
            stage.requires_grad_(False)

    assert not ex.check_freeze_first(only_freezes).ok
    assert not ex.check_freeze_first(unfinished).ok


def test_flattened_size_accepts_reference_and_explains_mistakes():
    assert ex.check_flattened_size(lambda backbone, size: backbone(torch.zeros(1, 3, size, size)).numel()).ok
    batch = ex.check_flattened_size(lambda backbone, size: backbone(torch.zeros(2, 3, size, size)).numel())
    assert not batch.ok and "ONE image" in batch.message
    fixed = ex.check_flattened_size(lambda backbone, size: 128 * 7 * 7)
    assert not fixed.ok and "6272" in fixed.message
    assert not ex.check_flattened_size(lambda backbone, size: ...).ok
    assert not ex.check_flattened_size(unfinished).ok


def test_one_hot_mse_accepts_reference_and_explains_mistakes():
    assert ex.check_one_hot_mse(lambda o, y: F.mse_loss(o, F.one_hot(y, o.shape[1]).float())).ok
    summed = ex.check_one_hot_mse(lambda o, y: ((o - F.one_hot(y, o.shape[1])) ** 2).sum())
    assert not summed.ok and "sum" in summed.message
    per_row = ex.check_one_hot_mse(lambda o, y: ((o - F.one_hot(y, o.shape[1])) ** 2).sum(1).mean())
    assert not per_row.ok and "every entry" in per_row.message
    labels_only = ex.check_one_hot_mse(lambda o, y: F.mse_loss(o.argmax(1).float(), y.float()))
    assert not labels_only.ok
    assert not ex.check_one_hot_mse(unfinished).ok


def test_cifar10_again_accepts_reference_and_explains_mistakes():
    reference = ex.check_cifar10_again(lambda ft, src: nn.Sequential(*list(ft.children())[:-1], copy.deepcopy(src.head)))
    assert reference.ok
    itself = ex.check_cifar10_again(lambda ft, src: src)
    assert not itself.ok and "source model itself" in itself.message

    def in_place(finetuned, source):
        finetuned.head = copy.deepcopy(source.head)
        return finetuned

    changed = ex.check_cifar10_again(in_place)
    assert not changed.ok and "changed the fine-tuned model" in changed.message
    hundred = ex.check_cifar10_again(lambda ft, src: ft)
    assert not hundred.ok and "10 CIFAR-10 scores" in hundred.message
    assert not ex.check_cifar10_again(unfinished).ok


def test_a_predicted_ranking_is_judged_by_the_calibrated_comparison(capsys):
    # Five seeds of 400 test answers each: freeze far above both, linear_probe and scratch alike.
    generator = torch.Generator().manual_seed(0)
    rate = {"scratch": 0.05, "linear_probe": 0.06, "freeze": 0.30}
    runs = [{"strategy": name, "config": {"seed": seed},
             "test_correct": "".join("1" if x else "0" for x in (torch.rand(400, generator=generator) < p).tolist())}
            for name, p in rate.items() for seed in range(5)]
    good = ex.check_predicted_ranking(["freeze", "linear_probe", "scratch"], runs)
    assert good.ok and "too close to call (within the noise): linear_probe above scratch" in good.message
    assert "right beyond the noise: freeze above linear_probe, freeze above scratch" in good.message
    bad = ex.check_predicted_ranking(["scratch", "freeze"], runs)
    assert not bad.ok and "disagrees with scratch above freeze (measured" in bad.message
    assert not ex.check_predicted_ranking(None, runs).ok
    assert "is not among the strategies" in ex.check_predicted_ranking(["magic"], runs).message
