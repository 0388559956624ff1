"""Data explorer: look at the images before training on them, class by class.

CIFAR-10 and CIFAR-100 when they are on disk (`make data`), the synthetic practice sets always.
CIFAR-100 groups its 100 classes into 20 superclasses of 5; the figures are the chapters' own
(`tl_lessons.plots.class_grid` and `superclass_grid`).
"""

import streamlit as st

from app_pages.common import cifar_on_disk, data_banner, dataset
from tl_lessons import data, imageset, plots
from tl_lessons.errors import LessonError


@st.cache_resource(max_entries=16, show_spinner="Drawing the images…")
def class_figure(name: str, split: str, per_class: int, classes: tuple, seed: int):
    return plots.class_grid(
        dataset(name, split),
        per_class=per_class,
        classes=list(classes),
        seed=seed,
        title=f"{imageset.DISPLAY_NAMES[name]} {split}: {per_class} random images per class",
    )


@st.cache_resource(max_entries=4, show_spinner="Drawing the superclasses…")
def superclass_figure(name: str, split: str):
    return plots.superclass_grid(dataset(name, split))


st.title("Data explorer")
st.markdown("Look at the data before training on it: what does a class look like, and which classes look alike?")
data_banner()

names = [name for name in data.DATASETS if name.startswith("synthetic") or cifar_on_disk()[name]]
controls, grid = st.columns([4, 9], gap="large")
with controls:
    name = st.selectbox(
        "Dataset",
        names,
        key="dx_dataset",
        format_func=lambda n: imageset.DISPLAY_NAMES[n]
        + (" (synthetic practice data)" if n.startswith("synthetic") else ""),
    )
    split = st.radio(
        "Split",
        ["train", "test"],
        horizontal=True,
        key="dx_split",
        format_func={"train": "training images", "test": "test images"}.get,
    )
    try:
        images = dataset(name, split)
    except LessonError as error:
        st.error(str(error), icon=":material/error:")
        st.stop()
    st.caption(images.describe())
    view = "classes"
    if images.coarse_classes:
        view = st.radio(
            "Show",
            ["classes", "superclasses"],
            horizontal=True,
            key="dx_view",
            format_func={"classes": "classes", "superclasses": "all 20 superclasses"}.get,
            help="CIFAR-100 groups its classes into 20 superclasses of 5 similar classes.",
        )
    if view == "classes":
        offered = images.classes
        if images.coarse_classes:
            superclass = st.selectbox("Superclass", ["(all)"] + images.coarse_classes, key=f"dx_super_{name}")
            st.caption("Classes of one superclass look alike: they are the hardest to tell apart.")
            if superclass != "(all)":
                wanted = images.coarse_classes.index(superclass)
                offered = [
                    images.classes[label] for label in images.labels[images.coarse_labels == wanted].unique().tolist()
                ]
        chosen = st.multiselect(
            "Classes", offered, default=offered[:10], key=f"dx_classes_{name}_{len(offered)}_{offered[0]}"
        )
        per_class = st.slider("Images per class", 1, 16, 8, key="dx_per_class")
        seed = st.number_input("Seed", min_value=0, value=0, step=1, key="dx_seed", help="Another seed, other images.")

with grid:
    if view == "superclasses":
        st.pyplot(superclass_figure(name, split), width="stretch")
    elif not chosen:
        st.info("Pick at least one class.", icon=":material/touch_app:")
    else:
        st.pyplot(class_figure(name, split, per_class, tuple(chosen), int(seed)), width="stretch")
    st.caption(f"Source: {images.source}")
