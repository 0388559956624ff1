"""Transfer lab: reuse a trained network for a new task, watch it learn, compare strategies.

The page reads top to bottom like the experiment, one function per section: choose the
settings (`settings_ui`, left), see which stages will train (`preview_ui`, right), press Train
and watch the curves and the model's answers (`lab_train.train_ui`), then compare the stored runs
and what they learnt (`lab_compare.compare_ui`) and the recorded reference runs
(`lab_compare.reference_ui`); a source model can be trained at the bottom (`source_model_ui`).
The settings live in the URL, so a link opens the same experiment; the learner's own runs are
found by a token their browser keeps, so a reload finds a run in progress and its Stop button
again. Every computation is imported from `tl_lessons`: what this server offers and what is wrong
with a setup is `dashboard.lab.Lab`, what the page says about runs `dashboard.lab_runs`, and
pressing Train runs `transfer_setup.prepare`, then `dashboard.jobs.TrainingJob` (`fit` in a
background thread, waiting its turn in `jobs.SHARED_LINE`).
"""

from urllib.parse import urlencode

import streamlit as st

from app_pages.common import (class_rules, data_banner, dataset, learner_token, on_this_computer_only, remember_learner,
                              tiny, usable_datasets)
from app_pages.lab_compare import compare_ui, reference_ui
from app_pages.lab_train import job_running, run_store, start_job, train_ui
from tl_lessons import reference_file, targets, train, transfer
from tl_lessons.dashboard import jobs, lab_runs, learnt, settings, sources
from tl_lessons.dashboard.lab import SOURCE_DATASET_TEXT, TARGET_TEXT, Lab, loadable, starting_model
from tl_lessons.errors import LessonError
from tl_lessons.runs import default_path
from tl_lessons.transfer_setup import TransferSetup

# ---------------------------------------------------------------------------------------
# Cached building blocks
# ---------------------------------------------------------------------------------------


@st.cache_resource(max_entries=8, show_spinner="Loading the source model…")
def target_model(source: str, from_scratch: bool, num_classes: int, seed: int, version: float):
    """`lab.starting_model`, cached: the model before a strategy is applied.

    `version` (the checkpoint file's modification time) makes a re-saved source load again.
    """
    return starting_model(source, from_scratch, num_classes, seed, version)


def target_choices() -> list[str]:
    """The target datasets that load here; a broken one is reported and left out."""
    usable, problems = loadable(usable_datasets(settings.TARGETS), dataset)
    for problem in problems:
        st.error(problem, icon=":material/error:")
    return usable


# ---------------------------------------------------------------------------------------
# Settings: session state <-> TransferSetup <-> URL
# ---------------------------------------------------------------------------------------


def read_link(lab: Lab, defaults: TransferSetup):
    """On a session's first run, fill the widgets from the URL (or the defaults).

    The notices are said until the learner changes a setting: as long as the widgets hold what
    the link gave them (`lab_from_link`, read back from the widgets, so it is what they show).
    """
    if "lab_ready" in st.session_state:
        return
    setup, notices = settings.setup_from_query(st.query_params.to_dict(), defaults, lab.link_choices(), lab.problems)
    settings.put_in_widgets(st.session_state, setup, defaults)
    st.session_state.lab_notices = notices
    st.session_state.lab_from_link = settings.setup_to_query(setup_in_widgets())
    st.session_state.lab_ready = True


def reset_settings(defaults: TransferSetup):
    """The Reset button's callback: it runs before the widgets are drawn, so it may change them."""
    settings.reset_widgets(st.session_state, defaults)
    st.session_state.lab_notices = []


def apply_pending():
    """Changes asked for by the live view or a button take effect before the widgets are drawn."""
    pending = st.session_state.pop("lab_pending", None)
    if pending:
        for name, value in pending.items():
            st.session_state[name] = value


def setup_in_widgets() -> TransferSetup:
    """The setup the widgets show now (`settings.setup_in_widgets`)."""
    return settings.setup_in_widgets(st.session_state, tiny())


# ---------------------------------------------------------------------------------------
# 1 · Settings
# ---------------------------------------------------------------------------------------


