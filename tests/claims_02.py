"""Chapter 02's claims: each sentence that states a number, a comparison or a verdict, with the output that backs it.

Maths the chapter derives (softmax's shift identity, the regimes of ηλ, momentum's limit 2(1 + β)/λ) is
not a claim about an output; where the prose reads a number off a printed one, the claim reads it too.
"""
import re

from claims import Claim, table

CH02 = "02_loss_and_gradient_descent.ipynb"


def printed(out: str, label: str) -> float:
    """The number after `label` in a `label: number` line (the first one)."""
    return float(re.search(rf"^{re.escape(label)}\s*:\s*([-\d.e+]+)", out, re.MULTILINE)[1])


def matrices(out: str) -> dict:
    """{title: rows of numbers} of the `title:` + `text.numbers` blocks a cell prints one after another."""
    found = {}
    for title, body in re.findall(r"^([^\[\n]+):\n(\[[^:]*?\]\])", out, re.MULTILINE):
        found[title] = [[float(x) for x in row.split(",")] for row in re.findall(r"\[\s*([^\[\]]+)\]", body)]
    return found


def vector(out: str, label: str) -> list[float]:
    """The numbers of the `label : [[a, b, ...]]` line (one row printed by `text.numbers`)."""
    line = re.search(rf"^{re.escape(label)}\s*: \[+([^\]]+)\]", out, re.MULTILINE)[1]
    return [float(x) for x in line.split(",")]


def saturation(out: str) -> dict:
    """{margin: (p(true), cross-entropy's push, squared error's push)} of section 4's table."""
    return {int(row["margin"]): (float(row["p(true)"]), float(row["cross-entropy"]), float(row["squared error"]))
            for row in table(out, "margin")}


def epsilon_errors(out: str) -> dict:
    """{eps: (float64 error, float32 error)} of the finite-difference table."""
    return {float(eps): (float(e64), float(e32))
            for eps, e64, e32 in re.findall(r"^\s*(\d+e-\d+)\s+([\d.e+-]+)\s+([\d.e+-]+)$", out, re.MULTILINE)}


def curvatures(out: str, surface: str) -> tuple[float, float, str]:
    """(smallest, largest, where) of one surface's curvatures at its minimum."""
    found = re.search(rf"^\s*{surface}: curvatures ([\d.e+-]+) and ([\d.e+-]+) at (\([^)]*\))", out, re.MULTILINE)
    return float(found[1]), float(found[2]), found[3]


def descents(out: str) -> dict:
    """{lr: (final loss, steps, verdict)} of the learning-rate cell."""
    return {lr: (float(loss), int(steps), verdict) for lr, loss, steps, verdict in
            re.findall(r"^lr = ([\d.]+): loss (\S+) after (\d+) steps -> (.+)$", out, re.MULTILINE)}


def momentum_runs(out: str) -> dict:
    """{(surface, lr, momentum): (final loss as printed, verdict)} of the momentum cell."""
    return {(surface, lr, momentum): (loss, verdict) for surface, lr, momentum, loss, verdict in re.findall(
        r"^\s*(\w+), lr ([\d.]+), momentum ([\d.]+): loss (\S+) after \d+ steps -> (.+)$", out, re.MULTILINE)}


def saddle_runs(out: str) -> dict:
    """{start y as printed: (final loss, verdict)}."""
    return {y0: (float(loss), verdict) for y0, loss, verdict in
            re.findall(r"^start y = (\S+): loss (\S+) -> (.+)$", out, re.MULTILINE)}


def gradient_noise(out: str) -> dict:
    """{batch size: typical error of a mini-batch gradient}, and the full gradient's length under the key 'full'."""
    noise = {int(b): float(e) for b, e in re.findall(r"^batch size\s+(\d+): typical error of a mini-batch gradient ([\d.]+)$",
                                                      out, re.MULTILINE)}
    noise["full"] = float(re.search(r"length of the full gradient at w = 0: ([\d.]+)", out)[1])
    return noise


def least_squares(out: str) -> tuple[float, float]:
    found = re.search(r"lowest possible loss \(least squares, w = \(([-\d.]+), ([-\d.]+)\)\)", out)
    return float(found[1]), float(found[2])


