"""Knobs for the chapters: explorers a learner turns instead of editing and re-running a cell.

Each explorer is a pure function from control values to a `View` (figure, text, numbers),
which tests and chapters can call directly, and a thin ipywidgets wrapper that wires controls
to it. Every wrapper is one line at the end of a chapter cell; it leaves its first view as a
plain image and text, so the chapter also reads well where widgets are not live.

    chapter 01  dataset_browser()                          browse_view
    chapter 02  softmax_explorer()                         softmax_view
                gradient_check_explorer()                  gradient_check_view
    chapter 03  recipe_ladder(runs)                        recipe_view
                (ladder_table(runs): every run's numbers as text)
                class_results_explorer(checkpoints, test)  class_results_view
                top3_explorer(checkpoints, test)           top3_view
                (PredictionCache: a model's answers, computed once and shared by both)
    chapter 04  recorded_runs_explorer()                   recorded_runs_view

Pass `teacher=True` to any of them for the projector: larger, bolder, higher-contrast figures and text.
(Chapter 02's `descent_explorer()` wires its sliders to `maths.explore_descent`.)

    >>> from tl_lessons import widgets
    >>> explorer = widgets.softmax_explorer()      # a cell's last line shows the controls, figure and text
    >>> explorer.view.caption
    'Softmax at temperature 1: probabilities [0.659, 0.242, 0.099]'
"""
from tl_lessons.widgets.browser import browse_view, dataset_browser
from tl_lessons.widgets.descent import descent_explorer
from tl_lessons.widgets.explorer import Explorer, View
from tl_lessons.widgets.loss import gradient_check_explorer, gradient_check_view, softmax_explorer, softmax_view
from tl_lessons.widgets.predictions import (PredictionCache, class_results_explorer, class_results_view, top3_explorer,
                                            top3_view)
from tl_lessons.widgets.recipes import ladder_table, recipe_ladder, recipe_view, run_from_history
from tl_lessons.widgets.recorded_runs import load_recorded_runs, recorded_runs_explorer, recorded_runs_view

__all__ = [
    "Explorer", "View",
    "browse_view", "dataset_browser",
    "descent_explorer",
    "gradient_check_explorer", "gradient_check_view", "softmax_explorer", "softmax_view",
    "PredictionCache", "class_results_explorer", "class_results_view", "top3_explorer", "top3_view",
    "ladder_table", "recipe_ladder", "recipe_view", "run_from_history",
    "load_recorded_runs", "recorded_runs_explorer", "recorded_runs_view",
]
