"""Gradient descent playground: watch the update rule walk down a 2-D loss surface.

Every step is `tl_lessons.maths.gradient_descent` (the chapter 02 code): velocity <- momentum *
velocity + gradient, point <- point - lr * velocity. Step through it, press Play, or show the
whole path at once. The page reads top to bottom: `playback_ui` (Step, Play, Whole path, Reset,
at the top so they are always in view), `controls_ui` (the surface and the settings), then
`board` (the surface, the path so far, the numbers and why; it ticks while playing).
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


def show_step(step: int | None = None):
    """Step, Whole path and Reset's callback (it runs before the page is drawn, so every button shows
    the new state): show the path up to `step` (None: one step more), and stop playing."""
    state = st.session_state
    state.gd_shown = state.gd_shown + 1 if step is None else step
    state.gd_playing = False


def toggle_play():
    """Play's callback: start or pause the walk where it is (the board advances it while playing)."""
    st.session_state.gd_playing = not st.session_state.gd_playing


def playback_ui(last: int):
    """Step, Play/Pause, the whole path at once, and Reset; `last` is the index of the path's last point."""
    state = st.session_state
    step_col, play_col, whole_col, reset_col = st.columns(4)
    at_end = state.gd_shown >= last
    step_col.button("Step", icon=":material/skip_next:", width="stretch", key="gd_step", disabled=at_end,
                    on_click=show_step)
    playing = state.gd_playing
    play_col.button(
        "Pause" if playing else "Play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        width="stretch",
        type="primary",
        key="gd_play",
        disabled=at_end and not playing,
        on_click=toggle_play,
    )
    whole_col.button("Whole path", icon=":material/fast_forward:", width="stretch", key="gd_whole", disabled=at_end,
                     help="Show every step at once.", on_click=show_step, args=(last,))
    reset_col.button("Reset", icon=":material/replay:", width="stretch", key="gd_reset", on_click=show_step,
                     args=(0,))


def board(settings: dict, path):
    """The surface with the path so far, the numbers, and why it goes where it goes; while playing,
    each rerun adds one step."""
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
        help="converged, converging with oscillation, oscillating, slow, stuck (on a saddle) or diverged",
    )
    walked = descent.descent_frame(surface, path[: shown + 1])
    left, right = st.columns([3, 2])
    title = f"{surface.name}: lr {settings['lr']:g}, momentum {settings['momentum']:g}"
    left.vega_lite_chart(
        descent.with_path(descent.board_spec(settings["surface_name"], title), walked),
        width="stretch",
        alt="The path of gradient descent on the loss surface",
    )
    right.vega_lite_chart(
        descent.with_path(descent.loss_spec(last), walked), width="stretch", alt="Loss above the minimum at each step"
    )
    why_ui(surface, settings, summary, path[: shown + 1], diverged=last < settings["steps"])


def why_ui(surface, settings: dict, summary: dict, walked, diverged: bool):
    """Why the path goes where it goes, in numbers: what each step does to the distance to the minimum."""
    lr, momentum = settings["lr"], settings["momentum"]
    factors = [(curvature, maths.step_factor(lr, curvature, momentum))
               for curvature in maths.hessian_eigenvalues(surface, surface.minima[0])]
    steep, growth = max(factors, key=lambda pair: pair[1])
    rule = (f"|1 − lr × curvature| = |1 − {lr:g} × {steep:g}| = {growth:.3g}" if momentum == 0
            else f"{growth:.3g} (with momentum {momentum:g} the step also carries the previous one along)")
    if diverged or summary["verdict"] == "diverged" or growth > 1:
        st.error(
            f"**Diverging.** Near the minimum, along the steepest direction (curvature {steep:g}), every step "
            f"multiplies the distance to the minimum by {rule}. Above 1, each step overshoots by more than the one "
            f"before: after 10 steps the distance is {growth:.3g}^10 ≈ {growth ** 10:.3g} times larger"
            + (", until the numbers grow past what a computer can hold." if diverged else ".")
            + f" Lower the learning rate below 2 / {steep:g} = {2 / steep:.3g}"
            + (" (momentum lowers that limit further)." if momentum else "."),
            icon=":material/trending_up:",
        )
    else:
        st.caption(
            "Near the minimum each step multiplies the distance to it by "
            + " and ".join(f"**{factor:.3g}** along the direction of curvature {curvature:g}" for curvature, factor in factors)
            + ": below 1 the path closes in, the nearer to 0 the faster; above 1 it would diverge."
        )
    left_at = maths.left_the_map(surface, walked)
    if left_at is not None and not diverged:
        x, y = walked[left_at].tolist()
        st.warning(
            f"The path left the map at step {left_at} (x = {x:.3g}, y = {y:.3g}): the chart draws it up to the edge.",
            icon=":material/open_in_new:",
        )


st.title("Gradient descent")
st.markdown(
    "A loss surface with two parameters, *x* and *y* (dark: low loss, yellow: high): the star marks the minimum, "
    "the dots are the steps. Change the **learning rate** and the **momentum**, then **Step**, **Play**, or show "
    "the **whole path**."
)
buttons = st.container()  # drawn first, filled once the path is known: always above the fold
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

with buttons:
    playback_ui(len(path) - 1)
with board_col:
    st.fragment(board, run_every=TICK_S if st.session_state.gd_playing else None)(settings, path)
