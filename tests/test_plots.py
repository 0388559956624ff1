"""Each figure function returns a Figure with the expected axes, titles and pictures."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from tl_lessons import plots
from tl_lessons.imageset import ImageSet
from tl_lessons.errors import ConfigError


def tiny_set(per_class=(3, 3, 1), coarse=None) -> ImageSet:
    """A small ImageSet whose image i is filled with the value i (so a picture can be traced back)."""
    labels = torch.tensor([c for c, n in enumerate(per_class) for _ in range(n)])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 32, 32).contiguous()
    classes = [f"class{c}" for c in range(len(per_class))]
    coarse_labels = None if coarse is None else torch.tensor([coarse[c] for c in labels.tolist()])
    coarse_classes = None if coarse is None else [f"group{g}" for g in range(max(coarse) + 1)]
    return ImageSet(images, labels, classes, "tiny", "train", "made in the test", (0.5,) * 3, (0.25,) * 3,
                    coarse_labels=coarse_labels, coarse_classes=coarse_classes)


def pictures(figure):
    """The axes that show an image, in order."""
    return [axis for axis in figure.axes if axis.images]


def test_to_display_keeps_uint8_and_clips_floats():
    assert plots.to_display(torch.zeros(3, 4, 5, dtype=torch.uint8)).shape == (4, 5, 3)
    shown = plots.to_display(torch.full((3, 2, 2), 2.0))
    assert shown.max() == 1.0
    with pytest.raises(ConfigError):
        plots.to_display(torch.zeros(2, 3, 4, 4))


def test_image_grid_titles_and_layout():
    images = torch.randint(0, 255, (5, 3, 32, 32), dtype=torch.uint8)
    figure = plots.image_grid(images, titles=list("abcde"), ncols=3, title="five")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 6  # 2 rows of 3, the last one hidden
    shown = pictures(figure)
    assert [axis.get_title() for axis in shown] == list("abcde")
    assert np.array_equal(shown[2].images[0].get_array(), images[2].permute(1, 2, 0).numpy())
    assert not figure.axes[5].axison
    assert figure.get_suptitle() == "five"
    with pytest.raises(ConfigError):
        plots.image_grid(images, titles=["only one"])


def test_class_grid_one_row_per_class_with_names():
    ds = tiny_set()
    figure = plots.class_grid(ds, per_class=2)
    assert len(figure.axes) == 3 * 2
    assert [figure.axes[row * 2].get_ylabel() for row in range(3)] == ds.classes
    assert len(pictures(figure)) == 5  # class2 has a single image: its second cell stays empty
    for axis in pictures(figure)[:2]:  # the first row shows images of class0 (values 0..2)
        assert axis.images[0].get_array().max() <= 2
    figure = plots.class_grid(ds, per_class=1, classes=["class1"])
    assert figure.axes[0].get_ylabel() == "class1"
    with pytest.raises(ConfigError):
        plots.class_grid(ds, classes=["unicorn"])


def test_superclass_grid_one_block_per_superclass():
    ds = tiny_set(per_class=(1, 1, 1), coarse=[0, 0, 1])
    figure = plots.superclass_grid(ds, columns=2)
    assert [block.get_suptitle() for block in figure.subfigs] == ["group0", "group1"]
    assert [axis.get_title() for axis in pictures(figure)] == ["class0", "class1", "class2"]
    assert np.array_equal(pictures(figure)[2].images[0].get_array(), ds.images[2].permute(1, 2, 0).numpy())
    with pytest.raises(ConfigError):
        plots.superclass_grid(tiny_set())


def test_augmentation_grid_shows_original_then_versions():
    images = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    figure = plots.augmentation_grid(images, versions=4, pad=0, flip=True)
    assert len(figure.axes) == 2 * 5
    assert [figure.axes[0].get_title(), figure.axes[1].get_title()] == ["original", "version 1"]
    for row in range(2):
        original = images[row].permute(1, 2, 0).numpy()
        assert np.array_equal(figure.axes[row * 5].images[0].get_array(), original)
        for col in range(1, 5):  # without padding, the only change left is a mirror image
            shown = figure.axes[row * 5 + col].images[0].get_array()
            assert np.array_equal(shown, original) or np.array_equal(shown, original[:, ::-1])


def epochs(n, offset=0.0):
    return [{"kind": "epoch", "epoch": e, "train_loss": 2 - e / 10 + offset, "train_acc": e / 10,
             "val_loss": 2.1 - e / 10, "val_acc": e / 11, "elapsed": 3.0 * e, "unfrozen": []}
            for e in range(1, n + 1)]


def test_curves_from_history_and_from_events():
    from tl_lessons.train import History

    figure = plots.curves(History(epochs=epochs(3)), title="one run")
    loss_axis, acc_axis = figure.axes[:2]
    assert "Loss" in loss_axis.get_title() and "Accuracy" in acc_axis.get_title()
    assert len(loss_axis.lines) == 2 and len(acc_axis.lines) == 2  # train and validation
    assert list(acc_axis.lines[1].get_ydata()) == [e["val_acc"] for e in epochs(3)]
    # A stream of mixed events: only the epoch events are drawn; x in seconds uses their elapsed time.
    stream = [{"kind": "start"}, {"kind": "step", "loss": 1.0}] + epochs(2) + [{"kind": "end"}]
    figure = plots.curves({"a": stream, "b": epochs(4)}, x="seconds")
    loss_axis = figure.axes[0]
    assert len(loss_axis.lines) == 4
    assert list(loss_axis.lines[0].get_xdata()) == [3.0, 6.0]
    assert loss_axis.get_xlabel() == "seconds of training"
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["a train", "a validation", "b train", "b validation"]


def test_curves_skips_missing_validation_and_rejects_empty_runs():
    no_validation = [dict(e, val_loss=None, val_acc=None) for e in epochs(2)]
    assert len(plots.curves(no_validation).axes[0].lines) == 1
    with pytest.raises(ConfigError):
        plots.curves([])
    with pytest.raises(ConfigError):
        plots.curves(epochs(2), x="steps")


def test_per_class_bars_heights_and_grouping():
    classes = ["cat", "dog", "frog"]
    figure = plots.per_class_bars(torch.tensor([0.5, 0.9, 0.1]), classes, sort=True)
    axis = figure.axes[0]
    assert [bar.get_height() for bar in axis.patches] == pytest.approx([0.1, 0.5, 0.9])
    assert [label.get_text() for label in axis.get_xticklabels()] == ["frog", "cat", "dog"]
    figure = plots.per_class_bars({"scratch": [0.1, 0.2, 0.3], "transfer": [0.4, 0.5, 0.6]}, classes)
    assert len(figure.axes[0].patches) == 6
    with pytest.raises(ConfigError):
        plots.per_class_bars([0.1, 0.2], classes)


def test_confusion_rows_are_normalised_and_annotated():
    matrix = torch.tensor([[8, 2], [1, 3]])
    figure = plots.confusion(matrix, ["cat", "dog"])
    axis = figure.axes[0]
    shown = axis.images[0].get_array()
    assert np.allclose(shown.sum(1), 1.0)
    assert shown[0, 1] == pytest.approx(0.2)
    assert sorted(t.get_text() for t in axis.texts) == ["0.20", "0.25", "0.75", "0.80"]
    assert axis.get_xlabel() == "predicted class" and axis.get_ylabel() == "true class"
    counts = plots.confusion(matrix, ["cat", "dog"], normalise=False).axes[0]
    assert sorted(t.get_text() for t in counts.texts) == ["1", "2", "3", "8"]
    with pytest.raises(ConfigError):
        plots.confusion(matrix, ["cat", "dog", "frog"])


def test_prediction_grid_picks_right_then_wrong():
    images = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8)
    probabilities = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    labels = torch.tensor([0, 0, 0, 1])  # right, wrong, right, right
    figure = plots.prediction_grid(images, probabilities, labels, ["cat", "dog"], right=2, wrong=5)
    shown = pictures(figure)
    assert [axis.get_title() for axis in shown] == ["cat 90%", "cat 60%", "dog 70%\n(true: cat)"]
    assert [axis.title.get_color() for axis in shown] == [plots.RIGHT_COLOR] * 2 + [plots.WRONG_COLOR]
    assert np.array_equal(shown[2].images[0].get_array(), images[1].permute(1, 2, 0).numpy())
    assert "2 right" in figure.get_suptitle() and "1 wrong" in figure.get_suptitle()


def test_filters_one_picture_per_output_channel():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 5), torch.nn.ReLU(), torch.nn.Conv2d(6, 4, 3))
    figure = plots.filters(model, ncols=3)
    shown = pictures(figure)
    assert len(shown) == 6
    for axis, weight in zip(shown, model[0].weight):
        picture = axis.images[0].get_array()
        assert picture.shape == (5, 5, 3)
        assert picture.min() == pytest.approx(0) and picture.max() == pytest.approx(1)
        # Stretched, not changed: the brightest pixel is where the weight is largest.
        assert np.unravel_index(picture.argmax(), picture.shape) == np.unravel_index(
            weight.detach().permute(1, 2, 0).numpy().argmax(), picture.shape)
    assert "6 of size 5x5" in figure.get_suptitle()
    with pytest.raises(ConfigError):
        plots.filters(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_teacher_view_enlarges_every_figure_drawn_inside_it_and_only_those():
    matrix = torch.tensor([[3, 1], [0, 4]])
    normal = plots.confusion(matrix, ["a", "b"])
    with plots.teacher_view():
        teacher = plots.confusion(matrix, ["a", "b"])
    after = plots.confusion(matrix, ["a", "b"])
    title = lambda figure: figure.axes[0].title  # noqa: E731
    assert title(teacher).get_fontsize() == plots.TEACHER_STYLE["axes.titlesize"] > title(normal).get_fontsize()
    assert title(teacher).get_fontweight() == "bold" and teacher.dpi == plots.TEACHER_STYLE["figure.dpi"]
    assert title(after).get_fontsize() == title(normal).get_fontsize() == plots.PROJECTOR_STYLE["axes.titlesize"]
    with plots.teacher_view(on=False):
        assert title(plots.confusion(matrix, ["a", "b"])).get_fontsize() == plots.PROJECTOR_STYLE["axes.titlesize"]