def noise_floor(out: str) -> dict:
    """{batch size: (mean above the minimum, std over seeds, steps, seeds)}, each number as printed."""
    return {int(b): (mean, std, int(steps), int(seeds)) for b, steps, mean, seeds, std in re.findall(
        r"^batch size\s+(\d+): loss above the minimum after (\d+) steps: mean (\S+), spread over (\d+) seeds \(std\) (\S+)$",
        out, re.MULTILINE)}


def drift(out: str) -> dict:
    """{steps: largest |by hand - torch| over all parameters}."""
    return {int(row["steps"]): float(row["largest |by hand - torch| over all parameters"]) for row in table(out, "steps")}


def by_hand_vs_torch(out: str) -> dict:
    losses = re.search(r"loss: start ([\d.]+), after 300 steps ([\d.]+) \(by hand\), ([\d.]+) \(torch\)", out)
    accuracies = re.search(r"accuracy: (\d+)% \(by hand\), (\d+)% \(torch\)", out)
    return {"start": float(losses[1]), "hand": float(losses[2]), "torch": float(losses[3]),
            "hand accuracy": int(accuracies[1]), "torch accuracy": int(accuracies[2]),
            "agree": "parameters agree to 1e-5 after 300 steps: True" in out}


def close(a: list[float], b: list[float], tolerance: float = 1e-4) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b))


def same_rows(a: list[list[float]], b: list[list[float]]) -> bool:
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))


def is_nan_row(row: list[float]) -> bool:
    return all(x != x for x in row)


SOFTMAX_TITLES = ("naive", "stable", "torch")

