"""What the dashboard (`app.py` and `app_pages/`) needs besides widgets, without Streamlit.

One job per module, so the benchmark and the tests can use them headless:

    settings   the transfer lab's setup: its first values, the URL that carries it, what will train
    sources    source models: trained in the dashboard, the ImageNet ResNet, training a new one
    jobs       training in a background thread, one run at a time (TrainingJob, TrainingLine)
    charts     Altair charts and pandas tables of runs: live curves, comparisons, results
    descent    the gradient-descent playground's heat map and paths

    >>> from tl_lessons.dashboard import jobs
    >>> job = jobs.TrainingJob(model, train_set, val_set, config, strategy, label="linear probe").start()
"""
