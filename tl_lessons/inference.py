"""Looking at a trained model: its loss and accuracy, its predictions, and which classes it confuses.

Every function here runs the model in evaluation mode (BatchNorm uses its stored statistics,
dropout is off) without gradients, and gives each module back the mode it had.

A model that gives every class the same score shows what the numbers mean without any training:

    >>> from tl_lessons.data import load_dataset
    >>> test_set = load_dataset("synthetic10", "test")                  # 100 images of each class
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).requires_grad_(False)
    >>> _ = model[1].weight.zero_(), model[1].bias.zero_()            # every score 0
    >>> loss, accuracy = evaluate(model, test_set)
    >>> f"loss {loss:.3f} (ln 10), accuracy {accuracy:.0%}"            # a tie goes to class 0
    'loss 2.303 (ln 10), accuracy 10%'
    >>> confusion_matrix(model, test_set)[:, 0].tolist()               # every image predicted as class 0
    [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
"""
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons.errors import ConfigError
from tl_lessons.imageset import ImageSet
from tl_lessons.loader import Loader, normalise

# Images per forward pass when nothing is learnt (evaluation, validation, predictions): larger
# batches than training's, since no activations are kept for a backward pass. The batch size
# changes the speed (`docs/performance.md`), not the answers: at most the last bits of a probability.
INFERENCE_BATCH_SIZE = 500


TEST_VIEWS = ("image", "flip", "flip_and_shift")
"""What `evaluate` can show a model of each image (`view_logits`): the image alone, also its mirror, also shifted copies."""


def view_logits(model: nn.Module, x: torch.Tensor, views: str = "image") -> torch.Tensor:
    """The model's logits for a batch of images, averaged over test-time views.

    A model trained on mirrored and shifted images has learnt that a cat looking left is a cat
    looking right, but its answers on the two still differ a little, each in its own way. Asking
    about several views of the same image and averaging the answers cancels part of those
    differences, at the price of one forward pass per view:

    * "image": the image alone (1 pass);
    * "flip": the mean of the image's logits and its mirror's (2 passes);
    * "flip_and_shift": half that, plus half the same for the image moved one pixel up and left
      and one down and right (its border mirrored in): 6 passes.

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    >>> x = torch.randn(5, 3, 4, 4)
    >>> torch.equal(view_logits(model, x, "flip"), 0.5 * (model(x) + model(x.flip(3))))
    True
    """
    if views == "image":
        return model(x).float()

    def with_mirror(images):
        return 0.5 * (model(images).float() + model(images.flip(3)).float())

    logits = with_mirror(x)
    if views == "flip":
        return logits
    height, width = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = 0.5 * (with_mirror(padded[..., :height, :width]) + with_mirror(padded[..., 2:, 2:]))
    return 0.5 * logits + 0.5 * shifted