def link_notices_ui(setup: TransferSetup):
    """What the link could not use is said until the learner changes a setting."""
    if settings.setup_to_query(setup) == st.session_state.lab_from_link:
        for notice in st.session_state.lab_notices:
            st.info(notice, icon=":material/link:")


def show_problem(problems: dict, *fields: str) -> bool:
    """Show the sentences of `fields` beside their widgets; True when there was one."""
    shown = [problems[name] for name in fields if name in problems]
    for problem in shown:
        st.error(problem, icon=":material/block:")
    return bool(shown)


def settings_ui(lab: Lab, setup, problems, stages, defaults):
    """The settings column: data, strategy, training, then the Reset button and the link to share."""
    st.subheader("1 · Settings")
    data_ui(lab, setup, problems)
    strategy_ui(setup, problems, stages)
    training_ui(setup, problems)
    st.button("Reset to the defaults", icon=":material/restart_alt:", on_click=reset_settings, args=(defaults,))
    share_ui(setup)


def data_ui(lab: Lab, setup, problems):
    """The source model, the target data and classes, and how many of its labels to train on."""
    with st.container(border=True):
        st.selectbox(
            "Source model",
            list(lab.source_labels),
            format_func=lambda key: lab.source_labels[key] + (" — unavailable" if key in lab.unavailable else ""),
            key="lab_source",
            persist_state="session",
            help="The network whose features are reused.",
        )
        if not show_problem(problems, "source"):
            st.caption("The network whose learnt features are reused for the new task.")

        st.selectbox(
            "Target data",
            lab.targets,
            format_func=lambda name: TARGET_TEXT[name],
            key="lab_target",
            persist_state="session",
        )
        st.radio("Target classes", list(targets.TARGETS), key="lab_classes", persist_state="session",
                 captions=[target.why for target in targets.TARGETS.values()],
                 help="Whether transfer helps depends on how much the new task resembles what the source learnt.")
        if not show_problem(problems, "classes"):
            st.caption(dataset(setup.target, "train", setup.classes).source)
        st.radio(
            "How many labels",
            ["per_class", "fraction"],
            horizontal=True,
            key="lab_labels",
            persist_state="session",
            format_func={"per_class": "images per class", "fraction": "fraction of the labels"}.get,
        )
        if setup.per_class is not None:
            st.number_input("Labelled images per class", step=1, key="lab_per_class", persist_state="session")
        else:
            st.number_input(
                "Fraction of the labels", step=0.05, format="%.2f", key="lab_fraction", persist_state="session"
            )
        if not show_problem(problems, "per_class" if setup.per_class is not None else "fraction"):
            fewest = lab.smallest_class(setup.target, setup.classes)
            st.caption(f"Few labels is where transfer shines; the smallest class has {fewest} training images.")


def strategy_ui(setup, problems, stages):
    """The strategy and the options it takes (its row of `transfer.STRATEGY_TABLE`)."""
    takes = setup.options_taken()
    with st.container(border=True):
        st.selectbox(
            "Strategy",
            transfer.STRATEGIES,
            format_func=lambda name: transfer.STRATEGY_TABLE[name].title,
            key="lab_strategy",
            persist_state="session",
        )
        if not show_problem(problems, "strategy"):
            st.caption(transfer.STRATEGY_TABLE[setup.strategy].summary)
        if "k" in takes and stages:
            if show_problem(problems, "k"):
                # The slider offers this model's depths only: move the value into them.
                st.session_state.lab_k = min(max(st.session_state.lab_k, 0), len(stages) - 1)
            st.select_slider(
                "Stages to freeze, counted from the input (k)",
                options=list(range(len(stages))),
                key="lab_k",
                persist_state="session",
                format_func=lambda k: f"k = {k}",
            )
            k = st.session_state.lab_k
            st.caption(
                f"Frozen: **{', '.join(stages[:k]) or 'nothing'}**; training: {', '.join(stages[k:])}. "
                "The head always trains."
            )
        if "head_lr_factor" in takes:
            a, b = st.columns(2)
            a.number_input("Head rate × lr", step=1.0, format="%.1f", key="lab_head_lr_factor", persist_state="session")
            b.number_input(
                "Rate × per earlier stage", step=0.1, format="%.2f", key="lab_stage_decay", persist_state="session"
            )
            show_problem(problems, "head_lr_factor", "stage_decay")
            st.caption("The head learns at lr × factor; each stage below it at the rate of the one above × decay.")
        if "unfreeze_every" in takes:
            st.number_input(
                "Unfreeze one more stage every … epochs", step=1, key="lab_unfreeze_every", persist_state="session"
            )
            show_problem(problems, "unfreeze_every")
        if "head_epochs" in takes:
            st.number_input(
                "Epochs with only the head training", step=1, key="lab_head_epochs", persist_state="session"
            )
            show_problem(problems, "head_epochs")
        if "bn" in takes:  # strategies that keep stages frozen for a while
            st.radio(
                "BatchNorm in frozen stages",
                transfer.BN_MODES,
                horizontal=True,
                key="lab_bn",
                persist_state="session",
                format_func={"eval": "eval: keep the source's statistics", "train": "train: re-estimate them"}.get,
            )
            st.caption("Frozen weights do not move either way; in 'train' mode their BatchNorm statistics still do.")


