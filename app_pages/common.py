"""What every page of the dashboard shares: cached datasets, the "CIFAR is missing" banner, and who the learner is.

Streamlit reruns a page script on every click, so anything slow to build (a dataset read from
disk, a source model) is cached once per server process with `st.cache_resource`.
"""

import os
import re
import secrets

import streamlit as st

from tl_lessons import data, imageset, targets


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
def _cifar_on_disk(root: str) -> dict[str, bool]:
    return {name: data.cifar_available(name, root) for name in ("cifar10", "cifar100")}


def cifar_on_disk() -> dict[str, bool]:
    """Which CIFAR datasets are on disk (looked at again after a minute, e.g. after `make data`)."""
    return _cifar_on_disk(str(data.data_dir()))


def data_banner():
    """Say, once per page, when the lessons fall back to synthetic practice data."""
    missing = [imageset.DISPLAY_NAMES[name] for name, there in cifar_on_disk().items() if not there]
    if missing:
        st.warning(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not on this computer "
            f"(looked in `{data.data_dir()}`), so the pages offer **synthetic practice data** instead. "
            "To get the real images, run `make data` in a terminal (or set `TL_LESSONS_DATA` to a folder "
            "that holds them) and reload this page.",
            icon=":material/cloud_off:",
        )


# The browser keeps the learner's token in this cookie; the server knows the learner by its hash
# (`jobs.learner_id`), so that a reloaded page finds their runs and a shared link carries nothing of it.
LEARNER_COOKIE = "tl_lessons_learner"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def learner_token() -> str:
    """This browser's learner token: the one its cookie holds, else a new one for this session.

    A new token reaches the browser's cookie with `remember_learner`, at the end of the page.
    """
    if "learner_token" not in st.session_state:
        cookie = learner_cookie()
        st.session_state.learner_token = cookie if TOKEN.fullmatch(cookie) else secrets.token_urlsafe(18)
    return st.session_state.learner_token


def learner_cookie() -> str:
    """The token the browser sent in its cookie ("" when none: a first visit, or a test without a browser)."""
    cookie = st.context.cookies.get(LEARNER_COOKIE)
    return cookie if isinstance(cookie, str) else ""


def remember_learner():
    """Keep the learner's token in a cookie (for a year), so that after a reload, or a closed tab, the
    page finds the runs this browser started. Streamlit reads cookies but cannot set them: a line of
    JavaScript does, only when the browser did not send the cookie yet."""
    token = learner_token()
    if learner_cookie() != token:
        st.html(
            f"<script>document.cookie = '{LEARNER_COOKIE}={token}; path=/; max-age=31536000; SameSite=Strict';</script>",
            unsafe_allow_javascript=True,
        )


def hide_script_stop():
    """Hide Streamlit's own Stop button (shown while a page script runs): it stops the script, not the
    training, which a learner cannot tell apart. Runs are stopped with the lab's own Stop button."""
    st.html('<style>[data-testid="stStatusWidget"] button { display: none; }</style>')
