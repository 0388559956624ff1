"""Tests for tl_lessons.transfer: what each strategy freezes, BatchNorm, learning rates, schedules."""
import pytest
import torch
from torch.nn import functional as F

from tl_lessons.errors import ConfigError
from tl_lessons.models import FastNet, TutorialNet, count_parameters, stage_names
from tl_lessons.transfer import (OPTIONS, SCHEDULED, STRATEGIES, STRATEGY_TABLE, Strategy, apply_strategy,
                                 cached_prefix, describe, describe_text, frozen_stages, on_epoch_start,
                                 option_problems, param_groups, reset_parameters, schedule_problem, set_train_mode,
                                 split_model)

STAGES = ["stem", "stage1", "stage2", "stage3", "head"]


def small_fastnet(num_classes=10):
    torch.manual_seed(0)
    return FastNet(num_classes, width=(4, 8, 8, 16))


def batch(n=16, num_classes=10, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=generator), torch.randint(0, num_classes, (n,), generator=generator)


def train_steps(model, strategy, optimizer, steps=3):
    x, y = batch()
    set_train_mode(model, strategy)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def snapshot(module):
    return {name: tensor.clone() for name, tensor in module.state_dict().items()}


def changed(before, module, keep=lambda name: True):
    """The state entries (parameters and BatchNorm buffers) that differ from `before`."""
    return {name for name, tensor in module.state_dict().items()
            if keep(name) and not torch.equal(tensor, before[name])}


@pytest.mark.parametrize("name, options, frozen", [
    ("scratch", {}, []),
    ("linear_probe", {}, STAGES[:-1]),
    ("freeze", {"k": 0}, []),
    ("freeze", {"k": 2}, ["stem", "stage1"]),
    ("freeze", {"k": 4}, STAGES[:-1]),
    ("finetune", {}, []),
    ("discriminative", {}, []),
    ("gradual", {}, STAGES[:-1]),
    ("head_first", {}, STAGES[:-1]),
])
def test_what_each_strategy_freezes_at_the_start(name, options, frozen):
    model = small_fastnet()
    strategy = apply_strategy(model, name, **options)
    assert strategy.name == name and frozen_stages(model) == frozen
    for stage_name, stage in model.named_children():
        assert all(p.requires_grad == (stage_name not in frozen) for p in stage.parameters())
    assert set(STRATEGIES) == {"scratch", "linear_probe", "freeze", "finetune", "discriminative", "gradual",
                               "head_first"}


@pytest.mark.parametrize("name", STRATEGIES)
def test_the_strategy_table_agrees_with_what_each_strategy_does(name):
    row = STRATEGY_TABLE[name]
    assert set(row.options) <= set(OPTIONS) and row.title and row.summary and row.lr > 0
    # "scheduled" is exactly the strategies whose frozen part changes from epoch to epoch.
    counts = {Strategy(name).frozen_count(len(STAGES), epoch) for epoch in range(10)}
    assert (len(counts) > 1) == row.scheduled == (name in SCHEDULED)
    # Each option it takes changes what it freezes or how fast stages learn; the others change neither.
    model = small_fastnet()
    for option in OPTIONS:
        changed = Strategy(name, **{option: {"k": 1, "bn": "train", "head_lr_factor": 2.0, "stage_decay": 0.9,
                                             "unfreeze_every": 3, "head_epochs": 4}[option]})
        plain = Strategy(name)
        differs = (any(changed.frozen_count(5, e) != plain.frozen_count(5, e) for e in range(10))
                   or [g["lr"] for g in param_groups(model, changed, 0.1)] != [g["lr"] for g in param_groups(model, plain, 0.1)]
                   or (changed.bn != plain.bn and plain.frozen_count(5, 0) > 0))
        assert differs == (option in row.options), option


def test_only_the_options_a_strategy_takes_are_checked():
    assert option_problems(Strategy("freeze", stage_decay=0)) == {}
    assert list(option_problems(Strategy("discriminative", stage_decay=0))) == ["stage_decay"]
    assert list(option_problems(Strategy("freeze", k=9), STAGES)) == ["k"]
    assert option_problems(Strategy("freeze", k=9)) == {}  # without the model's stages, any depth from 0 may fit


