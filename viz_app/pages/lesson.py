"""The lesson: the ViT paper's pipeline step by step with Next/Back, each step a short text, one
predict-then-reveal question and the live figure for the current model and image (shown once answered);
rollout is stepped through layer by layer."""

import numpy as np
import streamlit as st

from vit_core.methods import RolloutSettings
from viz_app import figures, lesson, projector, state
from viz_app.i18n import t
from viz_app.ui import plotly, require_context

ctx = require_context()
g = ctx.geometry
gh, gw = g.grid_size
ph, pw = g.patch_size
P = g.num_prefix_tokens
a = ctx.analysis
cls = g.token_index("cls") if a.cls_attention is not None else None

STEPS = ("patches", "embedding", "position", "attention", "distance", "rollout")


def _question(step: str) -> tuple[str, dict[str, str], str] | None:
    """(question, {answer id: label}, right answer id) for `step`, the answer computed from this model and image."""
    if step == "patches":
        options = dict.fromkeys([str(gh * gw), str(gh * gw + P), str(3 * ph * pw)])
        return t("lesson.patches.q"), {k: k for k in options}, str(gh * gw + P)
    if step == "embedding":
        options = dict.fromkeys([str(ph * pw), str(3 * ph * pw), str(g.embed_dim)])
        return t("lesson.embedding.q", dim=g.embed_dim), {k: k for k in options}, str(3 * ph * pw)
    if step == "position":
        if a.pos_embed_similarity is None:
            return None
        near = lesson.most_similar_is_neighbour(a.pos_embed_similarity, gh // 2, gw // 2)
        options = {"near": t("lesson.position.a_near"), "far": t("lesson.position.a_far")}
        return t("lesson.position.q", row=gh // 2, col=gw // 2), options, "near" if near else "far"
    if step == "attention":
        if cls is None:
            return None
        same = lesson.heads_agree(a.cls_attention[0][-1])
        options = {"same": t("lesson.attention.a_same"), "different": t("lesson.attention.a_different")}
        return t("lesson.attention.q"), options, "same" if same else "different"
    if step == "distance":
        early = lesson.local_heads_early(a.mean_attention_distance[0])
        options = {"early": t("lesson.distance.a_early"), "late": t("lesson.distance.a_late")}
        return t("lesson.distance.q"), options, "early" if early else "late"
    options = {q: t(f"lesson.rollout.{q}") for q in lesson.QUARTERS}
    return t("lesson.rollout.q"), options, lesson.strongest_quarter(a.rollout[0])


def _figure(step: str) -> None:
    if step == "patches":
        plotly(figures.patch_grid_figure(ctx.view, g.grid_size, g.patch_size, P), key="lesson_figure")
    elif step == "embedding":
        plotly(figures.filters_figure(a.patch_embed_pcs, a.patch_embed_pcs_variance), key="lesson_figure")
    elif step == "position":
        if a.pos_embed_similarity is not None:
            plotly(figures.pos_embed_tiles_figure(a.pos_embed_similarity), key="lesson_figure")
        else:
            st.info(t("lesson.position.none"))
    elif step == "attention":
        if cls is None:
            st.info(t("lesson.attention.none"))
        else:
            plotly(figures.head_grid_figure(a.cls_attention[0][-1:], layers=[g.depth - 1],
                                            **projector.head_grid_options(g.num_heads)), key="lesson_figure")
    elif step == "distance":
        plotly(figures.head_metric_figure(a.mean_attention_distance[0], y_title=t("lesson.distance.axis")),
               key="lesson_figure")
    else:
        _rollout_step_through()


def _rollout_step_through() -> None:
    """Layer by layer: the head-fused factor with the residual, the running product, and the class-token row."""
    if a.attention is None:
        plotly(figures.overlay_figure(ctx.view, a.rollout[0], g.patch_size, clickable=False), key="lesson_figure")
        return
    steps = lesson.rollout_steps(a.attention, RolloutSettings(), P)
    layer = st.slider(t("lesson.rollout.layer"), 0, g.depth - 1, g.depth - 1, key=state.LESSON_LAYER)
    step = steps[layer]
    query = cls if cls is not None else P  # without a class token, follow the first patch token
    row = step.product[query, P:].reshape(gh, gw)  # [gh, gw]
    left, middle, right = st.columns(3)
    with left:
        plotly(lesson.matrix_figure(step.factor, t("lesson.rollout.factor", layer=layer)))
    with middle:
        plotly(lesson.matrix_figure(step.product, t("lesson.rollout.product", layer=layer)))
    with right:
        plotly(figures.overlay_figure(ctx.view, row, g.patch_size, clickable=False, height=360,
                                      title=t("lesson.rollout.row", layer=layer)), key="lesson_figure")
    st.caption(t("lesson.rollout.caption", prefix=f"{100 * float(np.sum(step.product[query, :P])):.1f}%"))


def _go(delta: int) -> None:
    st.session_state[state.LESSON_STEP] = min(max(st.session_state.get(state.LESSON_STEP, 0) + delta, 0),
                                              len(STEPS) - 1)


@st.fragment
def lesson_view() -> None:
    index = st.session_state.setdefault(state.LESSON_STEP, 0)
    step = STEPS[index]
    st.progress((index + 1) / len(STEPS), text=t("lesson.progress", n=index + 1, total=len(STEPS),
                                                    title=t(f"lesson.{step}.title")))
    nav = st.columns([1, 1, 6])
    nav[0].button(t("lesson.back"), key="lesson_back", on_click=_go, args=(-1,), disabled=index == 0,
                  icon=":material/arrow_back:", use_container_width=True)
    nav[1].button(t("lesson.next"), key="lesson_next", on_click=_go, args=(1,), disabled=index == len(STEPS) - 1,
                  icon=":material/arrow_forward:", use_container_width=True, type="primary")
    st.subheader(t(f"lesson.{step}.title"))
    st.markdown(t(f"lesson.{step}.text", gh=gh, gw=gw, n=gh * gw, ph=ph, pw=pw, P=P, depth=g.depth,
                  heads=g.num_heads, dim=g.embed_dim, size=f"{g.img_size[1]} × {g.img_size[0]}",
                  prefix=", ".join(ctx.prefix_labels) or "—"))
    question = _question(step)
    if question is None:
        _figure(step)
        return
    text, options, right = question
    answer = st.radio(f"**{text}**", list(options), format_func=options.get, index=None,  # the question stands out
                      key=f"{state.LESSON_ANSWER}_{step}",
                      horizontal=True)
    if answer is None:
        st.caption(t("lesson.predict_first"))
        plotly(figures.image_figure(ctx.view, height=360), key="lesson_before")
        return
    if answer == right:
        st.success(t("lesson.right"), icon=":material/check_circle:")
    else:
        st.warning(t("lesson.wrong", answer=options[right]), icon=":material/lightbulb:")
    _figure(step)


lesson_view()
