"""Chapter 01's claims: each sentence that states a number, a ranking or a verdict, with the output that backs it."""
import re

from claims import Claim, table

CH01 = "01_background.ipynb"
SCRATCH = "not copied (from scratch)"
COPIED = "copied shared stages"


def vote(out: str, cifar100_class: str) -> dict:
    """The lookalike-votes row of one CIFAR-100 class."""
    return next(row for row in table(out, "CIFAR-100 class") if row["CIFAR-100 class"] == cifar100_class)


def agreeing(out: str) -> tuple[int, int]:
    """(classes whose most frequent answer is the lookalike, classes in the table), as the cell prints them."""
    found = re.search(r"agrees with the table for (\d+) of (\d+) classes", out)
    return int(found[1]), int(found[2])


def reference_rows(out: str) -> list[dict]:
    """The recorded comparison's rows that have a gap to scratch (scratch's own row ends with an empty cell)."""
    return table(out, "setting")


def rate_of(out: str, strategy: str) -> str | None:
    """The learning rate in the label of a recorded strategy ('scratch', 'finetune', 'linear probe', ...)."""
    found = re.search(rf"^{strategy} · (?:[^\n]*? · )?lr ([\d.]+) ·", out, re.MULTILINE)
    return found[1] if found else None


def probe_accuracies(out: str) -> dict:
    """{learning rate: (final validation accuracy, test accuracy)} of the probe cell's runs, in %."""
    return {rate: (float(val), float(test)) for rate, val, test in re.findall(
        r"linear probe at lr ([\d.]+) \(seed 0\): final validation accuracy ([\d.]+)%, test accuracy ([\d.]+)%", out)}


def per_class_range(out: str, split: str) -> tuple[int, int]:
    found = re.search(rf"CIFAR-100 {split}: [\d,]+ images, 100 classes \((\d+) to (\d+) per class\)", out)
    return int(found[1]), int(found[2])


def stage_states(out: str) -> dict:
    """{stage: state} of the strategy table that `transfer.describe_text` prints after the heads."""
    return {row["stage"]: row["state"] for row in table(out.split("\n\n", 1)[1], "stage") if row["stage"] != "total"}


