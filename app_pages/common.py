"""What every page of the dashboard shares: cached datasets and the "CIFAR is missing" banner.

Streamlit reruns a page script on every click, so anything slow to build (a dataset read from
disk, a source model) is cached once per server process with `st.cache_resource`.
"""

import os

import streamlit as st

from tl_lessons import data, imageset


def tiny() -> bool:
    """Small default sizes, for the automated tests (TL_LESSONS_APP_TINY=1): a run takes seconds."""
    return os.environ.get("TL_LESSONS_APP_TINY") == "1"


@st.cache_resource(show_spinner="Reading the dataset…", max_entries=8)
def _dataset(name: str, split: str, root: str):
    return data.load_dataset(name, split, root=root or None)


def dataset(name: str, split: str):
    """A dataset split, read once per server process (see `tl_lessons.data.load_dataset`)."""
    # Synthetic sets do not depend on the data folder: one cached copy serves every folder.
    return _dataset(name, split, "" if name.startswith("synthetic") else str(data.data_dir()))


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