@contextmanager
def evaluation_mode(model: nn.Module):
    """Put every module in eval mode, then give each back the mode it had (frozen BatchNorm included)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def evaluate_batches(model: nn.Module, batches, predicted: list | None = None,
                     views: str = "image") -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` over batches of (inputs, labels), in eval mode.

    `predicted`, a list, receives each batch's predicted classes (a tensor per batch), in order.
    `views`: what the model sees of each image (`view_logits`).
    """
    loss_sum, correct, seen = 0.0, 0, 0
    with evaluation_mode(model), torch.no_grad():
        for x, y in batches:
            logits = view_logits(model, x, views)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            answers = logits.argmax(1)
            correct += (answers == y).sum().item()
            seen += len(y)
            if predicted is not None:
                predicted.append(answers.cpu())
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights are (its first parameter's device)."""
    return next(model.parameters()).device


def evaluate(model: nn.Module, ds: ImageSet, batch_size: int = INFERENCE_BATCH_SIZE, device=None, mean=None,
             std=None, predicted: list | None = None, views: str = "image"):
    """(loss, accuracy) of `model` on `ds`: plain cross-entropy (no label smoothing), eval mode.

    `mean`/`std` default to the dataset's; pass the ones the model was trained with if they
    differ (`config.mean`, `config.std`: None there also means the dataset's). `predicted`, a
    list, receives the predicted classes batch by batch (see `evaluate_batches`). `views`: one of
    `TEST_VIEWS`, the test-time views averaged for each image (`view_logits`; `config.test_views`).

    >>> from tl_lessons.checkpoints import load_source_model
    >>> from tl_lessons.data import load_dataset
    >>> model, meta = load_source_model()                 # a CIFAR-10 model, shown synthetic images
    >>> loss, acc = evaluate(model, load_dataset("synthetic10", "test"), mean=meta["mean"], std=meta["std"])
    >>> 0 <= acc <= 1, loss > 0
    (True, True)
    """
    if views not in TEST_VIEWS:
        raise ConfigError(f"The test views are one of {', '.join(TEST_VIEWS)} (the image alone, also its mirror, "
                          f"also shifted copies), not {views!r}.")
    device = torch.device(device) if device is not None else model_device(model)
    return evaluate_batches(model, Loader(ds, batch_size, device=device, mean=mean, std=std), predicted, views)


def predict(model: nn.Module, ds_or_images, mean=None, std=None,
            batch_size: int = INFERENCE_BATCH_SIZE) -> torch.Tensor:
    """Class probabilities, (N, num_classes), for an ImageSet or uint8 images (N, 3, 32, 32) or (3, 32, 32).

    Raw images need the `mean` and `std` the model was trained with (a checkpoint's metadata has them).

    >>> from tl_lessons.checkpoints import load_source_model
    >>> model, meta = load_source_model()
    >>> images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)        # two black images
    >>> probabilities = predict(model, images, meta["mean"], meta["std"])
    >>> probabilities.shape, probabilities.sum(1).round(decimals=4).tolist()
    (torch.Size([2, 10]), [1.0, 1.0])
    """
    if isinstance(ds_or_images, ImageSet):
        images = ds_or_images.images
        mean = ds_or_images.mean if mean is None else mean
        std = ds_or_images.std if std is None else std
    else:
        images = ds_or_images if ds_or_images.dim() == 4 else ds_or_images.unsqueeze(0)
        if images.dtype != torch.uint8:
            raise ConfigError("predict() expects uint8 images (pixel values 0-255), like ImageSet.images.")
        if mean is None or std is None:
            raise ConfigError("Pass the mean and std the model was trained with, e.g. predict(model, images, "
                              "meta['mean'], meta['std']).")
    device = model_device(model)
    probabilities = []
    with evaluation_mode(model), torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = normalise(images[start:start + batch_size].to(device), mean, std)
            probabilities.append(F.softmax(model(x).float(), dim=1).cpu())
    return torch.cat(probabilities)


def confusion_matrix(model: nn.Module, ds: ImageSet, mean=None, std=None) -> torch.Tensor:
    """(C, C) int64 counts: row = true class, column = predicted class.

    >>> from tl_lessons.checkpoints import load_source_model
    >>> from tl_lessons.data import load_dataset
    >>> model, meta = load_source_model()
    >>> matrix = confusion_matrix(model, load_dataset("synthetic10", "test"), meta["mean"], meta["std"])
    >>> matrix.shape, int(matrix.sum())          # the accuracy is matrix.trace() / matrix.sum()
    (torch.Size([10, 10]), 1000)
    """
    return confusion_counts(ds.labels, predict(model, ds, mean, std).argmax(1), ds.num_classes)


def confusion_counts(labels: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) counts from answers already computed: row = true class, column = predicted class.

    Each (true, predicted) pair becomes the single number true x C + predicted, and one
    `bincount` of those numbers fills the table row by row.

    >>> confusion_counts(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2)
    tensor([[1, 0],
            [1, 1]])
    """
    return torch.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(model: nn.Module, ds: ImageSet, mean=None, std=None) -> torch.Tensor:
    """Accuracy on each class, (C,) float (NaN for a class with no images).

    >>> from tl_lessons.data import load_dataset
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).requires_grad_(False)
    >>> _ = model[1].weight.zero_(), model[1].bias.zero_()            # always answers class 0
    >>> per_class_accuracy(model, load_dataset("synthetic10", "test"))[:3]   # [3]: how well class 3 is recognised
    tensor([1., 0., 0.], dtype=torch.float64)
    """
    matrix = confusion_matrix(model, ds, mean, std)
    return matrix.diag().double() / matrix.sum(1).double()
