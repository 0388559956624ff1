"""The kit's own printing (tl_lessons.text), checked against what PyTorch computes."""
import math

import torch
from torch import nn

from tl_lessons import models, text


def test_numbers_fixed_decimals_and_aligned_rows():
    assert text.numbers(torch.tensor([-200.0, 0.0])) == "[-200.0000, 0.0000]"
    assert text.numbers(torch.tensor(0.5), decimals=2) == "0.50"
    shown = text.numbers(torch.tensor([[0.09003, 0.24473], [math.nan, 1.0]]))
    assert shown == "[[0.0900, 0.2447],\n [   nan, 1.0000]]"
    assert text.numbers([float("-inf"), float("inf")]) == "[-inf, inf]"


def test_table_aligns_numbers_right_and_words_left():
    rows = [{"stage": "stem", "params": "464"}, {"stage": "head", "params": "1,290"}]
    assert text.table(rows).splitlines() == ["stage  params", "stem      464", "head    1,290"]
    assert text.table(rows, ["params"]).splitlines() == ["params", "   464", " 1,290"]
    assert text.table([]) == ""


def test_layers_in_words():
    assert text.layer(nn.Conv2d(3, 6, 5)) == "conv 3 -> 6 channels, 5x5"
    assert text.layer(nn.Conv2d(16, 32, 3, stride=2, padding=1)) == "conv 16 -> 32 channels, 3x3, stride 2, padding 1"
    assert text.layer(nn.Linear(84, 10)) == "linear 84 -> 10"
    assert text.layer(nn.MaxPool2d(2)) == "max-pool 2x2"
    assert text.layer(nn.AdaptiveAvgPool2d(1)) == "global average-pool"
    assert text.layer(nn.ReLU()) == "relu"


def test_architecture_lists_every_stage_with_its_parameters():
    model = models.TutorialNet(10)
    lines = text.architecture(model).splitlines()
    assert lines[0].split() == ["stage", "parameters", "layers"]
    assert [line.split()[0] for line in lines[1:]] == models.stage_names(model)
    assert "456" in lines[1] and "conv 3 -> 6 channels, 5x5" in lines[1]
    assert "linear 84 -> 10" in lines[-1]


def test_linear_mismatch_agrees_with_pytorch():
    features = torch.zeros(1, 128, 4, 4)
    wrong, right = nn.Linear(128 * 7 * 7, 100), nn.Linear(128 * 4 * 4, 100)
    try:
        wrong(features.flatten(1))
        raised = False
    except RuntimeError:
        raised = True
    assert raised
    assert text.linear_mismatch(wrong, features) == (
        "each image arrives as 128x4x4 = 2,048 numbers, but the linear layer expects 6,272 inputs")
    assert right(features.flatten(1)).shape == (1, 100) and text.linear_mismatch(right, features) is None


def test_state_mismatches_are_the_tensors_load_state_dict_refuses():
    source, target = models.FastNet(10), models.FastNet(100)
    refused = False
    try:
        target.load_state_dict(source.state_dict())
    except RuntimeError:
        refused = True
    assert refused
    assert text.state_mismatches(source.state_dict(), target) == [
        "head.fc.weight: 10x128 saved, 100x128 in the model", "head.fc.bias: 10 saved, 100 in the model"]
    assert text.state_mismatches(source.state_dict(), models.FastNet(10)) == []


def test_code_shows_a_function_without_its_docstring():
    shown = text.code(models.replace_head)
    assert shown.startswith("def replace_head(model, num_classes):")
    assert '"""' not in shown and "model.head[-1] = new" in shown
    assert len(shown.splitlines()) < len(__import__("inspect").getsource(models.replace_head).splitlines())


def test_durations_read_as_a_learner_reads_them():
    assert [text.duration(s) for s in (14.6, 89, 125, 3599, 3600, 4000, 5400)] == [
        "15 s", "89 s", "2 min", "1 h", "1 h", "1 h 7 min", "1 h 30 min"]
