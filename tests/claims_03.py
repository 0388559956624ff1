"""Chapter 03's claims: each sentence that states a verdict, a ranking or a number, with the output that backs it."""
import re

from claims import Claim, table

CH03 = "03_cifar10_training.ipynb"


def number(pattern: str, text: str) -> float:
    """The first number that `pattern`'s group catches in `text` (thousands separators dropped)."""
    match = re.search(pattern, text)
    assert match, f"the output no longer prints {pattern!r}"
    return float(match[1].replace(",", ""))


def numbers(text: str) -> list[float]:
    """The numbers of a printed list such as `[0.2005, 0.1987, 0.2008]`."""
    return [float(v) for v in re.findall(r"-?\d+\.?\d*", text)]


def printed_list(text: str, label: str) -> list[float]:
    """The list printed after `label` on its line."""
    line = next(line for line in text.splitlines() if line.startswith(label))
    return numbers(line[len(label):])


def training_seconds(text: str) -> dict[str, float]:
    """{run: seconds} from the last cell's `of which training: tutorial 123 s, ...` line."""
    line = next(line for line in text.splitlines() if line.startswith("of which training:"))
    return {name: float(s) for name, s in re.findall(r"(\w[\w ]*?) (\d+) s", line.split(":", 1)[1])}


def chapter_time(text: str) -> tuple[float, dict[str, float]]:
    return number(r"whole chapter: (\d+) s", text), training_seconds(text)


def stats(text: str) -> list[dict]:
    return table(text, "channel")


def seconds_per_epoch(text: str) -> dict[str, float]:
    return {row["recipe"]: float(row["total seconds"]) / int(row["epochs"]) for row in table(text, "recipe")}


def first_epoch(text: str) -> tuple[float, float]:
    """Training and validation accuracy of the FastNet run's first epoch."""
    match = re.search(r"epoch 1: .*train accuracy ([\d.]+)%, validation accuracy ([\d.]+)%", text)
    return float(match[1]), float(match[2])


def bracketed(text: str) -> list[list[float]]:
    """Every printed list `[...]` in `text`, in order."""
    return [numbers(inside) for inside in re.findall(r"\[([^\]]*)\]", text)]


def kit_recipe(text: str) -> dict[str, str]:
    """{setting: the kit recipe's value} from the table of the two recipes' differences."""
    return {row["setting"]: row["tutorial_fast"] for row in table(text, "setting")}


def stages(text: str) -> dict[str, str]:
    return {row["stage"]: row["layers"] for row in table(text, "stage")}


