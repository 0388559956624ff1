"""Chapter 03 exercises: the statistics behind normalisation, and accuracy from logits.

Each `check_*` prints one sentence and returns a `Feedback` (see `tl_lessons.exercises.feedback`);
a wrong or unfinished answer never raises.

    >>> check_channel_mean(lambda images: images.float().div(255).mean(dim=(0, 2, 3)))
    Correct: ...
"""
import torch

from tl_lessons.exercises.feedback import NotYet, call_learner, exercise, tensor_answer


def practice_images(seed: int = 0) -> torch.Tensor:
    """40 uint8 images whose channels have clearly different statistics (red bright, blue dark).

    >>> practice_images().shape
    torch.Size([40, 3, 32, 32])
    """
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(40, 3, 32, 32, generator=generator)
    # Each image gets its own brightness and contrast, so the mean of per-image deviations
    # differs from the deviation over all pixels (the difference the std exercise is about).
    brightness = torch.rand(40, 1, 1, 1, generator=generator) * 0.4
    contrast = 0.2 + torch.rand(40, 1, 1, 1, generator=generator)
    channel_shift = torch.tensor([0.25, 0.0, -0.2]).view(1, 3, 1, 1)
    pixels = (0.3 + brightness + channel_shift + contrast * (images - 0.5) * 0.5).clamp(0, 1)
    return (pixels * 255).round().to(torch.uint8)


@exercise
def check_channel_mean(fn) -> str:
    """Check fn(images_uint8 (N, 3, H, W)) -> the mean of each colour channel on the 0..1 scale, shape (3,).

    >>> check_channel_mean(lambda images: images.float().div(255).mean(dim=(0, 2, 3))).ok
    Correct: ...
    True
    """
    images = practice_images()
    expected = images.double().div(255).mean(dim=(0, 2, 3))
    value = call_learner(fn, images.clone(), name="channel_mean")
    try:
        answer = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise NotYet(f"channel_mean should return a tensor of 3 numbers, not a {type(value).__name__}.") from None
    if answer.numel() != 3:
        raise NotYet(f"channel_mean should return 3 numbers (red, green, blue), but it returned shape "
                     f"{tuple(answer.shape)}: average over every dimension except the channel one, `dim=(0, 2, 3)`.")
    answer = answer.flatten()
    if torch.allclose(answer, expected * 255, atol=1e-3):
        raise NotYet("Those are means on the 0..255 scale; the normalisation constants are on the 0..1 scale: divide by 255.")
    if not torch.allclose(answer, expected, atol=1e-4):
        raise NotYet(f"The channel means are {[round(m, 4) for m in expected.tolist()]}, yours are "
                     f"{[round(m, 4) for m in answer.tolist()]}: convert to float, divide by 255, and average over dims (0, 2, 3).")
    return (f"Your means {[round(m, 4) for m in answer.tolist()]} match. Red is brightest here, blue darkest: "
            "that is why each channel gets its own constant.")


@exercise
def check_channel_std(fn) -> str:
    """Check fn(images_uint8) -> the standard deviation of each channel over ALL its pixels (0..1 scale), shape (3,).

    >>> check_channel_std(lambda images: images.float().div(255).std(dim=(0, 2, 3))).ok
    Correct: ...
    True
    """
    images = practice_images()
    pixels = images.double().div(255)
    expected = pixels.std(dim=(0, 2, 3))
    value = call_learner(fn, images.clone(), name="channel_std")
    answer = tensor_answer(value, "channel_std", like=expected)
    per_image = pixels.std(dim=(2, 3)).mean(dim=0)
    if torch.allclose(answer, per_image, atol=1e-3):
        raise NotYet("That is the average of each image's own deviation, which leaves out how much images differ "
                     "from each other (brightness, contrast); it comes out smaller. Take the deviation over all "
                     "pixels of all images at once: `.std(dim=(0, 2, 3))`.")
    if torch.allclose(answer, expected * 255, atol=0.3):
        raise NotYet("Those deviations are on the 0..255 scale: divide the pixels by 255 first.")
    if torch.allclose(answer, expected ** 2, atol=1e-4):
        raise NotYet("That is the variance; the standard deviation is its square root.")
    # Dividing by N or by N - 1 makes no visible difference with this many pixels: both are accepted.
    if not torch.allclose(answer, expected, atol=1e-4):
        raise NotYet(f"The channel deviations are {[round(s, 4) for s in expected.tolist()]}, yours are "
                     f"{[round(s, 4) for s in answer.tolist()]}.")
    return (f"Your deviations {[round(s, 4) for s in answer.tolist()]} match; the average of per-image deviations "
            f"would have given {[round(s, 4) for s in per_image.tolist()]}, smaller.")


@exercise
def check_top1_accuracy(fn) -> str:
    """Check fn(logits (N, C), labels (N,)) -> the fraction of rows whose largest logit is the label, a float.

    >>> check_top1_accuracy(lambda logits, labels: (logits.argmax(1) == labels).float().mean().item()).ok
    Correct: ...
    True
    """
    # 5 images, 3 classes; rows 0, 2, 3 are right. Column-wise argmax would give a different answer.
    logits = torch.tensor([[3.0, 0.1, -1.0], [0.2, 0.1, 2.5], [0.0, 4.0, 1.0], [-2.0, -1.0, -0.5], [1.0, 0.9, 0.0]])
    labels = torch.tensor([0, 1, 1, 2, 2])
    value = call_learner(fn, logits.clone(), labels.clone(), name="top1_accuracy")
    try:
        if isinstance(value, str):
            raise TypeError("a string is not a number")
        answer = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise NotYet(f"top1_accuracy should return one number (a fraction such as 0.6), not {type(value).__name__}: "
                     "`.mean().item()` turns a one-element tensor into a float.") from None
    right = 3
    if answer == right:
        raise NotYet(f"{answer:g} is the number of correct predictions; the accuracy is that divided by the number of images ({len(labels)}).")
    if abs(answer - 100 * right / len(labels)) < 1e-3:
        raise NotYet(f"{answer:g} is a percentage: return the fraction, {right / len(labels)}.")
    if abs(answer - right / len(labels)) > 1e-5:
        raise NotYet(f"Here {right} of {len(labels)} rows have their largest logit at the label, so the accuracy is "
                     f"{right / len(labels)}, not {answer:g}: take `argmax` along dim 1 (over the classes of each row).")
    return f"{answer:g}: {right} of {len(labels)} predictions are right. Softmax is not needed: it never changes which logit is largest."


@exercise
def check_time_prediction(predicted, seconds: dict) -> str:
    """Check which recipe the learner predicted to reach the target accuracy first.

    seconds: {recipe: seconds it took to reach the target, or None when it never did}.

    >>> check_time_prediction("tutorial_fast", {"tutorial": 34.0, "tutorial_fast": 10.0}).ok
    Correct: Right: tutorial_fast got there first (tutorial after 34 s, tutorial_fast after 10 s). ...
    True
    """
    if predicted not in seconds:
        raise NotYet(f"Write your prediction first: one of {', '.join(map(repr, seconds))}.")
    reached = {name: time for name, time in seconds.items() if time is not None}
    if not reached:
        raise NotYet("Neither recipe reached the target in this run, so there is nothing to compare yet.")
    first = min(reached, key=reached.get)
    said = ", ".join(f"{name} {'never' if time is None else f'after {time:.0f} s'}" for name, time in seconds.items())
    if predicted == first:
        return f"Right: {first} got there first ({said}). Which of its settings do you think mattered most?"
    raise NotYet(f"{first} got there first ({said}). Look at the settings table: which difference could explain it?")