def training_ui(setup, problems):
    """Learning rate, epochs, batch size and seed."""
    with st.container(border=True):
        a, b = st.columns(2)
        settings.rate_in_widgets(st.session_state, setup.strategy)  # the widget starts at the strategy's rate
        a.number_input(
            "Learning rate",
            step=0.01,
            format="%.4f",
            key=settings.lr_key(setup.strategy),
            persist_state="session",
            help="The peak step size of the one-cycle schedule.",
        )
        b.number_input(
            "Epochs", step=1, key="lab_epochs", persist_state="session", help="Passes over the training images."
        )
        show_problem(problems, "lr", "epochs")
        a, b = st.columns(2)
        a.selectbox(
            "Batch size", settings.BATCH_SIZES, key="lab_batch_size", persist_state="session", help="Images per step."
        )
        b.number_input(
            "Seed",
            step=1,
            key="lab_seed",
            persist_state="session",
            min_value=0,
            max_value=train.MAX_SEED,
            help="Same seed, same run: the data order and the new head.",
        )
        show_problem(problems, "seed")
        st.caption(
            "Learning rate: how far each step moves. Epochs: passes over the data. Seed: makes a run repeatable. "
            f"Each strategy starts from its suggested rate ({transfer.STRATEGY_TABLE[setup.strategy].lr:g} for this "
            "one), the best one chapter 04 found for the shipped model on CIFAR-100; other sources may want another."
        )


def share_ui(setup: TransferSetup):
    """The URL follows the settings, so copying it shares this exact experiment."""
    query = settings.setup_to_query(setup)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.markdown("**Share these settings:** send this link (it is also in the address bar).")
    st.code(f"{st.context.url or ''}?{urlencode(query)}", language=None, wrap_lines=True)


# ---------------------------------------------------------------------------------------
# 2 · What will train
# ---------------------------------------------------------------------------------------


def preview_ui(lab: Lab, setup: TransferSetup) -> int | None:
    """Each stage of the model with the strategy applied; returns the trainable parameters (None: it cannot run)."""
    st.subheader("2 · What will train")
    try:
        rows = lab.what_will_train(setup)
    except LessonError as error:
        st.error(str(error), icon=":material/block:")
        return None
    if transfer.STRATEGY_TABLE[setup.strategy].scheduled:
        st.caption("At the start of training: this strategy unfreezes stages as the epochs go by.")
    trainable, total = int(rows["trainable"].sum()), int(rows["total"].sum())
    st.markdown(f"**{trainable:,}** of {total:,} parameters will train (**{trainable / max(total, 1):.1%}**).")
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "stage": "stage",
            "state": "state",
            "trainable": st.column_config.NumberColumn("trainable parameters", format="localized"),
            "total": st.column_config.NumberColumn("all parameters", format="localized"),
            "share": st.column_config.ProgressColumn("share trainable", format="percent", min_value=0, max_value=1),
        },
    )
    return trainable


# ---------------------------------------------------------------------------------------
# Train a source model
# ---------------------------------------------------------------------------------------


