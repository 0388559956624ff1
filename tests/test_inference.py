"""Looking at a trained model: evaluation mode, loss and accuracy, predictions and confusion counts."""

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons import analysis, inference
from tl_lessons.errors import ConfigError
from tl_lessons.imageset import ImageSet
from tl_lessons.train import TrainConfig
from tl_lessons.loader import Loader
from tl_lessons.models import TutorialNet
from tl_lessons.synthetic import make_synthetic


def model_and_images():
    torch.manual_seed(0)
    return TutorialNet(10), make_synthetic(10, "test", n_per_class=7)


def test_confusion_counts_put_each_pair_in_its_row_and_column():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    predicted = torch.tensor([0, 2, 1, 2, 1, 2])
    assert inference.confusion_counts(labels, predicted, 3).tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]


def test_evaluation_gives_back_each_modules_mode():
    model, images = model_and_images()
    model.train()
    model.conv1.eval()
    inference.evaluate(model, images)
    assert model.training and not model.conv1.training


def test_evaluate_reads_the_images_in_inference_batches_and_can_keep_the_answers():
    model, images = model_and_images()
    answers = []
    loss, accuracy = inference.evaluate(model, images, predicted=answers)
    batches = Loader(images, inference.INFERENCE_BATCH_SIZE, mean=images.mean, std=images.std)
    assert (loss, accuracy) == inference.evaluate_batches(model, batches)
    predicted = torch.cat(answers)
    assert len(predicted) == len(images) and accuracy == (predicted == images.labels).sum().item() / len(images)


def test_the_batch_size_does_not_change_the_predictions():
    model, images = model_and_images()
    whole, in_nines = inference.predict(model, images), inference.predict(model, images, batch_size=9)
    assert torch.allclose(whole, in_nines, rtol=0, atol=1e-6) and torch.equal(whole.argmax(1), in_nines.argmax(1))


def test_every_inference_pass_uses_the_one_batch_size():
    def default(function):
        return inspect.signature(function).parameters["batch_size"].default

    sizes = {default(inference.evaluate), default(inference.predict), default(analysis.penultimate_features),
             TrainConfig().eval_batch_size}
    assert sizes == {inference.INFERENCE_BATCH_SIZE}


class Scripted(nn.Module):
    """A model whose logits are set by hand: the n-th forward pass answers `answers[n]` for every image,
    and every input it was shown is kept."""

    def __init__(self, answers):
        super().__init__()
        self.answers, self.inputs = answers, []
        self.anchor = nn.Parameter(torch.zeros(1))   # a parameter, so that evaluate finds the model's device

    def forward(self, x):
        self.inputs.append(x.clone())
        return torch.tensor(self.answers[len(self.inputs) - 1]).expand(len(x), -1)


def test_test_time_views_average_the_logits_of_the_mirror_and_the_shifted_copies():
    x = torch.randn(3, 3, 8, 8)
    answers = [[1.0, 0.0], [0.0, 1.0], [4.0, 0.0], [0.0, 4.0], [8.0, 0.0], [0.0, 16.0]]
    assert torch.equal(inference.view_logits(Scripted(answers), x, "image"), torch.tensor([[1.0, 0.0]] * 3))
    assert torch.equal(inference.view_logits(Scripted(answers), x, "flip"), torch.tensor([[0.5, 0.5]] * 3))
    model = Scripted(answers)
    logits = inference.view_logits(model, x, "flip_and_shift")
    # Half the image and its mirror, a quarter each the copy moved up-left and down-right with its mirror.
    expected = 0.5 * 0.5 * (torch.tensor([1.0, 0.0]) + torch.tensor([0.0, 1.0])) + 0.25 * 0.5 * (
        torch.tensor([4.0, 0.0]) + torch.tensor([0.0, 4.0])) + 0.25 * 0.5 * (torch.tensor([8.0, 0.0]) + torch.tensor([0.0, 16.0]))
    assert torch.allclose(logits, expected.expand(3, -1))
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    for shown, view in zip(model.inputs, [x, x.flip(3), padded[..., :8, :8], padded[..., :8, :8].flip(3),
                                          padded[..., 2:, 2:], padded[..., 2:, 2:].flip(3)]):
        assert torch.equal(shown, view)


class MarkerReader(nn.Module):
    """Reads which way an image faces from a bright left column (the images below have one):
    facing as shot it answers class 1 by a little, mirrored it answers class 0 by a lot."""

    def forward(self, x):
        left, right = x[:, 0, :, 0].mean(1), x[:, 0, :, -1].mean(1)
        as_shot = (left > right).float()
        return torch.stack([2.0 * (1 - as_shot), 0.1 * as_shot], dim=1)


def test_evaluate_with_views_can_turn_a_wrong_answer_right():
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    images[:, :, :, 0] = 255                                 # every image: a bright left column, class 0
    ds = ImageSet(images, torch.zeros(4, dtype=torch.long), ["a", "b"], "synthetic10", "test", "hand-made",
                  (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    model = nn.Sequential(MarkerReader(), nn.Identity())
    model.register_parameter("anchor", nn.Parameter(torch.zeros(1)))
    assert inference.evaluate(model, ds)[1] == 0.0                  # as shot: class 1 by 0.1
    assert inference.evaluate(model, ds, views="flip")[1] == 1.0     # averaged with the mirror: class 0
    with pytest.raises(ConfigError, match="flip_and_shift"):
        inference.evaluate(model, ds, views="mirror")
