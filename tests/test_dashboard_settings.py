"""The transfer lab's setup in the dashboard: its first values, the link that carries it, what will train."""

import pytest
import torch

from tl_lessons import data, models, transfer
from tl_lessons.dashboard import settings
from tl_lessons.transfer_setup import TransferSetup

STAGES = ["stem", "stage1", "stage2", "stage3", "head"]
CHOICES = settings.link_choices(["shipped", "scratch"], list(settings.TARGETS))
CHOICES["strategy"] = ("linear_probe", "freeze", "scratch")


def problems(setup):
    return setup.problems(STAGES, smallest_class=5)


def test_a_first_visit_starts_from_the_setup_defaults_on_few_labels():
    first = settings.first_setup("shipped", "cifar100", smallest_class=500)
    assert first == TransferSetup(source="shipped", target="cifar100")
    assert first.per_class == data.FEW_SHOT == 5     # the kit's few-shot task
    assert settings.first_setup("scratch", "cifar100", 500).strategy == "scratch"  # random weights: nothing to freeze
    assert settings.first_setup("shipped", "cifar100", smallest_class=4).per_class == 4
    tiny = settings.first_setup("shipped", "synthetic100", 20, tiny=True)
    assert (tiny.per_class, tiny.val_per_class, tiny.epochs) == (2, 1, 1) and tiny.problems(STAGES, 20) == {}


# ---------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------


def test_a_setup_survives_the_round_trip_through_a_link():
    setup = TransferSetup(
        source="shipped",
        target="synthetic100",
        per_class=3,
        fraction=None,
        strategy="freeze",
        k=2,
        bn="train",
        lr=0.02,
        epochs=4,
        batch_size=64,
        seed=7,
    )
    query = settings.setup_to_query(setup)
    assert query["strategy"] == "freeze" and query["k"] == "2" and query["lr"] == "0.02"
    assert "fraction" not in query and "head_epochs" not in query  # only the freeze options
    back, notices = settings.setup_from_query(query, TransferSetup(per_class=5), CHOICES, problems)
    assert back == setup
    assert notices == []


def test_a_link_carries_the_target_classes():
    setup = TransferSetup(target="synthetic100", classes="near", per_class=3)
    query = settings.setup_to_query(setup)
    assert query["classes"] == "near"
    back, notices = settings.setup_from_query(query, TransferSetup(per_class=5), CHOICES, problems)
    assert back == setup and back.label().endswith("near classes")
    assert notices == []


def test_a_link_with_a_label_fraction_clears_images_per_class():
    back, notices = settings.setup_from_query({"fraction": "0.25"}, TransferSetup(per_class=5), CHOICES, problems)
    assert (back.per_class, back.fraction) == (None, 0.25)
    assert notices == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"lr": "abc"}, "lr"),
        ({"lr": "-1"}, "lr"),
        ({"lr": "nan"}, "lr"),
        ({"epochs": "2.5"}, "epochs"),
        ({"strategy": "bogus"}, "strategy"),
        ({"source": "/etc/passwd"}, "source"),
        ({"strategy": "freeze", "k": "9"}, "k"),
        ({"per_class": "50"}, "per_class"),
        ({"batch_size": "3"}, "batch_size"),
        ({"classes": "nearby"}, "classes"),
    ],
)
def test_an_invalid_value_in_a_link_falls_back_to_its_default_with_a_notice(params, field):
    defaults = TransferSetup(per_class=5, k=1)
    setup, notices = settings.setup_from_query(params, defaults, CHOICES, problems)
    assert getattr(setup, field) == getattr(defaults, field)
    assert len(notices) == 1 and f"{field}=" in notices[0] and "default" in notices[0]
    assert problems(setup) == {}


def test_unknown_settings_in_a_link_are_named_and_ignored():
    setup, notices = settings.setup_from_query(
        {"colour": "red", "lr": "0.1"}, TransferSetup(per_class=5), CHOICES, problems
    )
    assert setup.lr == 0.1
    assert notices == ["Ignored the unknown setting `colour` in the link."]