@pytest.mark.parametrize("make_optimizer", [
    lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9, weight_decay=5e-4),
    lambda groups: torch.optim.AdamW(groups, lr=0.01, weight_decay=0.05),
])
def test_frozen_weights_stay_put_while_trainable_ones_learn(make_optimizer):
    model = small_fastnet()
    strategy = apply_strategy(model, "freeze", k=2)
    before = snapshot(model)
    train_steps(model, strategy, make_optimizer(param_groups(model, strategy, lr=0.1)))
    moved = changed(before, model)
    # Weight decay and momentum must not reach the frozen stages, nor may BatchNorm statistics (bn="eval").
    assert not [name for name in moved if name.startswith(("stem.", "stage1."))]
    for name, parameter in model.named_parameters():
        if name.startswith(("stage2.", "stage3.", "head.")):
            assert name in moved, f"{name} should have learnt"


def test_batchnorm_statistics_stay_put_in_frozen_eval_stages():
    model = small_fastnet()
    strategy = apply_strategy(model, "linear_probe", bn="eval")
    set_train_mode(model, strategy)
    assert model.training and model.head.training
    assert not any(m.training for name in STAGES[:-1] for m in getattr(model, name).modules())
    before = snapshot(model)
    with torch.no_grad():
        model(batch()[0])
    assert changed(before, model) == set()


def test_batchnorm_statistics_move_in_frozen_stages_with_bn_train():
    model = small_fastnet()
    strategy = apply_strategy(model, "linear_probe", bn="train")
    optimizer = torch.optim.SGD(param_groups(model, strategy, lr=0.1), momentum=0.9)
    before = snapshot(model)
    train_steps(model, strategy, optimizer)
    moved = changed(before, model)
    frozen_weights = {name for name, _ in model.named_parameters() if not name.startswith("head.")}
    assert not moved & frozen_weights                       # the weights are frozen ...
    assert "stem.bn.running_mean" in moved                  # ... but the statistics drift
    assert "stage3.residual.block.bn.running_var" in moved
    assert "stem.bn.num_batches_tracked" in moved


def test_set_train_mode_without_a_strategy_is_model_train():
    model = small_fastnet().eval()
    set_train_mode(model, None)
    assert all(m.training for m in model.modules())


def test_describe_counts_match_the_parameters():
    model = small_fastnet()
    strategy = apply_strategy(model, "freeze", k=3)
    rows = describe(model, strategy)
    assert [row["stage"] for row in rows] == STAGES
    for row, (name, stage) in zip(rows, model.named_children()):
        total = sum(p.numel() for p in stage.parameters())
        trainable = sum(p.numel() for p in stage.parameters() if p.requires_grad)
        assert (row["total"], row["trainable"], row["frozen"]) == (total, trainable, total - trainable)
    assert sum(row["total"] for row in rows) == count_parameters(model)
    assert sum(row["trainable"] for row in rows) == count_parameters(model, trainable_only=True)
    assert [row["state"] for row in rows] == ["frozen, BN in eval"] * 3 + ["trainable"] * 2


def test_describe_states():
    model = small_fastnet()
    strategy = apply_strategy(model, "linear_probe", bn="train")
    assert describe(model, strategy)[0]["state"] == "frozen, BN in train (running stats move)"
    assert describe(model)[0]["state"] == "frozen"
    model.stem.conv.requires_grad_(True)
    assert describe(model)[0]["state"] == "partly frozen"
    tutorial = TutorialNet()
    assert describe(tutorial, apply_strategy(tutorial, "linear_probe"))[0]["state"] == "frozen"  # no BN in it


def test_describe_text_is_an_aligned_table_with_a_total():
    model = TutorialNet()
    text = describe_text(model, apply_strategy(model, "freeze", k=2))
    lines = text.splitlines()
    assert lines[0].split() == ["stage", "state", "trainable", "frozen", "total"]
    assert [line.split()[0] for line in lines[1:]] == stage_names(model) + ["total"]
    assert lines[-1].split() == ["total", f"{62006 - 456 - 2416:,}", f"{456 + 2416:,}", "62,006"]
    assert len({len(line) for line in lines[1:-1]}) == 1   # numbers right-aligned in columns


