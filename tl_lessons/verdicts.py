"""When is a difference between two settings real? A paired comparison whose false-positive rate is measured.

Two settings A and B are each trained once per seed and scored on the same test images. Their
accuracies differ for three reasons: the settings really differ; the seeds drew different luck
(a different start, batch order, augmentation); and the test images are a sample, so a few hundred
other images could have favoured the other setting. A verdict must account for the last two before
it credits the first.

The comparison here works on every image's right-or-wrong answer. Seed s of A is paired with seed s
of B (the same seed number: the same draws where the two settings share them) and both answer the
same images, so for seed s and image i the difference d[s, i] = A right - B right is -1, 0 or +1.
The mean D of all of them is the difference in accuracy. How much D would move in a repeat comes
from two directions of the table:

- across seeds: the accuracy difference of each seed pair (a row mean) varies by training luck;
- across images: the difference on each image (a column mean) varies from image to image.

Var(D) is estimated from the table's three mean squares (rows, columns, and what is left when both are
taken out) as two parts: the seeds' part, rows / (seeds × images), known from seeds - 1 degrees of
freedom; and the images' part, (columns - left) / (seeds × images): the columns' mean square also holds
the seeds' luck image by image, which the rows already counted, so it is taken out once. Where the
columns do not exceed it, the images add nothing beyond that luck and the seeds' part is all.

How far D must lie from zero, in standard errors, depends on how well each part is known: the seeds'
part from a handful of seeds (2 degrees of freedom with 3 seeds: Student's t asks for 4.3 standard
errors), the images' part from hundreds of images (about 1.97). Cochran and Cox's rule takes the
critical value of each part's own t, averaged with the parts' shares of the variance as weights: where
the seeds' luck dominates, the bar is a paired t-test's over seeds; where the test images' sampling
dominates, it is a test over images. (It is the cautious reading: the value where Var(D) is treated
as a single estimate with Welch-Satterthwaite's degrees of freedom lies lower, and called 8 % of
pairs of different but equally good settings different with 3 seeds.)

Three versions were measured and dropped (simulations of 2,000 repeats; `tests/test_verdicts.py`
measures the one kept): adding the whole column variance with the columns' own degrees of freedom
called 5.3-7 % of equal pairs different; one t with Welch-Satterthwaite's degrees of freedom held 5 %
for two runs of one setting, but not for different settings equally good on average; never allowing
more degrees of freedom than the seeds give was safe but so cautious that chapter 04's three seeds
could not show even a seven-point gap on 916 images.

Several comparisons at once (every strategy against one baseline) raise the chance that one of them
fires by luck; Holm's step-down correction keeps the chance of *any* false call at 5 %.

`calibrate` measures all this instead of trusting it: it runs the comparison many times on two
settings that are equal by construction and counts how often it calls them different.

    >>> correct_a, correct_b = simulated_pair(0)     # (seeds, images) of 0/1 each: one setting trained twice
    >>> correct_a.shape
    torch.Size([3, 300])
    >>> row = compare(correct_a, correct_b)
    >>> points(row["difference"]), f"p {row['p']:.2f}", row["real"]   # 15 points apart, and still luck
    ('-15.0 points', 'p 0.22', False)
"""
from __future__ import annotations

import math

import torch
from scipy import optimize, stats

ALPHA = 0.05
"""The false-positive rate a verdict allows: at most 5 % of comparisons of equal settings called real."""


def as_table(correct) -> torch.Tensor:
    """Right-or-wrong answers as a float (seeds, images) table: from a tensor, a list of runs' lists, or
    a list of "0"/"1" strings (how a run's result stores them, see `analysis.train_setup`)."""
    if isinstance(correct, torch.Tensor):
        table = correct.float()
    else:
        rows = [torch.tensor([c == "1" for c in row]) if isinstance(row, str) else torch.as_tensor(row)
                for row in correct]
        table = torch.stack(rows).float()
    return table.unsqueeze(0) if table.dim() == 1 else table


