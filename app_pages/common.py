"""What every page of the dashboard shares: cached datasets, the "CIFAR is missing" banner, and who the learner is.

Streamlit reruns a page script on every click, so anything slow to build (a dataset read from
disk, a source model) is cached once per server process with `st.cache_resource`.
"""

import os
import re

import streamlit as st

from tl_lessons import data, imageset, targets
from tl_lessons.dashboard import classroom


def tiny() -> bool:
    """Small default sizes, for the automated tests (TL_LESSONS_APP_TINY=1): a run takes seconds."""
    return os.environ.get("TL_LESSONS_APP_TINY") == "1"


@st.cache_resource(show_spinner="Reading the dataset…", max_entries=8)
def _dataset(name: str, split: str, root: str):
    return data.load_dataset(name, split, root=root or None)


# Its own cache, so that a target's images never push a whole dataset out of `_dataset`'s.
@st.cache_resource(show_spinner="Keeping the target's classes…", max_entries=8)
def _target_dataset(name: str, split: str, root: str, classes: str):
    return targets.restrict(_dataset(name, split, root), classes)


def dataset(name: str, split: str, classes: str = "all"):
    """A dataset split, read once per server process (see `tl_lessons.data.load_dataset`).

    `classes` names a target of `tl_lessons.targets` ("near", "far"): only its classes are kept,
    relabelled as `transfer_setup.load_target` does for a run, so the page counts what a run trains on.
    """
    # Synthetic sets do not depend on the data folder: one cached copy serves every folder.
    root = "" if name.startswith("synthetic") else str(data.data_dir())
    return _dataset(name, split, root) if classes == "all" else _target_dataset(name, split, root, classes)


@st.cache_resource(ttl=60)
def _usable_datasets(root: str) -> list[str]:
    return data.usable_datasets(root=root)


def usable_datasets(names=data.DATASETS) -> list[str]:
    """The datasets among `names` that can be read here (`data.usable_datasets`: synthetic ones always,
    CIFAR when on disk), looked at again after a minute (e.g. after `make data`)."""
    usable = _usable_datasets(str(data.data_dir()))
    return [name for name in names if name in usable]


def on_this_computer_only() -> bool:
    """Whether the dashboard listens to this computer only (the default): then a page may name the
    folders it uses; opened to a classroom, a page never shows the server's folders to the class."""
    return classroom.is_loopback(st.get_option("server.address"))


def class_rules() -> classroom.ClassRules:
    """The class's rules (`classroom.SHARED_RULES`), told where this dashboard listens: limits for a class only."""
    return classroom.SHARED_RULES.serving(st.get_option("server.address"))


def data_folder() -> str:
    """The data folder as a page names it: its path on the learner's own computer, in words on a class's server."""
    return f"`{data.data_dir()}`" if on_this_computer_only() else "the server's data folder"


def data_banner():
    """Say, once per page, when the lessons fall back to synthetic practice data."""
    missing = [imageset.DISPLAY_NAMES[name] for name in ("cifar10", "cifar100") if name not in usable_datasets()]
    if missing:
        st.warning(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not on this computer "
            f"(looked in {data_folder()}), so the pages offer **synthetic practice data** instead. "
            "To get the real images, run `make data` in a terminal (or set `TL_LESSONS_DATA` to a folder "
            "that holds them) and reload this page.",
            icon=":material/cloud_off:",
        )


# The browser keeps the learner's code in this cookie; the server knows the learner by its hash
# (`jobs.learner_id`), so that a reloaded page finds their runs and a shared link carries nothing of it.
LEARNER_COOKIE = "tl_lessons_learner"
OLD_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what browsers kept before learner codes
# A school day: long enough to come back after a closed tab, short enough that the next person at a
# shared lab PC tomorrow is not taken for today's learner. The code brings a learner back any time.
COOKIE_SECONDS = 12 * 3600


def learner_token() -> str:
    """This browser's learner code: the one its cookie holds, else a new one for this session.

    A new code reaches the browser's cookie with `remember_learner`, at the end of the page.
    """
    if "learner_token" not in st.session_state:
        cookie = learner_cookie()
        known = classroom.learner_code(cookie) or (cookie if OLD_TOKEN.fullmatch(cookie) else None)
        st.session_state.learner_token = known or classroom.new_learner_code()
    return st.session_state.learner_token


def become_learner(code: str | None):
    """Be known from now on by `code` (another browser's), or by a fresh code (None: "this is not me")."""
    st.session_state.learner_token = code or classroom.new_learner_code()
    for key in ("lab_job", "lab_job_reported", "lab_new_source"):  # the previous learner's run is not yours
        st.session_state.pop(key, None)


def learner_code_ui(where):
    """The learner's code in a popover: shown to copy, another browser's to type in, "this is not me"."""
    with where.popover("Learner code", icon=":material/badge:", width="stretch"):
        token = learner_token()
        code = classroom.learner_code(token)
        if code:
            st.markdown(f"Your code: **`{classroom.shown_code(code)}`**. Type it in another browser (or after "
                        "clearing this one) to find your runs and their Stop buttons there.")
        typed = st.text_input("Use a code you were given before", key="learner_code_typed",
                              placeholder="e.g. K7QX-M2TZ-9B")
        if st.button("Use this code", key="learner_code_use"):
            found = classroom.learner_code(typed)
            if found is None:
                st.error("That is not a learner code: it has 10 letters and digits, as the page showed it "
                         "(dashes and spaces do not matter).", icon=":material/badge:")
            else:
                become_learner(found)
                st.rerun()
        if st.button("This is not me: start as a new learner", key="learner_code_new",
                     help="On a shared computer: the runs of whoever used it before stay theirs."):
            become_learner(None)
            st.rerun()


def learner_cookie() -> str:
    """The code the browser sent in its cookie ("" when none: a first visit, or a test without a browser)."""
    cookie = st.context.cookies.get(LEARNER_COOKIE)
    return cookie if isinstance(cookie, str) else ""


def remember_learner():
    """Keep the learner's code in a cookie (for a school day), so that after a reload, or a closed tab,
    the page finds the runs this browser started. Streamlit reads cookies but cannot set them: a line
    of JavaScript does, only when the browser does not hold this code yet."""
    token = learner_token()
    if learner_cookie() != token:
        st.html(
            f"<script>document.cookie = '{LEARNER_COOKIE}={token}; path=/; max-age={COOKIE_SECONDS}; "
            "SameSite=Strict';</script>",
            unsafe_allow_javascript=True,
        )


def hide_script_stop():
    """Hide Streamlit's own Stop button (shown while a page script runs): it stops the script, not the
    training, which a learner cannot tell apart. Runs are stopped with the lab's own Stop button."""
    st.html('<style>[data-testid="stStatusWidget"] button { display: none; }</style>')
