"""Chapter 05's claims: each sentence that states a verdict or a number, with the output that backs it."""
import re

from claims import Claim, percent, points, table

CH05 = "05_when_transfer_helps.ipynb"
TRANSFER_ARMS = ("linear_probe", "finetune")


def verdicts_of(text: str, target: str, arms=TRANSFER_ARMS, title: str = "Transfer against scratch",
                against: str | None = None) -> list[str]:
    section = text.split(title, 1)[1]
    return [row["verdict"] for row in table(section, "target")
            if row["target"] == target and row["arm"] in arms and against in (None, row["against"])]


KNOWLEDGE = "What the features know"
SHIPPED = ("probe: shipped FastNet",)


def calibration_row(text: str, starts: str) -> dict:
    return next(row for row in table(text, "situation") if row["situation"].startswith(starts))


def curve_rows(text: str, target: str) -> list[dict]:
    section = text.split(f"{target}: ", 1)[1]
    return table(section, "labels per class")


def gaps(text: str, target: str) -> list[float]:
    return [points(row["gap"]) for row in curve_rows(text, target)]


KIT, OVERLAP, IMAGES = "this kit's comparison", "ranges of the seeds do not overlap", "one run each, test over images"

CLAIMS = [
    Claim(CH05, "there transfer beats scratch beyond the noise", "output-verdicts",
          lambda out: "above" in verdicts_of(out, "near") and "below" not in verdicts_of(out, "near")),
    Claim(CH05, "On the far target no transfer arm is shown to beat scratch", "output-verdicts",
          lambda out: "above" not in verdicts_of(out, "far")),
    Claim(CH05, "on the near target a linear classifier reads the source's features better than raw pixels and better "
          "than an untrained network's, beyond the noise", "output-verdicts",
          lambda out: verdicts_of(out, "near", SHIPPED, KNOWLEDGE) == ["above", "above"]),
    Claim(CH05, "on the far target the source's features are not shown to beat raw pixels", "output-verdicts",
          lambda out: verdicts_of(out, "far", SHIPPED, KNOWLEDGE, against="probe: raw pixels") != ["above"]),
    Claim(CH05, "give a clear gain on the classes it resembles and none on the classes it does not", "output-contrast",
          lambda out: all(line.split(" (p ")[0].endswith("real") and "within the noise" not in line
                          for line in out.strip().splitlines())),
    Claim(CH05, "The kit's comparison stays at or below the line in all three, within that noise", "output-calibration",
          lambda out: all(percent(row[KIT]) <= 5 + 3 for row in table(out, "situation") if row["situation"].startswith("same"))),
    Claim(CH05, "neither the test over one run's images nor the old range rule does", "output-calibration",
          lambda out: percent(calibration_row(out, "same setting, simulated")[IMAGES]) > 5
          and percent(calibration_row(out, "same setting, simulated")[OVERLAP]) > 5),
    Claim(CH05, "200 repeats measure a rate of 5 % to within about ±3 points", "output-calibration",
          lambda out: "200 repeats of each situation" in out),   # 2 standard errors: 2 * sqrt(0.05 * 0.95 / 200) = 0.031
    Claim(CH05, "a real gap is not always called real", "output-calibration",
          lambda out: percent(calibration_row(out, "2 labels")[KIT]) < 100),
    Claim(CH05, "On the near target most classes gain", "output-class-gains",
          lambda out: (lambda m: 2 * int(m[1]) > int(m[2]))(re.search(r"near: (\d+) of (\d+) classes gain", out))),
    Claim(CH05, "On the near target fine-tuning lies above scratch at every label budget measured", "output-labels",
          lambda out: all(gap > 0 for gap in gaps(out, "near"))),
    Claim(CH05, "On the far target it does not: with the fewest labels fine-tuning even scored below scratch here",
          "output-labels", lambda out: gaps(out, "far")[0] < 0),
    Claim(CH05, "the source is not shown to save any labels there", "output-labels",
          lambda out: "far: at 5 labels per class finetune is not shown to beat scratch" in out
          and "near: at 5 labels" not in out),
]


