"""The tl-lessons dashboard: `streamlit run app.py` (or `make app`).

Four pages: the transfer lab (train and compare transfer strategies), a gradient-descent
playground, the teacher's page (with a token: the class's runs and rules), and a data explorer. This file only lists them; each page is one script in
`app_pages/`, and every computation it shows lives in the `tl_lessons` library.
"""

from pathlib import Path

import streamlit as st

from app_pages.common import hide_script_stop

# The icon is a file of the kit: a ":material/..." icon would be fetched from a font server, which
# fails offline (a classroom without internet).
st.set_page_config(page_title="tl-lessons", page_icon=Path(__file__).parent / "app_pages" / "page_icon.svg",
                   layout="wide")
hide_script_stop()

page = st.navigation(
    [
        st.Page(
            "app_pages/transfer_lab.py",
            title="Transfer lab",
            icon=":material/science:",
            default=True,
            help="Reuse a network trained on CIFAR-10 for a new task with few labels: choose what to "
            "freeze, train live, and compare runs.",
        ),
        st.Page(
            "app_pages/gradient_descent.py",
            title="Gradient descent",
            icon=":material/trending_down:",
            help="Watch gradient descent walk down a 2-D loss surface; change the learning rate and momentum.",
        ),
        st.Page(
            "app_pages/teacher.py",
            title="Teacher",
            icon=":material/school:",
            help="For the teacher (with the token `make app` printed): every run of the class, stop any, "
            "pause new ones, set the limits.",
        ),
        st.Page(
            "app_pages/data_explorer.py",
            title="Data explorer",
            icon=":material/grid_view:",
            help="Browse CIFAR-10 and CIFAR-100 images by class and superclass (synthetic sets when CIFAR is missing).",
        ),
    ],
    position="top",
)
page.run()