def difference(correct_a, correct_b) -> dict:
    """A's accuracy minus B's, with its standard error and what it is made of (see the module's text).

    Both tables have one row per seed (paired by position) and one column per test image (the same
    images in the same order). Returns difference, se, parts (each part of the variance with its degrees
    of freedom: the seeds', then the images' where they count), and the two mean accuracies.

    >>> difference(torch.tensor([[1, 1, 0, 1]] * 3), torch.tensor([[1, 0, 0, 1]] * 3))["difference"]
    0.25
    """
    a, b = as_table(correct_a), as_table(correct_b)
    if a.shape != b.shape:
        raise ValueError(f"Both settings need the same seeds and test images: {tuple(a.shape)} vs {tuple(b.shape)}.")
    seeds, images = a.shape
    d = a - b
    # A two-way table: d[s, i] = overall + seed effect + image effect + what is left (the seed's luck on that
    # image). Its mean squares: of the seeds' rows, of the images' columns, and of what is left.
    parts = []
    if seeds > 1 and images > 1:
        rows = images * d.mean(1).var().item()
        columns = seeds * d.mean(0).var().item()
        left_over = d - d.mean(1, keepdim=True) - d.mean(0, keepdim=True) + d.mean()
        left = left_over.pow(2).sum().item() / ((seeds - 1) * (images - 1))
        parts.append((rows / (seeds * images), seeds - 1))
        if columns > left:  # the images differ beyond the seeds' luck: their sampling counts too
            # Welch-Satterthwaite: what columns - left is worth in degrees of freedom. A difference near zero
            # is itself noisy and gets few of them, down to a fraction of one whose t value is astronomical; it
            # is then a small share of the variance, and is held to be known at least as well as the seeds' part.
            free = (columns - left) ** 2 / (columns ** 2 / (images - 1) + left ** 2 / ((seeds - 1) * (images - 1)))
            parts.append(((columns - left) / (seeds * images), max(free, seeds - 1)))
    return with_parts({"difference": d.mean().item(), "accuracy_a": a.mean().item(), "accuracy_b": b.mean().item(),
                       "seeds": seeds, "images": images}, parts)


def with_parts(row: dict, parts: list) -> dict:
    """`row` with its variance's `parts` [(variance, degrees of freedom)], their standard error, and the
    degrees of freedom of one t for them all (Welch-Satterthwaite; shown, not used for the verdict)."""
    variance = sum(value for value, _ in parts)
    row.update(parts=parts, se=math.sqrt(variance) if variance > 0 else math.nan,
               df=variance ** 2 / sum(value ** 2 / free for value, free in parts) if variance > 0 else math.nan)
    return row


def critical(row: dict, alpha: float = ALPHA) -> float:
    """How many standard errors a difference must lie from zero to be called real at `alpha` (two-sided):
    each part's own Student's t value, weighted by the part's share of the variance (Cochran and Cox)."""
    parts = [(value, free) for value, free in row["parts"] if value > 0]
    total = sum(value for value, _ in parts)
    return sum(value * stats.t.ppf(1 - alpha / 2, free) for value, free in parts) / total


def p_value(row: dict) -> float:
    """Two-sided: the smallest `alpha` at which this difference would be called real (`critical`).

    1.0 when it cannot be judged: one seed (no measure of the seeds' luck) or no variation at all
    (two settings that answered every image alike).
    """
    if not (row["se"] > 0):
        return 1.0
    distance = abs(row["difference"]) / row["se"]
    if distance <= 0:
        return 1.0
    tiny = 1e-12
    if critical(row, tiny) <= distance:
        return tiny
    return float(optimize.brentq(lambda alpha: critical(row, alpha) - distance, tiny, 1.0, xtol=1e-14))


def interval(row: dict, level: float = 0.95) -> tuple[float, float]:
    """The `level` confidence interval of the difference (±inf when it cannot be judged)."""
    if not (row["se"] > 0):
        return (-math.inf, math.inf)
    half = critical(row, 1 - level) * row["se"]
    return (row["difference"] - half, row["difference"] + half)


