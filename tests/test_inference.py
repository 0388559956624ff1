"""Looking at a trained model: evaluation mode, loss and accuracy, predictions and confusion counts."""

import inspect

import torch

from tl_lessons import analysis, inference
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
