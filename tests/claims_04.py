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


def reading(out: str, prefix: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(prefix))


CLAIMS = [
    Claim(CH04, "In this run joint training ended with more CIFAR-10 and less CIFAR-100 accuracy than sequential "
                "fine-tuning", "output-joint",
          lambda out: joint(out)["joint"][1] > joint(out)["sequential"][1] and joint(out)["joint"][0] < joint(out)["sequential"][0]),
    Claim(CH04, "section 11's single run points that way, without a verdict", "output-joint",
          lambda out: joint(out)["joint"][1] > joint(out)["sequential"][1]),
    Claim(CH04, "Here it fails: fine-tuning is above the probe beyond the noise even at one image per class.",
          "output-label-regimes",
          lambda out: "below it, beyond the noise: linear_probe" in reading(out, "the probe against fine-tuning at 1 per class")),
    Claim(CH04, "is advice to measure (section 6), not a law: here it failed.", "output-label-regimes",
          lambda out: "below it, beyond the noise: linear_probe" in reading(out, "the probe against fine-tuning at 1 per class")),
    Claim(CH04, "ten epochs over five images per class are few for random crops to pay off", "output-augmentation",
          lambda out: all(row["verdict"] != "helps" for row in table(out, "strategy"))),
    Claim(CH04, "freezing the first stages keeps features that are general (edges, colours, textures) and costs little "
                "or nothing", "output-freeze-depth",
          lambda out: "below it, beyond the noise: freeze k=4" in out
          and all(f"freeze k={k}" not in out.split("below it, beyond the noise:")[1].split(";")[0] for k in (0, 1, 2))),
]
