"""What the dashboard (`app.py` and `app_pages/`) needs besides widgets, without Streamlit.

One job per module, so the benchmark and the tests can use them headless:

    lab        the transfer lab on this server: what it offers, the model a setup starts from, its problems
    lab_runs   the lab's runs in words and choices: the line, a run's end, the runs compared
    settings   the transfer lab's setup: its first values, the widgets and URL that carry it, what will train
    sources    source models: trained in the dashboard, the ImageNet ResNet, training a new one
    jobs       training in a background thread, one run at a time (TrainingJob, TrainingLine)
    learnt     what a run's model has learnt, seen through its answers on validation images
    classroom  a class on one dashboard: the rules every run follows, who the teacher is, learner codes
    charts     Altair charts and pandas tables of runs: live curves, comparisons, results
    descent    the gradient-descent playground's heat map and paths

A page starts a run in the background like this (`tl_lessons.dashboard.jobs` shows one from start to end):

    from tl_lessons.dashboard import jobs
    job = jobs.TrainingJob(model, train_set, val_set, config, strategy, label="linear probe").start()
"""
