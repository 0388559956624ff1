"""Chapter 03 checks accept the reference answers and reject the typical wrong ones with the right hint."""
import pytest

from tl_lessons.exercises import chapter03 as ex


def unfinished(*args):
    raise NotImplementedError


def test_practice_images_have_distinct_channels_and_spread_between_images():
    pixels = ex.practice_images().double().div(255)
    means = pixels.mean(dim=(0, 2, 3))
    assert means[0] > means[1] > means[2]
    # The std exercise needs the two ways of averaging to disagree clearly.
    assert (pixels.std(dim=(0, 2, 3)) - pixels.std(dim=(2, 3)).mean(0)).min() > 0.02


def test_channel_mean_accepts_reference_and_explains_mistakes():
    assert ex.check_channel_mean(lambda images: images.float().div(255).mean(dim=(0, 2, 3))).ok
    assert ex.check_channel_mean(lambda images: [c.float().mean().item() / 255 for c in images.transpose(0, 1)]).ok
    wrong_scale = ex.check_channel_mean(lambda images: images.float().mean(dim=(0, 2, 3)))
    assert not wrong_scale.ok and "255" in wrong_scale.message
    one_number = ex.check_channel_mean(lambda images: images.float().div(255).mean())
    assert not one_number.ok and "3 numbers" in one_number.message
    assert not ex.check_channel_mean(unfinished).ok


def test_channel_std_rejects_average_of_per_image_deviations():
    assert ex.check_channel_std(lambda images: images.float().div(255).std(dim=(0, 2, 3))).ok
    assert ex.check_channel_std(lambda images: images.float().div(255).std(dim=(0, 2, 3), correction=0)).ok
    per_image = ex.check_channel_std(lambda images: images.float().div(255).std(dim=(2, 3)).mean(0))
    assert not per_image.ok and "each image's own deviation" in per_image.message
    variance = ex.check_channel_std(lambda images: images.float().div(255).var(dim=(0, 2, 3)))
    assert not variance.ok and "variance" in variance.message
    assert not ex.check_channel_std(unfinished).ok


@pytest.mark.parametrize("answer, hint", [
    (lambda logits, labels: (logits.argmax(1) == labels).sum(), "number of correct"),
    (lambda logits, labels: 100 * (logits.argmax(1) == labels).float().mean(), "percentage"),
    (lambda logits, labels: (logits.argmax(0) == labels[:3]).float().mean(), "dim 1"),
    (lambda logits, labels: "0.6", "not str"),
])
def test_top1_accuracy_explains_mistakes(answer, hint):
    feedback = ex.check_top1_accuracy(answer)
    assert not feedback.ok and hint in feedback.message


def test_top1_accuracy_accepts_reference():
    feedback = ex.check_top1_accuracy(lambda logits, labels: (logits.argmax(1) == labels).float().mean().item())
    assert feedback.ok and feedback.message.startswith("0.6")
    assert ex.check_top1_accuracy(lambda logits, labels: (logits.softmax(1).argmax(1) == labels).double().mean()).ok
    assert not ex.check_top1_accuracy(unfinished).ok


def test_the_time_prediction_names_the_recipe_that_got_there_first():
    times = {"tutorial": 34.0, "tutorial_fast": 10.0}
    assert ex.check_time_prediction("tutorial_fast", times).ok
    wrong = ex.check_time_prediction("tutorial", times)
    assert not wrong.ok and "tutorial_fast got there first" in wrong.message
    assert "Write your prediction" in ex.check_time_prediction(None, times).message
    assert not ex.check_time_prediction("tutorial", {"tutorial": None, "tutorial_fast": None}).ok
    assert "tutorial never" in ex.check_time_prediction("tutorial_fast", {"tutorial": None, "tutorial_fast": 9.0}).message