def compare(correct_a, correct_b, alpha: float = ALPHA) -> dict:
    """One comparison: `difference`'s row with its p-value, 95 % interval and verdict ("real": p < alpha).

    >>> a = torch.tensor([[1, 1, 1, 0] * 100] * 3)       # 3 seeds × 400 images: 75 % right
    >>> b = torch.tensor([[1, 0, 1, 0] * 100] * 3)       # 50 % right, wrong wherever A is
    >>> compare(a, b)["real"], compare(*simulated_pair(0))["real"]
    (True, False)
    """
    row = difference(correct_a, correct_b)
    row["p"] = p_value(row)
    row["low"], row["high"] = interval(row)
    row["real"] = row["p"] < alpha
    return row


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment: p-values that can each be held against `ALPHA` whatever their number.

    The smallest p is multiplied by the number of comparisons m, the next by m-1, and so on, each kept
    at least as large as the one before (and at most 1).

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = round(running, 12)
    return adjusted


def against(tables: dict, baseline: str, names=None, alpha: float = ALPHA, correct: bool = True) -> list[dict]:
    """Settings of `tables` ({name: (seeds, images) answers}) compared with `baseline`, Holm-corrected.

    names: the settings to compare (default: every one but the baseline). One row per setting: name,
    baseline, its accuracy and the baseline's, the difference, its 95 % interval, the raw and the
    adjusted p-value, and the verdict: "above", "below" or "within the noise". With `correct` False
    the rows get no verdict yet: `adjust` a larger family they belong to.

    >>> scratch, probe = simulated_pair(0)              # equally good, by construction
    >>> finetune = torch.ones_like(scratch)             # right on every image
    >>> rows = against({"scratch": scratch, "finetune": finetune, "linear probe": probe}, baseline="scratch")
    >>> [(row["name"], row["verdict"]) for row in rows]
    [('finetune', 'above'), ('linear probe', 'within the noise')]
    """
    names = [name for name in tables if name != baseline] if names is None else names
    rows = [dict(compare(tables[name], tables[baseline], alpha), name=name, baseline=baseline) for name in names]
    return adjust(rows, alpha) if correct else rows


def adjust(rows, alpha: float = ALPHA) -> list[dict]:
    """Holm-correct a family of `compare` rows together and give each its verdict (the rows are updated).

    Use it when one reading rests on several comparisons, e.g. every strategy against scratch on two targets.
    """
    for row, adjusted in zip(rows, holm([row["p"] for row in rows])):
        row["p_adjusted"] = adjusted
        row["real"] = adjusted < alpha
        row["verdict"] = ("above" if row["difference"] > 0 else "below") if row["real"] else "within the noise"
    return rows


def contrast(first: dict, second: dict, alpha: float = ALPHA) -> dict:
    """Whether two differences measured on *different* test images differ (say, the gain on near and on far).

    The two are independent: their variances' parts add up, each keeping its degrees of freedom.
    """
    row = with_parts({"difference": first["difference"] - second["difference"],
                      "seeds": min(first["seeds"], second["seeds"]), "images": first["images"] + second["images"]},
                     list(first["parts"]) + list(second["parts"]))
    row["p"] = p_value(row)
    row["low"], row["high"] = interval(row)
    row["real"] = row["p"] < alpha
    return row


def points(value: float) -> str:
    """A difference of accuracies in percentage points, signed: `points(0.123)` is '+12.3 points'."""
    return f"{100 * value:+.1f} points"


