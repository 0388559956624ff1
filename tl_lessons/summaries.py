"""Sweep results summed up: what each run tried, the spread of its seeds, and the comparison table.

A result is one trained run as a plain dict (`analysis.train_setup`'s shape: "label", "strategy",
"config", "test_acc", "final_val_acc", "seconds", ...). Runs of the same setting differ only by
their seed; these functions group them by setting and sum each group up. They only read results,
so the tables of recorded runs need nothing that trains: chapter 04's comparison, as recorded,

    >>> from tl_lessons import text
    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> results = comparison_runs(load_reference_runs())
    >>> print(text.table(summary(results)[:2]))
    setting                                    seeds  test acc %     final val acc %  seconds  trainable at start
    scratch · lr 0.3 · 5/class                     3  5.7 (5.3-6.0)  7.6 (6.9-8.5)        2.7             304,564
    linear probe · bn eval · lr 0.3 · 5/class      3  8.0 (6.9-8.7)  9.3 (8.0-10.6)       1.4              12,900
"""
from __future__ import annotations


def setting_of(result: dict) -> str:
    """What a run tried, without its seed: runs of the same setting differ only by chance.

    >>> setting_of({"label": "freeze k=2 · bn eval · lr 0.3 · 5/class", "config": {"seed": 2}})
    'freeze k=2 · bn eval · lr 0.3 · 5/class'
    """
    return result["label"]


def by_setting(results) -> dict:
    """{setting: its runs}, in the order the settings first appear."""
    groups = {}
    for result in results:
        groups.setdefault(setting_of(result), []).append(result)
    return groups


def spread(results, key: str = "test_acc") -> list[dict]:
    """Each setting's runs summed up: the mean of `key` over its seeds and the range they span.

    Returns one row per setting, in the order the settings first appear: setting, strategy, n (runs),
    mean, low, high, values. A range is a summary, not a verdict: `verdicts.read` says which
    differences are real.

    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> row = spread(comparison_runs(load_reference_runs()))[0]        # chapter 04's scratch runs
    >>> row["setting"], row["n"], f"{row['mean']:.1%} ({row['low']:.1%} to {row['high']:.1%})"
    ('scratch · lr 0.3 · 5/class', 3, '5.7% (5.3% to 6.0%)')
    """
    groups = {}
    for result in results:
        value = result.get(key)
        groups.setdefault(setting_of(result), {"strategy": result["strategy"], "results": [], "values": []})
        groups[setting_of(result)]["results"].append(result)
        if value is not None:
            groups[setting_of(result)]["values"].append(value)
    rows = []
    for name, group in groups.items():
        values = group["values"]
        rows.append({"setting": name, "strategy": group["strategy"], "n": len(values),
                     "mean": sum(values) / len(values) if values else None,
                     "low": min(values) if values else None, "high": max(values) if values else None,
                     "values": values, "config": group["results"][0].get("config")})
    return rows


def short_name(row: dict) -> str:
    """A setting's name without its tuned choices (learning rate, augmentation) and task: "freeze k=2 · bn eval"
    from its full label.

    >>> short_name({"setting": "freeze k=2 · bn eval · lr 0.3 · plain images · 5/class"})
    'freeze k=2 · bn eval'
    """
    return " · ".join(part for part in row["setting"].split(" · ")
                      if not part.startswith("lr ") and part != "plain images" and not part.endswith(("/class", "labels")))


def short_label(result: dict) -> str:
    """A run's setting without its learning rate and task (`short_name` of its label): how readings name it.

    >>> short_label({"label": "freeze k=2 · bn eval · lr 0.3 · 5/class"})
    'freeze k=2 · bn eval'
    """
    return short_name({"setting": result["label"]})


def summary(results) -> list[dict]:
    """The comparison table: one row per setting, its test and final validation accuracy as mean and
    range over its seeds (in %), its mean seconds and its trainable parameters at the start.

    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> summary(comparison_runs(load_reference_runs()))[2]
    {'setting': 'freeze k=2 · bn eval · lr 0.3 · 5/class', 'seeds': 3, 'test acc %': '11.6 (10.9-12.1)',
     'final val acc %': '12.5 (11.1-13.5)', 'seconds': '1.9', 'trainable at start': '290,148'}
    """
    rows = []
    for test_row, val_row in zip(spread(results, "test_acc"), spread(results, "final_val_acc")):
        seconds = [r["seconds"] for r in results if setting_of(r) == test_row["setting"] and r["seconds"] is not None]
        first = next(r for r in results if setting_of(r) == test_row["setting"])
        rows.append({"setting": test_row["setting"], "seeds": test_row["n"] or val_row["n"],
                     "test acc %": mean_and_range(test_row), "final val acc %": mean_and_range(val_row),
                     "seconds": f"{sum(seconds) / len(seconds):.1f}" if seconds else "-",
                     "trainable at start": f"{first['trainable_params']:,}"})
    return rows


def mean_and_range(row: dict) -> str:
    """'12.3 (11.0-13.1)': the mean and the range over seeds, in %."""
    if row["mean"] is None:
        return "-"
    if row["n"] == 1:
        return f"{100 * row['mean']:.1f}"
    return f"{100 * row['mean']:.1f} ({100 * row['low']:.1f}-{100 * row['high']:.1f})"