CLAIMS = [
    # 1. Softmax
    Claim(CH02, "The first and third rows get the same probabilities: their logits differ by a constant.",
          "output-softmax-overflow", lambda out: same_rows(matrices(out)["stable"][:1], matrices(out)["stable"][2:])),
    Claim(CH02, "The naive formula fails on both extreme rows; the stable one matches `torch.softmax` everywhere.",
          "output-softmax-overflow",
          lambda out: (lambda m: set(m) == set(SOFTMAX_TITLES) and is_nan_row(m["naive"][0]) and is_nan_row(m["naive"][1])
                       and not any(x != x for x in m["naive"][2]) and same_rows(m["stable"], m["torch"]))(matrices(out))),
    Claim(CH02, "a probability that underflowed to 0 becomes $\\log 0 = -\\infty$. Working in logs avoids ever forming "
          "the tiny probability.", "output-log-softmax",
          lambda out: "log(softmax(z)): [-inf, 0.0000]" in out and "log_softmax(z):  [-200.0000, 0.0000]" in out),

    # 2. Cross-entropy
    Claim(CH02, "it is $\\log K$ when the model spreads its probability evenly over $K$ classes", "output-cross-entropy",
          lambda out: re.search(r"even guess over 10 classes: (\S+) = log\(10\) = (\S+)", out) is not None
          and len(set(re.search(r"even guess over 10 classes: (\S+) = log\(10\) = (\S+)", out).groups())) == 1),
    Claim(CH02, "So a freshly initialised 10-class network that has no idea yet starts near a loss of 2.30.",
          "output-cross-entropy", lambda out: "even guess over 10 classes: 2.3026" in out),
    Claim(CH02, "Passing it the output of a softmax applies softmax twice: no error, just a different loss.",
          "output-softmax-twice",
          lambda out: printed(out, "F.cross_entropy(probs, targets)") != printed(out, "F.cross_entropy(logits, targets)")),
    Claim(CH02, "even a perfect prediction keeps a loss of $\\log(1 + (K-1)/e)$, 0.55 for 3 classes",
          "output-softmax-twice", lambda out: round(printed(out, "a perfect prediction given as probabilities"), 2) == 0.55),

    # 3. Binary cross-entropy
    Claim(CH02, "So two-class cross-entropy and BCE on the single logit $z_1 - z_0$ are the same number:",
          "output-bce-two-class",
          lambda out: printed(out, "two-class cross-entropy") == printed(out, "BCE of sigmoid(z1 - z0)")
          == printed(out, "F.binary_cross_entropy")),
    Claim(CH02, "That is a different number and, more importantly, a different gradient.", "output-bce-per-class",
          lambda out: printed(out, "cross-entropy") != printed(out, "BCE on each class, summed")
          and not close(vector(out, "gradient of cross-entropy"), vector(out, "gradient of per-class BCE"), 0.01)),
    Claim(CH02, "Cross-entropy's gradient is exactly softmax − one-hot (section 5 derives it); the per-class BCE "
          "gradient is not.", "output-bce-per-class",
          lambda out: vector(out, "gradient of cross-entropy") == vector(out, "softmax - one-hot")
          and not close(vector(out, "gradient of per-class BCE"), vector(out, "softmax - one-hot"), 0.01)),
    Claim(CH02, "`F.binary_cross_entropy` averages over every entry, so with $K$ classes it divides by $K$ as well: "
          "yet another different number.", "output-bce-per-class",
          lambda out: abs(3 * printed(out, "F.binary_cross_entropy (mean)") - printed(out, "BCE on each class, summed")) < 1e-3
          and printed(out, "F.binary_cross_entropy (mean)") != printed(out, "cross-entropy")),

    # 4. Saturation
    Claim(CH02, "Cross-entropy's push on the true logit is $p_{\\text{true}} - 1$: it approaches −1 as the mistake gets "
          "worse.", "output-saturation",
          lambda out: (lambda rows: all(abs(ce - (p - 1)) < 1e-4 for p, ce, _ in rows.values())
                       and [ce for _, ce, _ in rows.values()] == sorted((ce for _, ce, _ in rows.values()), reverse=True)
                       and rows[max(rows)][1] == -1.0)(saturation(out))),
    Claim(CH02, "Squared error's push collapses with $p_{\\text{true}}$: at a margin of 10 it is more than 5,000 times "
          "weaker than cross-entropy's (−1.81e-04 against −1.0000 in the table).", "output-saturation",
          lambda out: (lambda rows: rows[10][1:] == (-1.0, -1.81e-04) and rows[10][1] / rows[10][2] > 5000
                       and [abs(se) for *_, se in rows.values()] == sorted((abs(se) for *_, se in rows.values()), reverse=True))(
              saturation(out))),

    # 5. The gradient of cross-entropy, checked
    Claim(CH02, "We check it two independent ways.", "output-gradient-check",
          lambda out: (lambda m: len(m) == 3 and same_rows(m["softmax - one-hot, / N"], m["autograd"])
                       and same_rows(m["softmax - one-hot, / N"], m["finite differences"]))(matrices(out))),
    Claim(CH02, "In float64, $\\delta \\approx 10^{-16}$, and a wide range of $\\varepsilon$ works; in float32, "
          "$\\delta \\approx 10^{-7}$, and the rounding term swamps the answer for small $\\varepsilon$.", "output-epsilon",
          # The largest gradient entry is 0.2618 (output-gradient-check): an error of 0.1 or more swamps it.
          lambda out: (lambda errors: len(errors) == 4 and all(e64 < 1e-6 for e64, _ in errors.values())
                       and errors[min(errors)][1] >= 0.1)(epsilon_errors(out))),
    Claim(CH02, "Round-off rules on the left (the loss's rounding error divided by 2ε), truncation on the right (it "
          "grows like ε²)", "output-epsilon",
          # From eps 1e-2 to 1e-4 the float64 error falls about 100² = 10⁴-fold; below 1e-4 it grows again.
          lambda out: (lambda e: 1e3 < e[1e-2][0] / e[1e-4][0] < 1e5 and e[1e-8][0] > e[1e-6][0] > e[1e-4][0]
                       and e[1e-8][1] > e[1e-6][1] > e[1e-4][1])(epsilon_errors(out))),
    Claim(CH02, "So check gradients in float64.", "output-epsilon",
          lambda out: (lambda errors: len(errors) == 4 and all(e64 < e32 for e64, e32 in errors.values()))(
              epsilon_errors(out))),

    # 6. Gradient descent on 2-D surfaces
    Claim(CH02, "an elongated quadratic: 20 times steeper across than along", "output-curvatures",
          lambda out: curvatures(out, "bowl")[:2] == (1.0, 20.0)),
    Claim(CH02, "a curved valley with a nearly flat floor, minimum at (1, 1)", "output-curvatures",
          lambda out: (lambda c: c[2] == "(1.0, 1.0)" and c[1] / c[0] > 100)(curvatures(out, "banana"))),
    Claim(CH02, "the gradient is zero at (0, 0), which is a minimum along $x$ but a maximum along $y$; the real minima are "
          "at (0, ±1).", "output-curvatures",
          lambda out: "saddle point (0, 0): curvatures [-1.0, 1.0]" in out and curvatures(out, "saddle")[2] == "(0.0, -1.0)"
          and curvatures(out, "saddle")[0] > 0),
    Claim(CH02, "(for the saddle, also at the saddle point, where one curvature is negative)", "output-curvatures",
          lambda out: "saddle point (0, 0): curvatures [-1.0, 1.0]" in out),
    Claim(CH02, "On the bowl, the limit is 2/20 = 0.1, and the best single rate 2/(1 + 20) ≈ 0.095.", "output-curvatures",
          lambda out: "needs lr < 2/20 = 0.1\n" in out
          and (lambda c: round(2 / (c[0] + c[1]), 3) == 0.095)(curvatures(out, "bowl"))),
    Claim(CH02, "`explore_descent`, runs 100 steps from the surface's start point", "output-learning-rates",
          lambda out: {steps for _, steps, _ in descents(out).values()} == {100}),
    Claim(CH02, "with the limit at 0.1, what does plain gradient descent do on the bowl at lr 0.105", "output-curvatures",
          lambda out: "needs lr < 2/20 = 0.1\n" in out),
    Claim(CH02, "at 0.09 both directions close in", "output-learning-rates",
          lambda out: descents(out)["0.09"][2] == "converged" and descents(out)["0.09"][0] < 1e-6),
    Claim(CH02, "at 0.099 it zigzags across the valley (0.099 × 20 = 1.98, just under 2) and is still far from the bottom "
          "after 100 steps", "output-learning-rates",
          lambda out: descents(out)["0.099"][2] == "oscillating" and descents(out)["0.099"][0] > 0.1),
    Claim(CH02, "at 0.105 every zigzag grows, and the loss ends in the billions.", "output-learning-rates",
          lambda out: descents(out)["0.105"][2] == "diverged" and 1e9 <= descents(out)["0.105"][0] < 1e12),
    Claim(CH02, "On the bowl, lr = 0.12 diverges without momentum (0.12 > 0.1) but converges with momentum 0.5",
          "output-momentum",
          lambda out: momentum_runs(out)[("bowl", "0.12", "0.0")][1] == "diverged"
          and momentum_runs(out)[("bowl", "0.12", "0.5")][1] == "converged"),
    Claim(CH02, "(the limit becomes 2 × 1.5 / 20 = 0.15)", "output-curvatures",
          lambda out: round(2 * 1.5 / curvatures(out, "bowl")[1], 3) == 0.15),
    Claim(CH02, "At lr 0.05, momentum 0.5 takes the loss from 0.00028 down to 2.9e-10 in the same 100 steps",
          "output-momentum",
          lambda out: momentum_runs(out)[("bowl", "0.05", "0.0")][0] == "0.00028"
          and f"{float(momentum_runs(out)[('bowl', '0.05', '0.5')][0]):.2g}" == "2.9e-10"),
    Claim(CH02, "but momentum 0.9 is too much for this bowl: the path circles the minimum and ends hardly better off than "
          "with no momentum at all (0.00024 against 0.00028).", "output-momentum",
          lambda out: (lambda runs: runs[("bowl", "0.05", "0.9")] == ("0.00024", "converging with oscillation")
                       and runs[("bowl", "0.05", "0.0")][0] == "0.00028"
                       and float(runs[("bowl", "0.05", "0.9")][0]) > 1e3 * float(runs[("bowl", "0.05", "0.5")][0]))(
              momentum_runs(out))),
    Claim(CH02, "On the banana, the flat curved floor is where momentum shines: with the same lr = 0.01 it reaches the "
          "minimum in 300 steps, while plain descent is still crawling along the valley.", "output-momentum",
          lambda out: momentum_runs(out)[("banana", "0.01", "0.9")][1] == "converged"
          and momentum_runs(out)[("banana", "0.01", "0.0")][1] == "slow" and "banana, lr 0.01, momentum 0.9: loss" in out
          and all(line.endswith("after 300 steps -> slow") or line.endswith("after 300 steps -> converged")
                  for line in out.splitlines() if line.strip().startswith("banana"))),
    Claim(CH02, "Started exactly on the ridge y = 0, the gradient never has a y component, and descent settles on the "
          "saddle point.", "output-saddle", lambda out: saddle_runs(out)["0.0"][1] == "stuck"),
    Claim(CH02, "A nudge of 0.000001 in y is enough to roll off", "output-saddle",
          lambda out: saddle_runs(out)["1e-06"] == (-0.25, "converged")),
    Claim(CH02, "**bowl**, lr 0.12: momentum 0 diverges; raise the momentum to 0.5.", "output-momentum",
          lambda out: momentum_runs(out)[("bowl", "0.12", "0.0")][1] == "diverged"),

    # 7. Mini-batch noise
    Claim(CH02, "The problem: a linear regression with two weights, $n = 256$ examples, $y = 2 x_1 - 3 x_2 + "
          "\\text{noise}$, mean squared error.", "output-gradient-noise",
          lambda out: gradient_noise(out)[256] == 0 and all(abs(w - t) < 0.1 for w, t in zip(least_squares(out), (2, -3)))),
    Claim(CH02, "With one example per step the gradient's error (12.5) is larger than the gradient itself (7.1); with 16 "
          "examples it is about 4 times smaller than with one (√16 = 4); the full batch has none.", "output-gradient-noise",
          lambda out: (lambda noise: round(noise[1], 1) == 12.5 and round(noise["full"], 1) == 7.1
                       and noise[1] > noise["full"] and 3.5 < noise[1] / noise[16] < 4.5 and noise[256] == 0)(gradient_noise(out))),
    Claim(CH02, "Full-batch descent keeps converging (down to rounding error).", "output-noise-floor",
          lambda out: float(noise_floor(out)[256][0]) < 1e-12),
    Claim(CH02, "SGD with a constant learning rate stalls at a **noise floor**", "output-noise-floor",
          lambda out: all(float(noise_floor(out)[b][0]) > 1e-4 for b in (1, 16))),
    Claim(CH02, "In the full run (20 seeds, 300 steps) batch size 1 ended 0.041 above the minimum on average, with a "
          "spread of 0.031 between seeds; batch size 16 ended about 24 times closer, at 0.0017.", "output-noise-floor",
          lambda out: (lambda floor: floor[1] == ("0.041", "0.031", 300, 20) and floor[16][0] == "0.0017"
                       and floor[16][2:] == (300, 20) and round(float(floor[1][0]) / float(floor[16][0])) == 24)(
              noise_floor(out))),
    Claim(CH02, "The floor drops as the batch grows", "output-noise-floor",
          lambda out: (lambda floor: float(floor[1][0]) > float(floor[16][0]) > float(floor[256][0]))(noise_floor(out))),
    Claim(CH02, "Per *step*, bigger batches win.", "output-noise-floor",
          lambda out: (lambda floor: float(floor[1][0]) > float(floor[16][0]) > float(floor[256][0]))(noise_floor(out))),
    Claim(CH02, "the 300 steps of batch size 1 touched 300 examples, while the full batch touched 76,800, and 300 "
          "examples buy the full batch barely more than one step.", "output-noise-floor",
          lambda out: {steps for *_, steps, _ in noise_floor(out).values()} == {300} and 300 * max(noise_floor(out)) == 76_800),

    # 8. The tiny network by hand
    Claim(CH02, "The two agree to float32 rounding (its precision is about 1e-7 relative to each number).",
          "output-by-hand-vs-torch",
          lambda out: (lambda r: r["agree"] and r["hand"] == r["torch"] and r["hand accuracy"] == r["torch accuracy"])(
              by_hand_vs_torch(out))),
    Claim(CH02, "The two agree to float32 rounding (its precision is about 1e-7 relative to each number).", "output-drift",
          lambda out: drift(out)[1] < 1e-6),
    Claim(CH02, "They are not bit-identical", "output-drift", lambda out: all(d > 0 for d in drift(out).values())),
    Claim(CH02, "those last-bit differences grow slowly over training, to around 1e-6 here after 300 steps",
          "output-drift",
          lambda out: (lambda d: list(d) == [1, 10, 100, 300] and list(d.values()) == sorted(d.values())
                       and 5e-7 <= d[300] <= 2e-6)(drift(out))),
    Claim(CH02, "far below anything that changes a prediction.", "output-by-hand-vs-torch",
          lambda out: by_hand_vs_torch(out)["hand accuracy"] == by_hand_vs_torch(out)["torch accuracy"]),

    # Recap
    Claim(CH02, "compute it after subtracting the largest logit", "output-softmax-overflow",
          lambda out: same_rows(matrices(out)["stable"], matrices(out)["torch"])),
    Claim(CH02, "compute $\\log p$ with `log_softmax`, never `log(softmax(...))`.", "output-log-softmax",
          lambda out: "log(softmax(z)): [-inf" in out and "-inf" not in out.split("log_softmax(z):", 1)[1]),
    Claim(CH02, "`F.cross_entropy` takes logits; giving it probabilities silently applies softmax twice.",
          "output-softmax-twice",
          lambda out: printed(out, "F.cross_entropy(probs, targets)") != printed(out, "F.cross_entropy(logits, targets)")),
    Claim(CH02, "softmax with cross-entropy over two classes is the same thing", "output-bce-two-class",
          lambda out: printed(out, "two-class cross-entropy") == printed(out, "BCE of sigmoid(z1 - z0)")),
    Claim(CH02, "BCE applied per class to a softmax is a different loss", "output-bce-per-class",
          lambda out: printed(out, "cross-entropy") != printed(out, "BCE on each class, summed")),
    Claim(CH02, "its gradient vanishes for confidently wrong predictions, where cross-entropy's stays near −1.",
          "output-saturation",
          lambda out: (lambda rows: abs(rows[max(rows)][2]) < 1e-5 and abs(rows[max(rows)][1] + 1) < 1e-3)(saturation(out))),
    Claim(CH02, "Check any gradient against autograd and against central finite differences in float64.",
          "output-gradient-check",
          lambda out: same_rows(matrices(out)["autograd"], matrices(out)["finite differences"])),
    Claim(CH02, "Above the limit it diverges; just below, it zigzags.", "output-learning-rates",
          lambda out: descents(out)["0.105"][2] == "diverged" and descents(out)["0.099"][2] == "oscillating"),
    Claim(CH02, "raises the limit to 2(1 + β)/λ and speeds up flat valleys, but too much overshoots.", "output-momentum",
          lambda out: (lambda runs: runs[("bowl", "0.12", "0.5")][1] == "converged"
                       and runs[("banana", "0.01", "0.9")][1] == "converged" and runs[("banana", "0.01", "0.0")][1] == "slow"
                       and runs[("bowl", "0.05", "0.9")][1] == "converging with oscillation")(momentum_runs(out))),
    Claim(CH02, "A zero gradient can be a **saddle**, not a minimum.", "output-saddle",
          lambda out: saddle_runs(out)["0.0"][1] == "stuck"),
    Claim(CH02, "**Mini-batch** gradients are unbiased but noisy (error ∝ 1/√B)", "output-gradient-noise",
          lambda out: 3.5 < gradient_noise(out)[1] / gradient_noise(out)[16] < 4.5),
    Claim(CH02, "SGD stalls at a noise floor that shrinks with larger batches", "output-noise-floor",
          lambda out: (lambda floor: float(floor[1][0]) > float(floor[16][0]) > 0)(noise_floor(out))),
    Claim(CH02, "A hand-written backward pass and update rule reproduce `torch.optim.SGD` to float32 rounding.",
          "output-by-hand-vs-torch", lambda out: by_hand_vs_torch(out)["agree"]),
    Claim(CH02, "A hand-written backward pass and update rule reproduce `torch.optim.SGD` to float32 rounding.",
          "output-backward-check",
          lambda out: out.count("hand-written and autograd agree to 1e-12: True") == 4 and "False" not in out),
]