def test_a_link_naming_a_strategy_starts_from_its_rate():
    setup, notices = settings.setup_from_query({"strategy": "freeze"}, TransferSetup(per_class=5), CHOICES, problems)
    assert setup.lr == transfer.STRATEGY_TABLE["freeze"].lr and notices == []


# ---------------------------------------------------------------------------------------
# What will train, and what the run store keeps
# ---------------------------------------------------------------------------------------


def test_what_will_train_applies_the_setups_strategy_to_a_copy():
    torch.manual_seed(0)
    model = models.FastNet(100, width=(4, 8, 8, 16))
    rows = settings.what_will_train(model, TransferSetup(strategy="freeze", k=2))
    assert rows["stage"].tolist() == STAGES
    assert [state.startswith("frozen") for state in rows["state"]] == [True, True, False, False, False]
    assert rows["share"].tolist()[:2] == [0.0, 0.0] and rows["share"].tolist()[2:] == [1.0, 1.0, 1.0]
    assert all(p.requires_grad for p in model.parameters())  # the model itself is left as it was


def test_a_run_keeps_the_source_as_picked_and_as_run(tmp_path):
    store_path = tmp_path / "runs.sqlite"
    setup = TransferSetup(source="trained:mine", target="synthetic100", per_class=2)
    config = settings.run_config(setup, 1234, store_path)
    assert config["source"] == str(tmp_path / "sources" / "mine.pt") and config["source_key"] == "trained:mine"
    assert config["trainable_params"] == 1234 and config["strategy"] == "linear_probe"
    assert settings.run_setup(setup, store_path).label().endswith("from mine.pt")


def test_values_from_a_link_are_quoted_as_code_and_cut_short():
    """A link is written by anyone: its text must never become a link or an image on the page."""
    hostile = "[click me](http://example.invalid/x) ![pixel](http://example.invalid/p.png)"
    setup, notices = settings.setup_from_query({"lr": hostile, hostile: "1"}, TransferSetup(per_class=5), CHOICES,
                                               problems)
    assert setup.lr == TransferSetup().lr and len(notices) == 2
    for notice in notices:
        code = notice.split("`")
        assert len(code) == 3  # one code span, and the link's text only inside it
        assert "](" not in code[0] + code[2] and "http" not in code[0] + code[2]
        assert len(code[1]) <= settings.QUOTED_LENGTH and code[1].endswith("…")
    assert settings.quoted("a`b") == "`` a`b ``"  # a backtick inside cannot close the span
    assert settings.quoted("two\nlines\x00") == "`two lines `"


def test_an_invalid_label_fraction_brings_back_the_default_label_choice_and_says_so():
    setup, notices = settings.setup_from_query({"fraction": "5"}, TransferSetup(per_class=5), CHOICES, problems)
    assert (setup.per_class, setup.fraction) == (5, None)
    assert notices == ["Ignored `fraction=5` from the link: The label fraction must be above 0 and at most 1 "
                       "(0.1 keeps 10 % of the labels). Using the default of 5 images per class."]


def test_a_seed_no_number_field_can_show_falls_back_with_a_notice():
    huge = "123456789012345678901234567890"
    setup, notices = settings.setup_from_query({"seed": huge}, TransferSetup(per_class=5), CHOICES, problems)
    assert setup.seed == 0
    assert len(notices) == 1 and f"`seed={huge}`" in notices[0] and "4,294,967,295" in notices[0]


def test_a_stored_run_gives_back_its_setup():
    setup = TransferSetup(source="shipped", target="synthetic100", per_class=3, strategy="freeze", k=1, seed=4)
    config = {**setup.to_dict(), "source_key": "shipped", "trainable_params": 10, "learner": "abc",
              "validation": {"images": 10, "fingerprint": "f"}}
    assert settings.stored_setup(config) == setup
    assert settings.stored_setup({"kind": "source", "target": "cifar10"}) is None
