"""Sweep results summed up: grouped by setting, spread over seeds, and the comparison table."""

from tl_lessons import summaries


def result(label, strategy, seed, test_acc, final_val_acc, seconds=2.0):
    return {"label": label, "strategy": strategy, "config": {"seed": seed}, "test_acc": test_acc,
            "final_val_acc": final_val_acc, "seconds": seconds, "trainable_params": 1234}


RESULTS = [result("scratch · lr 0.3 · 5/class", "scratch", 0, 0.10, 0.12),
           result("freeze k=2 · bn eval · lr 0.3 · 5/class", "freeze", 0, 0.20, 0.22),
           result("scratch · lr 0.3 · 5/class", "scratch", 1, 0.14, None, seconds=4.0)]


def test_runs_are_grouped_by_their_setting_in_the_order_they_first_appear():
    groups = summaries.by_setting(RESULTS)
    assert list(groups) == ["scratch · lr 0.3 · 5/class", "freeze k=2 · bn eval · lr 0.3 · 5/class"]
    assert [r["config"]["seed"] for r in groups["scratch · lr 0.3 · 5/class"]] == [0, 1]


def test_a_settings_spread_is_its_mean_and_range_over_the_seeds_that_measured_it():
    scratch, freeze = summaries.spread(RESULTS, "test_acc")
    assert (scratch["n"], scratch["low"], scratch["high"]) == (2, 0.10, 0.14) and abs(scratch["mean"] - 0.12) < 1e-12
    assert summaries.mean_and_range(scratch) == "12.0 (10.0-14.0)" and summaries.mean_and_range(freeze) == "20.0"
    assert summaries.spread(RESULTS, "final_val_acc")[0]["n"] == 1   # a value left out is not a zero


def test_the_comparison_table_and_the_short_names():
    first = summaries.summary(RESULTS)[0]
    assert first == {"setting": "scratch · lr 0.3 · 5/class", "seeds": 2, "test acc %": "12.0 (10.0-14.0)",
                     "final val acc %": "12.0", "seconds": "3.0", "trainable at start": "1,234"}
    assert summaries.short_label(RESULTS[1]) == "freeze k=2 · bn eval"