CLAIMS = [
    # The header: the time is the one the last cell prints.
    Claim(CH01, "the last cell prints how long this run of the chapter took (full mode, on the real data) and the CPU "
          "it ran on", "output-chapter-time",
          lambda out: re.search(r"whole chapter: \d+ s \(test mode: False; CPU: .+\)", out) is not None),

    # 1. What transfer learning is
    Claim(CH01, "In this kit: CIFAR-10, 50,000 labelled photos, 10 classes.", "output-glossary",
          lambda out: "CIFAR-10, 50,000 labelled images, 10 classes" in out),
    Claim(CH01, "CIFAR-100, 100 other classes, with only a handful of labelled images per class on this machine",
          "output-cifar100-copy", lambda out: per_class_range(out, "train")[1] < 50),
    Claim(CH01, "chapter 04's tuning chose the same rate for fine-tuning as for training from scratch",
          "output-reference-runs", lambda out: rate_of(out, "finetune") == rate_of(out, "scratch")),

    # 2. The data
    Claim(CH01, "In this kit: CIFAR-10, 50,000 labelled photos, 10 classes.", "output-cifar10-classes",
          lambda out: out.startswith("10 classes: airplane")),
    Claim(CH01, "rebuilt one whose pixels went through JPEG compression", "output-source-meta",
          lambda out: "rebuilt" in out and "passed through JPEG" in out),
    Claim(CH01, "CIFAR-100 has 100 classes, grouped by its authors into 20 *superclasses* of 5 classes each",
          "output-superclasses",
          lambda out: (lambda lines: len(lines) == 20 and all(len(line.split(", ")) == 5 for line in lines))(
              out.strip().splitlines())),
    Claim(CH01, "the official CIFAR-100 has 50,000 training and 10,000 test images; a partial copy has fewer",
          "output-cifar100-copy",
          lambda out: "of the 50,000 official train images" in out and "of the 10,000 official test images" in out),
    Claim(CH01, "this kit's target task is **few-shot**: five labelled training images per class", "output-copied-vs-scratch",
          lambda out: "500 training images (5 per class)" in out),
    Claim(CH01, "No class name appears in both datasets", "output-shared-names",
          lambda out: out.strip() == "class names in both datasets: none"),
    Claim(CH01, "CIFAR-100 has no birds and no boats at all", "output-lookalike-table",
          lambda out: [row["cifar100"] for row in table(out, "cifar10") if row["cifar10"] in ("bird", "ship")]
          == ["(none)", "(none)"]),

    # 3. The source model: the lookalike votes resolve the leopard prediction
    Claim(CH01, "Here the model's most frequent answer agrees with the table for 9 of the 15 classes.",
          "output-lookalike-votes", lambda out: agreeing(out) == (9, 15)),
    Claim(CH01, "The leopard is not one of them: the model calls it a frog most often (43 % of the leopards) and a cat "
          "only 29 % of the time", "output-lookalike-votes",
          lambda out: vote(out, "leopard")["most often predicted"] == "frog" and vote(out, "leopard")["share"] == "43%"
          and vote(out, "leopard")["predicted as a lookalike"] == "29%" and vote(out, "leopard")["agrees"] == "False"),
    Claim(CH01, "while the tiger is called a cat most often", "output-lookalike-votes",
          lambda out: vote(out, "tiger")["most often predicted"] == "cat"),
    Claim(CH01, "A partial copy has few images per class", "output-lookalike-votes",
          lambda out: max(int(row["images"]) for row in table(out, "CIFAR-100 class")) < 50),

    # 4. Shared and new layers, parameter transfer
    Claim(CH01, "it ends in a linear layer with one output per CIFAR-10 class, and CIFAR-100 needs 100", "output-new-head",
          lambda out: "source head: linear 128 -> 10\n" in out and "target head: linear 128 -> 100\n" in out),
    Claim(CH01, "With the `linear_probe` strategy the shared stages are frozen (feature extraction) and only the new "
          "head trains", "output-new-head",
          lambda out: (lambda states: all(states[s].startswith("frozen") for s in ("stem", "stage1", "stage2", "stage3"))
                       and states["head"] == "trainable")(stage_states(out))),
    Claim(CH01, "a freshly built model starts from random weights", "output-copy-check",
          lambda out: "a fresh FastNet(100) has the source's shared weights: False" in out),
    Claim(CH01, "Here with `load_state_dict`, leaving out the head, whose shape differs", "output-copy-check",
          lambda out: re.search(r"after load_state_dict of the shared stages: +True", out) is not None
          and "the new head): ['head.fc.weight', 'head.fc.bias']" in out),

    # The copied-vs-scratch comparison
    Claim(CH01, "Here the comparison calls the copy's lead over scratch real (the last line of the output above gives "
          "its size and its 95 % interval)", "output-copied-vs-scratch",
          lambda out: f"above it, beyond the noise: {COPIED}." in out and f"{COPIED} vs {SCRATCH}: +" in out
          and ", above: real (adjusted p" in out and "(95 % interval +" in out),
    Claim(CH01, "With them, the model starts from the features it learned on 50,000 CIFAR-10 images; without them it "
          "must learn its features from five labelled images per class.", "output-copied-vs-scratch",
          lambda out: "(5 per class)" in out),
    Claim(CH01, "the features it learned on 50,000 CIFAR-10 images", "output-source-meta",
          lambda out: "the real CIFAR-10 training split (50,000 images" in out),

    # Feature transfer: the probe
    Claim(CH01, "FastNet's head multiplies the features by a fixed factor before its linear layer (the next cell "
          "prints it)", "output-probe", lambda out: "multiply by 0.125, linear 128 -> 100" in out),
    Claim(CH01, "The cell trains the probe at the runs' peak rate and at ten times it, seed 0 each, and prints both.",
          "output-probe",
          lambda out: "linear probe at lr 0.2 (seed 0)" in out and "linear probe at lr 2 (seed 0)" in out),
    Claim(CH01, "the table at the end of this section shows its choice in each label, the same 0.3 for the probe as "
          "for fine-tuning and for scratch", "output-reference-runs",
          lambda out: rate_of(out, "linear probe") == rate_of(out, "finetune") == rate_of(out, "scratch") == "0.3"),
    Claim(CH01, "On the validation images the probe did better at the larger rate here: a hint for a tuning, from one "
          "seed each, not a verdict.", "output-probe",
          lambda out: (lambda acc: len(acc) == 2 and acc["2"][0] > acc["0.2"][0])(probe_accuracies(out))),
    Claim(CH01, "The probe trains only the head's 12,900 numbers", "output-probe",
          lambda out: "the head learns 12,900 numbers" in out),
    Claim(CH01, "but draw no verdict: each probe is one seed", "output-probe",
          lambda out: out.count("(seed 0)") == 2),

    # Knowledge transfer: distillation
    Claim(CH01, "A hand check that `distillation_loss` is T² times PyTorch's KL divergence", "output-distillation-check",
          lambda out: "distillation_loss equals T^2 * F.kl_div: True" in out),
    Claim(CH01, "At T = 1 most of the weight sits on the top class; as T grows the runners-up get a visible share",
          "output-temperatures",
          lambda out: (lambda rows: float(rows[0]["T=1"]) > 0.5 and float(rows[1]["T=4"]) > float(rows[1]["T=1"])
                       and float(rows[0]["T=10"]) < float(rows[0]["T=4"]) < float(rows[0]["T=1"]))(table(out, "class"))),

    # Negative transfer: the recorded reference runs
    Claim(CH01, "chapter 04's comparison of every strategy on the five-shot task, each strategy at its own tuned "
          "learning rate, three training seeds each, scored once on the test split", "output-reference-runs",
          lambda out: "5 training images per class" in out and "916 test images" in out
          and all(row["seeds"] == "3" for row in reference_rows(out)) and " · lr " in out),
    Claim(CH01, "Here every strategy that adapts the backbone is above scratch beyond the noise, and the linear "
          "probe is within the noise", "output-reference-runs",
          lambda out: all(row["vs scratch (points)"].endswith("(within the noise)") if row["setting"].startswith("linear probe")
                          else row["vs scratch (points)"].endswith("(above, beyond the noise)")
                          for row in reference_rows(out) if not row["setting"].startswith("scratch"))),
    Claim(CH01, "each run uses its strategy's own tuned learning rate (see the labels)", "output-reference-runs",
          lambda out: all(" · lr " in row["setting"] for row in reference_rows(out))),

    # 5. DataParallel
    Claim(CH01, "On a CPU it wraps the very same module", "output-dataparallel",
          lambda out: all(f"{what}: True" in out for what in ("wrapped.module is the original model",
                                                            "the same parameter tensors", "the same outputs"))),
    Claim(CH01, "That `module.` prefix is the one practical trace it leaves", "output-dataparallel",
          lambda out: "stem.conv.weight -> module.stem.conv.weight" in out),

    # Recap
    Claim(CH01, "The **shared** stages of FastNet are `stem`, `stage1`–`stage3`; the **new** layer is the `head`.",
          "output-new-head", lambda out: list(stage_states(out)) == ["stem", "stage1", "stage2", "stage3", "head"]),
    Claim(CH01, "CIFAR-10 and CIFAR-100 share no class, but many CIFAR-100 classes look like CIFAR-10 ones.",
          "output-lookalike-votes", lambda out: 2 * agreeing(out)[0] > agreeing(out)[1]),
]
