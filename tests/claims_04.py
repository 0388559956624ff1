"""Chapter 04's claims: each sentence that states a verdict or a result, with the output that backs it."""
import re

from claims import Claim, table

CH04 = "04_cifar100_transfer.ipynb"


def joint(out: str) -> dict:
    """{"sequential": (cifar100 %, cifar10 %), "joint": (...)} from the joint-training cell's lines."""
    found = {}
    for name in ("sequential", "joint"):
        match = re.search(rf"^{name} .*?cifar100 ([\d.]+)%\s+cifar10 ([\d.]+)%", out, re.MULTILINE)
        found[name] = (float(match[1]), float(match[2]))
    return found


def chosen(out: str) -> dict:
    """{strategy: "augmented" or "plain images"} from the tuning cell's two tables ("lr 0.3, augmented")."""
    return {line.split()[0]: match[1] for line in out.splitlines()
            if (match := re.search(r"lr [\d.]+, (plain images|augmented)", line))}


def reading(out: str, prefix: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(prefix))


CLAIMS = [
    Claim(CH04, "In this run joint training ended with more CIFAR-10 and less CIFAR-100 accuracy than sequential "
                "fine-tuning", "output-joint",
          lambda out: joint(out)["joint"][1] > joint(out)["sequential"][1] and joint(out)["joint"][0] < joint(out)["sequential"][0]),
    Claim(CH04, "section 11's single run points that way, without a verdict", "output-joint",
          lambda out: joint(out)["joint"][1] > joint(out)["sequential"][1]),
    Claim(CH04, "Here the data cannot choose: at one image per class the probe and fine-tuning are within the "
                "noise of each other", "output-label-regimes",
          lambda out: "within the noise: linear_probe" in reading(out, "the probe against fine-tuning at 1 per class")),
    Claim(CH04, "and neither is shown above scratch there", "output-label-regimes",
          lambda out: "above it" not in reading(out, "1 per class:")),
    Claim(CH04, "from two images per class on, fine-tuning is above scratch beyond the noise", "output-label-regimes",
          lambda out: all("finetune" in reading(out, f"{n} per class:").split("above it, beyond the noise:")[1].split(";")[0]
                          for n in (2, 5))),
    Claim(CH04, "Here fine-tuning beat scratch beyond the noise from two images per class on, and at one image per "
                "class no transfer strategy was shown above it.", "output-label-regimes",
          lambda out: "above it" not in reading(out, "1 per class:")
          and all("finetune" in reading(out, f"{n} per class:").split("above it, beyond the noise:")[1] for n in (2, 5))),
    Claim(CH04, "here the data could not choose.", "output-label-regimes",
          lambda out: "within the noise: linear_probe" in reading(out, "the probe against fine-tuning at 1 per class")),
    Claim(CH04, "Here the baseline, scratch, chose plain images, and every transfer strategy chose augmented ones",
          "output-tuning",
          lambda out: chosen(out) == {"scratch": "plain images", **{name: "augmented" for name in (
              "linear_probe", "freeze", "finetune", "discriminative", "gradual", "head_first")}}),
    Claim(CH04, "Here five of the six transfer strategies are; the linear probe is not shown to differ from scratch.",
          "output-reading",
          lambda out: len(reading(out, "Against scratch").split("above it, beyond the noise: ")[1].split(";")[0].split(", ")) == 5
          and "within the noise: linear probe" in reading(out, "Against scratch")),
    Claim(CH04, "Ten epochs over five images per class are few for random crops to pay off", "output-augmentation",
          lambda out: all(row["verdict"] != "helps" for row in table(out, "strategy"))),
    Claim(CH04, "freezing the first stages (k = 0 to 2) costs nothing measurable here, none of them is shown to be "
                "worse than the best depth", "output-freeze-depth",
          lambda out: all(f"freeze k={k}" not in out.split("below it, beyond the noise:")[1].split(";")[0]
                          for k in (0, 1, 2)) if "below it, beyond the noise:" in out else True),
    Claim(CH04, "and gives the lowest mean, at least three points under every other depth", "output-freeze-depth",
          lambda out: (lambda means: all(means[4] + 3 <= means[k] for k in range(4)))(
              {int(row["setting"].split("k=")[1][0]): float(row["test acc %"].split()[0]) for row in table(out, "setting")})),
    Claim(CH04, "yet with three seeds the reading cannot call even that gap real", "output-freeze-depth",
          lambda out: "below it, beyond the noise" not in out and "3 seeds" in out),
    Claim(CH04, "four comparisons corrected together", "output-freeze-depth",
          lambda out: "4 comparisons, Holm-corrected" in out),
    Claim(CH04, "With `bn=\"eval\"` the frozen layers' statistics do not move at all (shift 0.000)", "output-batchnorm",
          lambda out: all(row["mean shift, bn=eval"] == "0.000" for row in table(out, "layer"))),
    Claim(CH04, "with five training images per class and accuracies far below half", "output-label-regimes",
          lambda out: max(float(row["test acc %"].split()[0]) for row in table(out, "setting")) < 25),
    Claim(CH04, "the ascent model's target accuracy falls to about chance or below", "output-ascent",
          lambda out: float(table(out, "epoch")[-1]["target_acc"]) <= 1.5 / 100),
]
