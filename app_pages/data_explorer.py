"""Data explorer: look at the images before training on them, class by class.

CIFAR-10 and CIFAR-100 when they are on disk (`make data`), the synthetic practice sets always.
CIFAR-100 groups its 100 classes into 20 superclasses of 5. The images are the ones the
chapters' figures show (`tl_lessons.plots.class_samples` and `superclass_members`), drawn here
as images with the page's own text beside them, so names stay readable at any screen width.
"""

import streamlit as st

from app_pages.common import data_banner, dataset, usable_datasets
from tl_lessons import imageset, plots
from tl_lessons.errors import LessonError
from tl_lessons.vocabulary import display_name

# Images are shown this many pixels wide: twice their size, sharp (`plots.enlarged`), and five of a
# superclass fit half of the grid on a 1280-pixel laptop screen.
IMAGE_PX = 64


def controls_ui():
    """The dataset, the split, and what to show of it; returns (images, view, chosen classes, per class, seed)."""
    names = usable_datasets()
    name = st.selectbox(
        "Dataset",
        names,
        key="dx_dataset",
        format_func=lambda n: imageset.DISPLAY_NAMES[n] + (" (synthetic practice data)" if n.startswith("synthetic") else ""),
    )
    split = st.radio(
        "Split", ["train", "test"], horizontal=True, key="dx_split",
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
    if view == "superclasses":
        return images, view, [], 0, 0
    offered = images.classes
    if images.coarse_classes:
        superclass = st.selectbox("Superclass", ["(all)"] + images.coarse_classes, key=f"dx_super_{name}",
                                  format_func=lambda s: s if s == "(all)" else display_name(s))
        st.caption("Classes of one superclass look alike: they are the hardest to tell apart.")
        if superclass != "(all)":
            wanted = images.coarse_classes.index(superclass)
            offered = [images.classes[label] for label in images.labels[images.coarse_labels == wanted].unique().tolist()]
    chosen = st.multiselect("Classes", offered, default=offered[:10], key=f"dx_classes_{name}_{len(offered)}_{offered[0]}",
                            format_func=display_name, wrap=True)
    per_class = st.slider("Images per class", 1, 16, 8, key="dx_per_class")
    seed = st.number_input("Seed", min_value=0, value=0, step=1, key="dx_seed", help="Another seed, other images.")
    return images, view, chosen, per_class, int(seed)


def classes_ui(images, chosen: list[str], per_class: int, seed: int):
    """One row per chosen class: its name, then `per_class` random images of it."""
    for label, indices in plots.class_samples(images, per_class, chosen, seed):
        name, row = st.columns([1, 5], vertical_alignment="center")
        name.markdown(f"**{display_name(images.classes[label])}**")
        if indices:
            row.image([plots.enlarged(images.images[i]) for i in indices], width=IMAGE_PX)
        else:  # a class without images in this copy of the data
            row.caption("no images of this class here")


def superclasses_ui(images):
    """Every superclass with one image of each of its classes, named under it; two superclasses a row."""
    members = plots.superclass_members(images)
    columns = st.columns(2, gap="large")
    for place, (coarse, fines) in enumerate(members):
        with columns[place % 2]:
            st.markdown(f"**{display_name(images.coarse_classes[coarse])}**")
            st.image([plots.enlarged(images.images[first]) for _, first in fines], width=IMAGE_PX,
                     caption=[display_name(images.classes[fine]) for fine, _ in fines])


st.title("Data explorer")
st.markdown("Look at the data before training on it: what does a class look like, and which classes look alike?")
data_banner()

controls, grid = st.columns([4, 9], gap="large")
with controls:
    images, view, chosen, per_class, seed = controls_ui()
with grid:
    if view == "superclasses":
        superclasses_ui(images)
    elif not chosen:
        st.info("Pick at least one class.", icon=":material/touch_app:")
    else:
        classes_ui(images, chosen, per_class, seed)
    st.caption(f"Source: {images.source}")