def source_model_ui(lab: Lab, expanded: bool):
    """A FastNet trained with the kit's quick recipe, saved where the source picker finds it."""
    st.divider()
    with st.expander("Train a source model in this app", expanded=expanded, icon=":material/model_training:"):
        st.markdown(
            "No shipped model, or curious how one is made? Train a FastNet with the kit's **quick** recipe. "
            "It is saved in the dashboard's folder of source models and appears in the source list above."
        )
        a, b, c, d = st.columns(4)
        source_set = a.selectbox("Data", usable_datasets(sources.SOURCE_DATASETS), format_func=SOURCE_DATASET_TEXT.get,
                                 key="src_data")
        available = lab.smallest_class(source_set)
        per_class = b.number_input(
            "Images per class", value=min(5 if tiny() else 500, available - 1), step=50, key="src_per_class"
        )
        epochs = c.number_input(
            "Training epochs", value=1 if tiny() else train.PRESETS["quick"].epochs, step=1, key="src_epochs"
        )
        name = d.text_input("Name", value=sources.default_source_name(source_set, jobs.learner_id(learner_token())),
                            key="src_name")
        exists = lab.source_saved(name)
        replace = exists and st.checkbox(f"Yes, replace the saved source model {name}", key="src_replace")
        problems = sources.source_problems(per_class, epochs, name, available, exists=exists, replace=replace)
        show_problem(problems, *problems)
        st.caption("About a minute per epoch for 500 images per class on a laptop CPU; progress shows in section 3 above.")
        if st.button(
            "Train the source model",
            key="src_train",
            icon=":material/play_arrow:",
            disabled=bool(problems) or job_running(),
        ):
            try:
                model, train_set, val_set, config = sources.source_training(source_set, per_class, epochs)
                path = lab.source_file(name)
                # Saved without replacing unless the learner said yes: a model another learner saved under
                # this name while this one trained is kept, and this one gets the next free name.
                save = lambda trained, end: sources.saved_source_event(
                    sources.save_source(path, trained, train_set, config, end, replace=replace), name)
                start_job(
                    jobs.TrainingJob(
                        model,
                        train_set,
                        val_set,
                        config,
                        None,
                        label=f"source model {name} · quick · {per_class}/class",
                        run_config=sources.source_run_config(source_set, per_class, epochs, model),
                        store=run_store(lab.store_path)[0],
                        when_finished=save,
                        learner=jobs.learner_id(learner_token()),
                        look_closer=False,
                    ),
                    new_source=f"trained:{name}",
                )
                st.rerun()
            except LessonError as error:
                st.error(str(error), icon=":material/block:")


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

st.title("Transfer lab")
st.markdown(
    "Reuse a network trained on one task for a new one with few labels: choose what to keep "
    "frozen, train, and compare. **Every run is saved**, and **the address bar holds the settings**, "
    "so a link opens the same experiment."
)
data_banner()

class_rules()  # the class's limits hold when the dashboard is opened to a class
store_path = str(default_path())
store, store_notice = run_store(store_path)
if store_notice:
    st.warning(lab_runs.store_warning(store_notice, on_this_computer_only()), icon=":material/database:")
lab = Lab(store_path, *sources.source_choices(store_path), target_choices(), dataset=dataset, target_model=target_model)
defaults = lab.defaults(tiny())
read_link(lab, defaults)
apply_pending()
# A source that disappeared (a deleted checkpoint) falls back to the default.
if st.session_state.lab_source not in lab.source_labels:
    st.session_state.lab_source = defaults.source

setup = setup_in_widgets()
problems = lab.problems(setup)
link_notices_ui(setup)
stages = lab.stages(setup)

left, right = st.columns([2, 3], gap="large")
with left:
    settings_ui(lab, setup, problems, stages, defaults)
with right:
    trainable = preview_ui(lab, setup)
    train_ui(lab, setup, bool(problems) or trainable is None)

try:
    reference, reference_problem = reference_file.load_reference_runs(), None
except LessonError as error:
    reference, reference_problem = None, str(error)
compare_ui(store, reference, learnt.chance(lab.num_classes(setup)))
# The recorded reference runs learnt every class of their target, whichever classes are picked above.
reference_ui(reference, reference_problem, learnt.chance(lab.num_classes(setup, "all")))
source_model_ui(lab, expanded="shipped" in lab.unavailable)
remember_learner()
