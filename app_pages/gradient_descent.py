"""Gradient descent playground: watch the update rule walk down a 2-D loss surface.

Every step is `tl_lessons.maths.gradient_descent` (the chapter 02 code): velocity <- momentum *
velocity + gradient, point <- point - lr * velocity. Step through it, or press Play.
"""

import streamlit as st

from tl_lessons import dashboard, maths

# Play advances one step per tick: five frames a second.
TICK_S = 0.2


@st.cache_data(max_entries=8)
def surface_grid(name: str):
    """The heat map of a surface: computed once, redrawn under every frame."""
    return dashboard.surface_grid(maths.SURFACES[name])


st.title("Gradient descent")
st.markdown(
    "A loss surface with two parameters, *x* and *y* (dark: low loss, yellow: high): the star marks the minimum, the dots are the steps. "
    "Change the **learning rate** and the **momentum**, then **Step** or **Play** and watch where it goes."
)

controls, board_col = st.columns([1, 2], gap="large")

with controls:
    surface_name = st.selectbox(
        "Loss surface", list(maths.SURFACES), format_func=lambda name: maths.SURFACES[name].name, key="gd_surface"
    )
    surface = maths.SURFACES[surface_name]
    st.caption(
        {
            "bowl": "A valley 20 times steeper across than along: too large a rate zig-zags across it.",
            "banana": "A curved, flat-bottomed valley: easy to enter, slow to follow to the end.",
            "saddle": "A flat point between two minima: the gradient there is almost zero.",
        }.get(surface_name, "")
    )
    lr = st.number_input("Learning rate", value=0.05, step=0.01, format="%.3f", key="gd_lr")
    curvatures = maths.hessian_eigenvalues(surface, surface.minima[0])
    st.caption(
        f"How far each step moves along the gradient. Near the minimum, plain descent is stable only "
        f"if lr < 2 / (largest curvature) = **{2 / max(curvatures):.3g}**."
    )
    momentum = st.slider("Momentum", 0.0, 0.99, 0.0, 0.01, key="gd_momentum")
    st.caption("How much of the previous step carries over: 0 is plain gradient descent, 0.9 a heavy ball.")
    x0 = st.slider("Start x", *map(float, surface.xlim), float(surface.start[0]), 0.1, key=f"gd_x_{surface_name}")
    y0 = st.slider("Start y", *map(float, surface.ylim), float(surface.start[1]), 0.05, key=f"gd_y_{surface_name}")
    steps = st.slider("Steps", 10, 300, 100, 10, key="gd_steps")

valid = lr > 0
if not valid:
    controls.error("The learning rate must be above 0: try 0.05.", icon=":material/block:")
    st.stop()

path = maths.gradient_descent(surface.grad, (x0, y0), lr=lr, momentum=momentum, steps=steps)
last = len(path) - 1
# A new setting starts the walk again from the first point.
settings = (surface_name, lr, momentum, x0, y0, steps)
if st.session_state.get("gd_settings") != settings:
    st.session_state.gd_settings = settings
    st.session_state.gd_shown = 0
    st.session_state.gd_playing = False

with controls:
    step_col, play_col, reset_col = st.columns(3)
    if step_col.button(
        "Step", icon=":material/skip_next:", width="stretch", key="gd_step", disabled=st.session_state.gd_shown >= last
    ):
        st.session_state.gd_shown += 1
        st.session_state.gd_playing = False
    playing = st.session_state.gd_playing
    if play_col.button(
        "Pause" if playing else "Play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        width="stretch",
        type="primary",
        key="gd_play",
        disabled=st.session_state.gd_shown >= last and not playing,
    ):
        st.session_state.gd_playing = not playing
        st.rerun()
    if reset_col.button("Reset", icon=":material/replay:", width="stretch", key="gd_reset"):
        st.session_state.gd_shown = 0
        st.session_state.gd_playing = False


def board():
    """The surface with the path so far; while playing, each rerun adds one step."""
    if st.session_state.gd_playing:
        st.session_state.gd_shown = min(st.session_state.gd_shown + 1, last)
        if st.session_state.gd_shown >= last:
            st.session_state.gd_playing = False
            st.rerun()  # the whole page, so that Play stops ticking
    shown = st.session_state.gd_shown
    summary = maths.summarise_descent(surface, path[: shown + 1])
    a, b, c = st.columns(3)
    a.metric("Step", f"{shown} of {last}")
    b.metric("Loss", f"{surface.loss_at(path[shown]):.4g}", help=f"The minimum's loss is {surface.min_loss():.4g}.")
    c.metric(
        "So far",
        summary["verdict"] if shown else "at the start",
        help="converged, oscillating, slow, stuck (on a saddle) or diverged",
    )
    walked = dashboard.descent_frame(surface, path[: shown + 1])
    left, right = st.columns([3, 2])
    left.altair_chart(
        dashboard.descent_chart(
            surface_grid(surface_name), surface, walked, f"{surface.name}: lr {lr:g}, momentum {momentum:g}"
        ),
        width="stretch",
        alt="The path of gradient descent on the loss surface",
    )
    right.altair_chart(
        dashboard.descent_loss_chart(walked, last), width="stretch", alt="Loss above the minimum at each step"
    )
    if last < steps or len(walked) < shown + 1:
        st.error(
            "The walk left the surface: the numbers grew past what a computer can hold. "
            "That is divergence: lower the learning rate.",
            icon=":material/trending_up:",
        )


with board_col:
    st.fragment(board, run_every=TICK_S if st.session_state.gd_playing else None)()