CLAIMS = [
    # The header: what the last cell prints, and where the time goes.
    Claim(CH03, "the chapter's last cell prints how long this run took, on which CPU, how much of it was training "
          "and the kernel's peak memory", "output-chapter-time",
          lambda out: all(words in out for words in ("whole chapter:", "CPU:", "of which training:", "peak memory"))),
    Claim(CH03, "Most of the time is training", "output-chapter-time",
          lambda out: (lambda total, runs: sum(runs.values()) > total / 2)(*chapter_time(out))),
    Claim(CH03, "above all the tutorial recipe's run and section 3's FastNet run", "output-chapter-time",
          lambda out: (lambda runs: min(runs["tutorial"], runs["FastNet quick"]) > runs["tutorial_fast"])(
              training_seconds(out))),
    # 1. The data.
    Claim(CH03, "CIFAR-10 has 60,000 colour images of 32×32 pixels in 10 classes: 50,000 for training and "
          "10,000 for testing", "output-data",
          lambda out: "CIFAR-10 train: 50,000 images, 10 classes" in out and "CIFAR-10 test: 10,000 images, 10 classes" in out),
    Claim(CH03, "154 MB for the training split (the next cell prints it)", "output-data",
          lambda out: "the training split in memory: 154 MB as uint8" in out),
    Claim(CH03, "a tenth of the training split held out for that", "output-data",
          lambda out: (lambda train, val: 10 * val == train + val)(
              number(r"training images ([\d,]+)", out), number(r"validation images ([\d,]+)", out))),
    Claim(CH03, "As float32 numbers the training split would take 614 MB (printed above)", "output-data",
          lambda out: "as float32 it would take 614 MB" in out),
    Claim(CH03, "the means come out within a few ten-thousandths of them", "output-channel-stats",
          lambda out: all(abs(float(r["measured mean"]) - float(r["constant mean"])) <= 0.0005 for r in stats(out))),
    Claim(CH03, "and the deviations slightly smaller", "output-channel-stats",
          lambda out: all(0 < float(r["constant std"]) - float(r["measured std"]) < 0.005 for r in stats(out))),
    Claim(CH03, "inputs centred near 0 with a spread near 1", "output-normalised-batch",
          lambda out: (lambda means, stds: all(abs(m) < 0.05 for m in means) and all(abs(s - 1) < 0.05 for s in stds))(
              *bracketed(out))),
    Claim(CH03, "Numbers like those come from averaging each image's *own* deviation", "output-per-image-std",
          lambda out: all(abs(q - own) < abs(q - overall) for q, own, overall in zip(
              printed_list(out, "often quoted for CIFAR-10:"), printed_list(out, "average of per-image deviations:"),
              printed_list(out, "deviation over all pixels:")))),
    Claim(CH03, "how much images differ from each other in brightness and contrast, so they come out smaller",
          "output-per-image-std",
          lambda out: all(own < overall for own, overall in zip(printed_list(out, "average of per-image deviations:"),
                                                                printed_list(out, "deviation over all pixels:")))),
    Claim(CH03, "shift each training image by up to 4 pixels", "output-augmentation",
          lambda out: "shifts: -4 to 4 pixels down, -4 to 4 pixels across" in out),
    Claim(CH03, "`augment_batch` on 10,000 copies of a black image with one white pixel", "output-augmentation",
          lambda out: "of 10,000 copies" in out),
    Claim(CH03, "mirror it left-right half of the time", "output-augmentation",
          lambda out: 47 <= number(r"mirrored: ([\d.]+)%", out) <= 53),
    # 2. The tutorial's network, two recipes.
    Claim(CH03, "`TutorialNet` is that network with the same layers and parameter count", "output-tutorialnet",
          lambda out: "parameters: 62,006" in out and all(layer in out for layer in (
              "conv 3 -> 6 channels, 5x5", "conv 6 -> 16 channels, 5x5", "linear 400 -> 120", "linear 120 -> 84",
              "linear 84 -> 10"))),
    Claim(CH03, "Batch 4 means 11,250 small steps per epoch on the 45,000 training images", "output-tutorial-run",
          lambda out: "tutorial: 45,000 training images in batches of 4, 11,250 steps per epoch" in out),
    Claim(CH03, "The kit's recipe takes batches of 128 and a learning rate that warms up and then falls to zero "
          "(one-cycle)", "output-recipe-diff",
          lambda out: kit_recipe(out).get("batch_size") == "128" and kit_recipe(out).get("schedule") == "onecycle"),
    Claim(CH03, "an epoch at batch 4 costs far more time than one at batch 128", "output-time-to-accuracy",
          lambda out: (lambda s: s["tutorial"] > 3 * s["tutorial_fast"])(seconds_per_epoch(out))),
    Claim(CH03, "The same network trains to a given accuracy in very different times depending on the recipe",
          "output-time-to-accuracy", lambda out: number(r"\(([\d.]+) times as long\)", out) >= 2),
    # 3. The fast CNN.
    Claim(CH03, "it halves the image before each stage's convolutions, so that they run at 16×16, 8×8 and 4×4 pixels",
          "output-fastnet-arch",
          lambda out: [name for name, layers in stages(out).items() if layers.startswith("max-pool 2x2 · conv")]
          == ["stage1", "stage2", "stage3"]),
    Claim(CH03, "That is why the training curve can sit *below* the validation curve early on", "output-quick-run",
          lambda out: (lambda train, val: train < val)(*first_epoch(out))),
    Claim(CH03, "each run's final validation accuracy, its test accuracy (the one measured above, once, after "
          "training)", "output-recipes",
          lambda out: [row["run"] for row in table(out, "run")] == ["tutorial", "tutorial_fast", "quick"]
          and all(row["test accuracy"] != "-" and row["final val accuracy"] != "-" for row in table(out, "run"))),
    Claim(CH03, "taking an animal for a vehicle, or the other way round, is rare", "output-confusion",
          lambda out: number(r"only ([\d.]+)% of all test images are taken for the other kind", out) < 5),
    Claim(CH03, "The stem's 16 filters are 3×3×3 weights", "output-fastnet-arch",
          lambda out: stages(out)["stem"].startswith("conv 3 -> 16 channels, 3x3")),
    # 4. Checkpoints.
    Claim(CH03, "The two models agree to a tiny rounding difference rather than bit for bit", "output-checkpoint",
          lambda out: 0 < number(r"largest difference between the two models' probabilities: ([\d.e+-]+)", out) < 1e-4),
    Claim(CH03, "its metadata says which recipe made it, on which copy of the data, and the command that rebuilds it",
          "output-shipped-model",
          lambda out: all(re.search(rf"^{key} *: \S", out, re.MULTILINE) for key in ("preset", "source", "command"))),
    Claim(CH03, "(here `--epochs 6`", "output-shipped-model",
          lambda out: "--preset quick --epochs 6 " in out),
    Claim(CH03, "against the preset's 8 epochs printed in section 3", "output-quick-run",
          lambda out: {r["setting"]: r["value"] for r in table(out, "setting")}["epochs"] == "8"),
]
