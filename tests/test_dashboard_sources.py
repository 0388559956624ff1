"""Source models in the dashboard: trained here and named by key, the sources offered, the source-training form."""

import pytest

from tl_lessons.checkpoints import load_checkpoint
from tl_lessons.dashboard import sources


@pytest.mark.slow
def test_trained_sources_are_named_by_file_and_never_by_path(tmp_path):
    store_path = tmp_path / "runs.sqlite"
    model, train_set, val_set, config = sources.source_training("synthetic10", per_class=3, epochs=1)
    assert len(train_set) == 30 and train_set.name == "synthetic10"
    # Validated on other training images, never on the test split.
    assert val_set.split == "val" and len(val_set) == 20
    assert not set(map(bytes, val_set.images.flatten(1).numpy())) & set(map(bytes, train_set.images.flatten(1).numpy()))
    sources.save_source(sources.sources_dir(store_path) / "mine.pt", model, train_set, config, {"val_acc": 0.5})
    assert list(sources.trained_sources(store_path)) == ["trained:mine"]
    path = sources.source_path("trained:mine", store_path)
    loaded, meta = load_checkpoint(path)
    assert meta["arch"] == config.arch and meta["num_classes"] == 10 and meta["metrics"]["val_acc"] == 0.5
    assert sources.source_path("shipped", store_path) == "shipped"


def test_the_sources_offered_say_why_one_cannot_be_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-cache"))
    labels, unavailable = sources.source_choices(tmp_path / "runs.sqlite")
    assert list(labels)[0] == "shipped" and list(labels)[-2:] == ["imagenet", "scratch"]
    assert "imagenet_resnet18()" in unavailable["imagenet"] and "scratch" not in unavailable
    assert sources.source_version("scratch") == 0.0


@pytest.mark.parametrize("per_class, epochs, name, field", [
    (0, 2, "mine", "per_class"), (11, 2, "mine", "per_class"), (5, 0, "mine", "epochs"), (5, 101, "mine", "epochs"),
    (5, 2, "my model", "name"), (5, 2, "x" * 41, "name"),
])
def test_the_source_training_form_uses_the_setups_rules(per_class, epochs, name, field):
    assert sources.source_problems(5, 2, "cifar10-quick", smallest_class=11) == {}
    assert list(sources.source_problems(per_class, epochs, name, smallest_class=11)) == [field]


def test_a_source_saved_under_a_name_taken_meanwhile_keeps_the_other_learners_model(tmp_path):
    from tl_lessons.synthetic import make_synthetic
    from tl_lessons import models, train

    train_set = make_synthetic(10, "train", n_per_class=2)
    config = train.PRESETS["quick"]
    theirs, mine = models.build_model("fastnet", 10), models.build_model("fastnet", 10)
    path = sources.sources_dir(tmp_path / "runs.sqlite") / "cifar10-quick.pt"
    sources.save_source(path, theirs, train_set, config, {"val_acc": 0.7})  # another learner, while ours trained
    saved = sources.save_source(path, mine, train_set, config, {"val_acc": 0.2}, replace=False)
    assert saved.name == "cifar10-quick-2.pt"
    assert load_checkpoint(path)[1]["metrics"]["val_acc"] == 0.7  # theirs, untouched
    assert load_checkpoint(saved)[1]["metrics"]["val_acc"] == 0.2
    said = sources.saved_source_event(saved, "cifar10-quick")
    assert said["saved_as"] == "cifar10-quick-2" and "another learner" in said["message"]
    assert sources.saved_source_event(path, "cifar10-quick") == {"saved_as": "cifar10-quick"}
    # Said yes to replacing: the name is reused.
    assert sources.save_source(path, mine, train_set, config, {"val_acc": 0.2}, replace=True) == path
    assert load_checkpoint(path)[1]["metrics"]["val_acc"] == 0.2
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind
