"""Gradient descent playground: watch the update rule walk down a 2-D loss surface.

Every step is `tl_lessons.maths.gradient_descent` (the chapter 02 code): velocity <- momentum *
velocity + gradient, point <- point - lr * velocity. Step through it, or press Play. The page
reads top to bottom: `controls_ui` (the surface and the settings), `playback_ui` (Step, Play,
Reset), then `board` (the surface, the path so far and the numbers; it ticks while playing).
"""

import streamlit as st

from tl_lessons import maths
from tl_lessons.dashboard import descent

# Play advances one step per tick: five frames a second.
TICK_S = 0.2
SURFACE_TEXT = {
    "bowl": "A valley 20 times steeper across than along: too large a rate zig-zags across it.",
    "banana": "A curved, flat-bottomed valley: easy to enter, slow to follow to the end.",
    "saddle": "A flat point between two minima: the gradient there is almost zero.",
}


@st.cache_data(max_entries=8)
def surface_grid(name: str):
    """The heat map of a surface: computed once, redrawn under every frame."""
    return descent.surface_grid(maths.SURFACES[name])


def controls_ui() -> dict:
    """The surface, the learning rate, the momentum, the start and the number of steps, as a dict."""
    surface_name = st.selectbox(
        "Loss surface", list(maths.SURFACES), format_func=lambda name: maths.SURFACES[name].name, key="gd_surface"
    )
    surface = maths.SURFACES[surface_name]
    st.caption(SURFACE_TEXT.get(surface_name, ""))
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
    return {"surface_name": surface_name, "lr": lr, "momentum": momentum, "x0": x0, "y0": y0, "steps": steps}


def playback_ui(last: int):
    """Step, Play/Pause and Reset; `last` is the index of the path's last point."""
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


def board(settings: dict, path):
    """The surface with the path so far; while playing, each rerun adds one step."""
    surface = maths.SURFACES[settings["surface_name"]]
    last = len(path) - 1
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
    walked = descent.descent_frame(surface, path[: shown + 1])
    left, right = st.columns([3, 2])
    title = f"{surface.name}: lr {settings['lr']:g}, momentum {settings['momentum']:g}"
    left.altair_chart(
        descent.descent_chart(surface_grid(settings["surface_name"]), surface, walked, title),
        width="stretch",
        alt="The path of gradient descent on the loss surface",
    )
    right.altair_chart(
        descent.descent_loss_chart(walked, last), width="stretch", alt="Loss above the minimum at each step"
    )
    if last < settings["steps"] or len(walked) < shown + 1:
        st.error(
            "The walk left the surface: the numbers grew past what a computer can hold. "
            "That is divergence: lower the learning rate.",
            icon=":material/trending_up:",
        )


st.title("Gradient descent")
st.markdown(
    "A loss surface with two parameters, *x* and *y* (dark: low loss, yellow: high): the star marks the minimum, the dots are the steps. "
    "Change the **learning rate** and the **momentum**, then **Step** or **Play** and watch where it goes."
)

controls, board_col = st.columns([1, 2], gap="large")
with controls:
    settings = controls_ui()
if not settings["lr"] > 0:
    controls.error("The learning rate must be above 0: try 0.05.", icon=":material/block:")
    st.stop()

surface = maths.SURFACES[settings["surface_name"]]
path = maths.gradient_descent(
    surface.grad, (settings["x0"], settings["y0"]), lr=settings["lr"], momentum=settings["momentum"],
    steps=settings["steps"],
)
# A new setting starts the walk again from the first point.
if st.session_state.get("gd_settings") != tuple(settings.values()):
    st.session_state.gd_settings = tuple(settings.values())
    st.session_state.gd_shown = 0
    st.session_state.gd_playing = False

with controls:
    playback_ui(len(path) - 1)
with board_col:
    st.fragment(board, run_every=TICK_S if st.session_state.gd_playing else None)(settings, path)