def sentence(row: dict) -> str:
    """One comparison in words, with its interval and what the verdict rests on.

    >>> sentence({"name": "finetune", "baseline": "scratch", "difference": 0.12, "low": 0.05, "high": 0.19,
    ...           "p_adjusted": 0.004, "verdict": "above", "seeds": 5, "images": 1500})
    'finetune vs scratch: +12.0 points (95 % interval +5.0 to +19.0 points), above: real (adjusted p 0.004, 5 seeds × 1,500 images).'
    """
    p = row.get("p_adjusted", row.get("p"))
    judged = "real" if row["verdict"] != "within the noise" else "not shown"
    where = f"{row['verdict']}: {judged}" if judged == "real" else "within the noise"
    span = (f"95 % interval {points(row['low'])} to {points(row['high'])}" if math.isfinite(row["low"])
            else "no interval: one seed cannot measure the seeds' luck")
    return (f"{row['name']} vs {row['baseline']}: {points(row['difference'])} ({span.replace(' points', '', 1)}), "
            f"{where} (adjusted p {p:.3f}, {row['seeds']} seeds × {row['images']:,} images).")


# ---------------------------------------------------------------------------------------------
# Measuring the comparison: how often it calls equal settings different, and how often it sees a real gap
# ---------------------------------------------------------------------------------------------


def overlap_rule(correct_a, correct_b) -> bool:
    """The rule this kit used before: "real" when the seeds' accuracy ranges do not overlap (kept to be measured)."""
    a, b = as_table(correct_a).mean(1), as_table(correct_b).mean(1)
    return bool(a.max() < b.min() or b.max() < a.min())


def image_only_rule(correct_a, correct_b, alpha: float = ALPHA) -> bool:
    """A paired test over images that ignores the seeds (as one run per setting would): seed 0 of each only."""
    a, b = as_table(correct_a)[:1], as_table(correct_b)[:1]
    d = (a - b)[0]
    se = d.std().item() / math.sqrt(len(d)) if len(d) > 1 else 0.0
    return se > 0 and 2 * stats.norm.sf(abs(d.mean().item()) / se) < alpha


def simulated_pair(repeat: int, seeds: int = 3, images: int = 300, luck: float = 0.5, preference: float = 0.0) -> tuple:
    """Two settings' runs, simulated: (seeds, images) answers each, where a seed's luck moves all its answers.

    Each image has a difficulty and each run a luck (both normal; `luck` is its spread on the logit scale),
    and a run answers an image right with probability sigmoid(difficulty + luck), so a lucky start lifts
    every image of its run. Trained networks vary like that from seed to seed; probes on fixed features
    barely do. With `preference` 0 the two settings are the same; above 0, each image also favours one
    of them (A by +p, B by -p on the logit scale, p normal with that spread): two different settings,
    each better on other images, equally good on average. Either way a verdict of "real" is a false
    positive.
    """
    generator = torch.Generator().manual_seed(20_000 + repeat)
    difficulty = torch.randn(images, generator=generator)
    favour = torch.randn(images, generator=generator) * preference

    def runs(sign):
        shift = torch.randn(seeds, 1, generator=generator) * luck
        return (torch.rand(seeds, images, generator=generator) < torch.sigmoid(difficulty + sign * favour + shift)).float()
    return runs(1), runs(-1)


RULES = {
    "this kit's comparison": lambda a, b: compare(a, b)["real"],
    "ranges of the seeds do not overlap": overlap_rule,
    "one run each, test over images": image_only_rule,
}
"""The rules `calibrate` measures side by side, by the name a chapter shows."""


def calibrate(draw_pair, repeats: int = 200, rules=None) -> dict:
    """How often each rule calls a pair "real": {rule name: fraction of `repeats`}.

    `draw_pair(repeat)` returns one fresh pair of (seeds, images) answer tables. For two settings that
    are equal by construction the fraction is the false-positive rate (it should be at most `ALPHA`);
    for settings with a known real gap it is the power (the higher the better).

    >>> rates = calibrate(simulated_pair)               # 200 pairs of equal settings: every "real" is false
    >>> {rule: f"{rate:.1%}" for rule, rate in rates.items()}
    {"this kit's comparison": '5.5%', 'ranges of the seeds do not overlap': '12.0%',
     'one run each, test over images': '63.5%'}
    """
    rules = RULES if rules is None else rules
    called = dict.fromkeys(rules, 0)
    for repeat in range(repeats):
        a, b = draw_pair(repeat)
        for name, rule in rules.items():
            called[name] += bool(rule(a, b))
    return {name: count / repeats for name, count in called.items()}