def test_discriminative_rates_decay_from_the_head_down():
    model = small_fastnet()
    strategy = apply_strategy(model, "discriminative", head_lr_factor=2.0, stage_decay=0.1)
    groups = param_groups(model, strategy, lr=0.01)
    assert [group["stage"] for group in groups] == STAGES
    expected = [0.01 * 2.0 * 0.1 ** steps_below_head for steps_below_head in (4, 3, 2, 1, 0)]
    assert [group["lr"] for group in groups] == pytest.approx(expected)
    optimizer = torch.optim.SGD(groups, lr=0.01)
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx(expected)


@pytest.mark.parametrize("name", ["finetune", "linear_probe", "gradual"])
def test_other_strategies_use_one_rate_and_list_every_parameter_once(name):
    model = small_fastnet()
    groups = param_groups(model, apply_strategy(model, name), lr=0.05)
    assert [group["stage"] for group in groups] == STAGES
    assert {group["lr"] for group in groups} == {0.05}
    listed = [id(p) for group in groups for p in group["params"]]
    assert sorted(listed) == sorted(id(p) for p in model.parameters())


def test_gradual_unfreezes_one_stage_from_the_top_on_schedule():
    model = small_fastnet()
    strategy = apply_strategy(model, "gradual", unfreeze_every=2)
    optimizer = torch.optim.SGD(param_groups(model, strategy, lr=0.1), momentum=0.9)
    unfrozen = {}
    for epoch in range(10):
        before = snapshot(model)
        unfrozen[epoch] = on_epoch_start(model, strategy, epoch, optimizer)
        assert frozen_stages(model) == STAGES[:max(0, 4 - epoch // 2)]
        train_steps(model, strategy, optimizer, steps=1)
        learnt = {name.split(".")[0] for name in changed(before, model)}
        assert learnt == set(STAGES[max(0, 4 - epoch // 2):])   # exactly the trainable stages moved
    assert unfrozen == {0: [], 1: [], 2: ["stage3"], 3: [], 4: ["stage2"], 5: [], 6: ["stage1"], 7: [],
                        8: ["stem"], 9: []}


def test_head_first_trains_the_head_then_everything():
    model = small_fastnet()
    strategy = apply_strategy(model, "head_first", head_epochs=2)
    optimizer = torch.optim.SGD(param_groups(model, strategy, lr=0.1))
    assert on_epoch_start(model, strategy, 0, optimizer) == []
    assert on_epoch_start(model, strategy, 1, optimizer) == []
    assert frozen_stages(model) == STAGES[:-1]
    assert on_epoch_start(model, strategy, 2, optimizer) == STAGES[:-1]
    assert frozen_stages(model) == []
    assert on_epoch_start(model, strategy, 3, optimizer) == []


@pytest.mark.parametrize("head_epochs, epochs, says", [
    (1, 1, "head_first trains the head alone for 1 epoch, then the whole network, so it needs at least 2 epochs: "
           "raise the number of epochs, or choose linear_probe to train only the head."),
    (3, 2, "head_first trains the head alone for 3 epochs, then the whole network, so it needs at least 4 epochs: "
           "raise the number of epochs, or train the head alone for at most 1 epoch."),
])
def test_head_first_needs_an_epoch_for_the_whole_network(head_epochs, epochs, says):
    strategy = Strategy("head_first", head_epochs=head_epochs)
    assert schedule_problem(strategy, epochs) == says
    assert schedule_problem(strategy, head_epochs + 1) is None
    assert schedule_problem(Strategy("gradual", unfreeze_every=5), 2) is None  # unfreezing fewer stages is a lesson too
    assert schedule_problem(Strategy("freeze"), 1) is None


def test_unfreezing_needs_the_stage_in_the_optimizer():
    model = small_fastnet()
    strategy = apply_strategy(model, "head_first")
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with pytest.raises(ConfigError, match="param_groups"):
        on_epoch_start(model, strategy, 1, optimizer)


def test_fixed_strategies_change_nothing_at_epoch_start():
    model = small_fastnet()
    strategy = apply_strategy(model, "freeze", k=2)
    assert on_epoch_start(model, strategy, 5) == []
    assert frozen_stages(model) == ["stem", "stage1"]
    assert on_epoch_start(model, None, 5) == []


@pytest.mark.parametrize("k", [-1, 5, 2.0, "2"])
def test_invalid_freeze_depth_names_the_range_and_the_stages(k):
    with pytest.raises(ConfigError) as caught:
        apply_strategy(small_fastnet(), "freeze", k=k)
    message = str(caught.value)
    assert "between 0 and 4" in message and all(name in message for name in STAGES)


@pytest.mark.parametrize("name, options, words", [
    ("transfer", {}, "linear_probe"),
    ("freeze", {"depth": 2}, "k"),
    ("freeze", {"bn": "frozen"}, "eval"),
    ("discriminative", {"stage_decay": 0}, "stage_decay"),
    ("discriminative", {"head_lr_factor": -1}, "head_lr_factor"),
    ("gradual", {"unfreeze_every": 0}, "unfreeze_every"),
    ("head_first", {"head_epochs": -1}, "head_epochs"),
])
def test_bad_strategy_options_are_config_errors(name, options, words):
    model = small_fastnet()
    with pytest.raises(ConfigError, match=words):
        apply_strategy(model, name, **options)
    assert frozen_stages(model) == []   # a refused strategy leaves the model as it was


def test_a_strategy_object_can_be_applied_with_changes():
    model = small_fastnet()
    strategy = apply_strategy(model, Strategy("freeze", k=1), k=3, bn="train")
    assert (strategy.k, strategy.bn) == (3, "train") and len(frozen_stages(model)) == 3


def test_cached_prefix_counts_frozen_stages_that_compute_a_fixed_function():
    model = small_fastnet()
    assert cached_prefix(model, apply_strategy(model, "freeze", k=3, bn="eval")) == 3
    assert cached_prefix(model, apply_strategy(model, "linear_probe")) == 4
    assert cached_prefix(model, apply_strategy(model, "finetune")) == 0
    assert cached_prefix(model, apply_strategy(model, "freeze", k=3, bn="train")) == 0  # BatchNorm would move
    tutorial = TutorialNet()   # no BatchNorm: frozen stages are fixed even in training mode
    assert cached_prefix(tutorial, apply_strategy(tutorial, "freeze", k=3, bn="train")) == 3


def test_split_model_shares_the_modules():
    model = small_fastnet()
    prefix, rest = split_model(model, 2)
    assert stage_names(prefix) == ["stem", "stage1"] and stage_names(rest) == ["stage2", "stage3", "head"]
    assert prefix.stem is model.stem and rest.head is model.head
    model.eval()
    x = batch()[0]
    torch.testing.assert_close(rest(prefix(x)), model(x))
    with pytest.raises(ConfigError):
        split_model(model, 6)


def test_reset_parameters_redraws_weights_repeatably_without_touching_global_randomness():
    model = small_fastnet()
    with torch.no_grad():
        model(batch()[0])   # BatchNorm statistics move in training mode
    original = snapshot(model)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    reset_parameters(model, seed=7)
    assert torch.equal(torch.rand(3), expected_next)
    first = snapshot(model)
    assert not torch.equal(first["stem.conv.weight"], original["stem.conv.weight"])
    assert torch.equal(first["stem.bn.running_mean"], torch.zeros(4))
    reset_parameters(model, seed=7)
    assert all(torch.equal(tensor, first[name]) for name, tensor in model.state_dict().items())


def test_strategy_schedule():
    gradual = Strategy("gradual", unfreeze_every=1)
    assert [gradual.frozen_count(5, epoch) for epoch in range(6)] == [4, 3, 2, 1, 0, 0]
    head_first = Strategy("head_first", head_epochs=0)
    assert head_first.frozen_count(5, 0) == 0


def test_epoch_start_keeps_freezing_done_by_hand():
    model = small_fastnet()
    strategy = apply_strategy(model, "finetune")
    model.stage2.requires_grad_(False)
    assert on_epoch_start(model, strategy, 1) == [] and frozen_stages(model) == ["stage2"]