# ---------------------------------------------------------------------------------------------
# Reading a sweep's runs: which settings differ, in sentences
# ---------------------------------------------------------------------------------------------


def answers_by_setting(results, name=lambda result: result["label"]) -> dict:
    """{setting: (seeds, test images) answers} from runs that kept them (`analysis.train_setup`'s "test_correct").

    Seeds are put in order, and only the seeds every setting has are kept, so seed s of one setting
    always sits beside seed s of another. Runs without answers (not tested, or recorded before the kit
    kept them) are left out.
    """
    runs = {}
    for result in results:
        if result.get("test_correct"):
            runs.setdefault(name(result), {})[result["config"]["seed"]] = result["test_correct"]
    shared = sorted(set.intersection(*(set(seeds) for seeds in runs.values()))) if runs else []
    return {setting: as_table([seeds[s] for s in shared]) for setting, seeds in runs.items() if shared}


def read(results, baseline: str | None = None, name=lambda result: result["label"], what: str = "test accuracy") -> str:
    """What a sweep's runs say, in sentences whose "real" is the calibrated comparison's (Holm-corrected).

    With `baseline` (a setting's name as `name` gives it): every other setting against it. Without:
    every other setting against the one with the highest mean (picked on these same test images, so
    "not shown to be worse" is the honest reading of a tie, never "equal").

    >>> def run(strategy, seed, answers):               # what `read` uses of a run's result
    ...     return {"strategy": strategy, "config": {"seed": seed}, "test_correct": answers}
    >>> results = [run("scratch", seed, "1100" * 50) for seed in (0, 1, 2)] + [
    ...     run("finetune", seed, "1110" * 50) for seed in (0, 1, 2)]
    >>> print(read(results, baseline="scratch", name=lambda r: r["strategy"]))
    Against scratch (50.0 %): above it, beyond the noise: finetune.
    (3 seeds × 200 test images per setting; 1 comparison, Holm-corrected.)
    """
    tables = answers_by_setting(results, name)
    if len(tables) < 2:
        return f"Fewer than two settings kept their answers, so there is no {what} to compare."
    seeds, images = next(iter(tables.values())).shape
    means = {setting: table.mean().item() for setting, table in tables.items()}
    if baseline is None:
        best = max(means, key=means.get)
        rows = against(tables, best)
        worse = [row["name"] for row in rows if row["verdict"] == "below"]
        tied = [row["name"] for row in rows if row["verdict"] != "below"]
        # "below it: a, b" when some are below and some not; one clause when all are on one side.
        below = f"below it, beyond the noise: {', '.join(worse)}" if tied else "every other setting is below it, beyond the noise"
        lines = [f"Highest {what}: {best}, {100 * means[best]:.1f} %; "
                 + "; ".join(([below] if worse else []) + ([f"not shown to be worse: {', '.join(tied)}"] if tied else [])) + "."]
    else:
        rows = against(tables, baseline)
        groups = {verdict: [row["name"] for row in rows if row["verdict"] == verdict]
                  for verdict in ("above", "within the noise", "below")}
        lines = [f"Against {baseline} ({100 * means[baseline]:.1f} %): " + "; ".join(
            f"{verdict}{'' if verdict == 'within the noise' else ' it, beyond the noise'}: {', '.join(names)}"
            for verdict, names in groups.items() if names) + "."]
    lines.append(f"({seeds} seed{'s' if seeds != 1 else ''} × {images:,} test images per setting; {len(rows)} "
                 f"comparison{'s' if len(rows) != 1 else ''}, Holm-corrected.)")
    return "\n".join(lines)
