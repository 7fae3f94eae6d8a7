"""Faithfulness: several explanation methods side by side on this image, with their perturbation curves.

Token removal (Chefer et al. 2021: patch tokens dropped after the position embedding, most relevant first
or least relevant first) and pixel deletion / insertion (Petsiuk et al. 2018, blur fill), with the AUCs
beside a random and a centre-prior baseline; on generated scenes also the localisation measures against the
objects' true boxes. The chosen methods run together (one forward per step for all), each computed once per image and class; attention
flow, slow, runs after the others, which are drawn first.
"""

import numpy as np
import pandas as pd
import streamlit as st

from vit_core.errors import VitCoreError
from vit_core.faithfulness import FRACTIONS, PIXEL_FRACTIONS, energy_pointing, mask_iou, pointing_game
from vit_core.methods.registry import FAITHFULNESS_DEFAULT, METHODS, REGISTRY, refusals
from vit_core.runs.evaluate import LOWER_IS_BETTER, summarise
from viz_app import figures, resources, state
from viz_app.catalogue import error_sentence
from viz_app.faithfulness_data import NOISE_FLOOR, all_alike, clearly_better, method_results
from viz_app.ground_truth import objects_in_view
from viz_app.i18n import t
from viz_app.ui import class_name, class_select, plotly, render_controls, require_context, show_error

ctx = require_context()
geometry = ctx.geometry
scene = resources.scene_ground_truth().get(ctx.image.sha256)
objects = objects_in_view(scene, ctx.mapping) if scene else []

NAMES = {method: t(spec.label_key) for method, spec in REGISTRY.items()}
MEASURES = ("positive_auc", "negative_auc", "deletion_auc", "insertion_auc", "pointing_game", "energy_pointing",
            "mask_iou")
MEASURE_NAMES = {measure: t(f"faith.measure.{measure}") for measure in MEASURES}


def box_mask(label: str) -> np.ndarray | None:
    """``[1, h, w]`` bool: the target object's box in the model's view (the scenes ship boxes, not masks)."""
    wanted = [o for o in objects if o.label == label]
    if not wanted:
        return None
    h, w = ctx.view.shape[:2]
    mask = np.zeros((1, h, w), dtype=bool)
    x0, y0, x1, y1 = (int(round(v)) for v in wanted[0].box)
    mask[0, max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return mask


if not ctx.predictions:
    st.info(t("faith.no_head"))
    st.stop()

top = st.columns([3, 2])
chosen = top[0].multiselect(t("faith.methods"), METHODS, default=list(FAITHFULNESS_DEFAULT), format_func=NAMES.get,
                            key=state.FAITH_METHODS, help=t("faith.methods_help"))
with top[1]:
    target = class_select(ctx, key=state.FAITH_TARGET, label=t("faith.explain"))
for method, refusal in refusals(ctx.loaded.model, chosen).items():  # e.g. Transformer Attribution on LayerScale
    st.caption(t("faith.not_offered", method=NAMES[method], reason=error_sentence(refusal)))
    chosen = [m for m in chosen if m != method]
label = class_name(ctx, target)
st.caption(t("faith.auc"))

maps_area = st.container()  # the maps go above the curves, drawn once every method has finished
results: dict[str, dict] = {}
charts = st.columns(2)
slots = {key: column.empty() for key, column in zip(("positive", "negative"), charts, strict=True)}
charts2 = st.columns(2)
slots.update({key: column.empty() for key, column in zip(("deletion", "insertion"), charts2, strict=True)})
titles = {
    "positive": (t("faith.curve.positive"), t("fig.removed"), FRACTIONS),
    "negative": (t("faith.curve.negative"), t("fig.removed"), FRACTIONS),
    "deletion": (t("faith.curve.deletion"), t("faith.blurred"), PIXEL_FRACTIONS),
    "insertion": (t("faith.curve.insertion"), t("faith.restored"), PIXEL_FRACTIONS),
}


def draw_curves() -> None:
    for key, (title, x_title, fractions) in titles.items():
        fig = figures.curves_figure(fractions, {n: r["curves"][key] for n, r in results.items()}, title=title,
                                    x_title=x_title, names=NAMES)
        slots[key].plotly_chart(fig, config={"displaylogo": False}, key=f"faith_curve_{key}_{len(results)}")


STEPS = 2 * len(FRACTIONS) + 2 * len(PIXEL_FRACTIONS)  # removal both ways, deletion, insertion
cheap = [m for m in chosen if REGISTRY[m].cost != "slow"]
slow = [m for m in chosen if REGISTRY[m].cost == "slow"]
for group, text in ((cheap, t("faith.progress")), (slow, t("faith.progress_flow"))):
    if not group:
        continue
    bar = st.progress(0.0, text=text)
    done = [0]

    def step(bar=bar, done=done, text=text) -> None:
        done[0] += 1
        bar.progress(min(done[0] / STEPS, 1.0), text=text)

    try:
        results.update(method_results(ctx.key, group, int(target), ctx.loaded, ctx.image.data, step_progress=step))
    except VitCoreError as error:
        show_error(error)
    bar.empty()
    draw_curves()
results = {m: results[m] for m in chosen if m in results}

if results:
    mask = box_mask(label)
    rows = {}
    for method, result in results.items():
        measures = {m: np.asarray([v]) for m, v in result["measures"].items()}
        if mask is not None:
            heat = result["map"][None, None]
            measures["pointing_game"] = pointing_game(heat, mask)[0].astype(float)
            measures["energy_pointing"] = energy_pointing(heat, mask)[0]
            measures["mask_iou"] = mask_iou(heat, mask)[0]
        rows[method] = measures
    summary = summarise(rows)
    shown = [m for m in MEASURE_NAMES if any(m in e for e in summary.values())]
    table = {  # measures as rows, methods as columns: seven short method names fit 1280 px, nine measure names did not
        MEASURE_NAMES[m] + (" ↓" if m in LOWER_IS_BETTER else " ↑"): {
            NAMES[method]: round(entry[m]["mean"], 3) if m in entry else None for method, entry in summary.items()
        }
        for m in shown
    }
    st.subheader(t("faith.table"))
    st.table(pd.DataFrame.from_dict(table, orient="index"))  # a static table wraps its headers: fits 1280 px
    if {"random", "centre"} <= set(summary):
        verdicts = []
        for measure in shown:
            entries = {m: e[measure] for m, e in summary.items() if measure in e}
            winners = [NAMES[m] for m, e in entries.items() if m not in ("random", "centre")
                       and all(clearly_better(measure, e, entries[b]) for b in ("random", "centre") if b in entries)]
            said = ", ".join(winners) if winners else t("faith.no_difference") if all_alike(list(entries.values())) \
                else t("none")
            verdicts.append(f"{MEASURE_NAMES[measure]}: {said}")
        st.caption(t("faith.verdicts_box" if mask is not None else "faith.verdicts", verdicts="; ".join(verdicts),
                     floor=NOISE_FLOOR))


@st.fragment
def maps_view() -> None:
    render = render_controls(state.FAITH_RENDER)
    boxes = [(o.label, o.box) for o in objects]
    columns = st.columns(min(3, max(len(results), 1)))  # three to a row: maps large enough to read
    for n, (method, result) in enumerate(results.items()):
        with columns[n % len(columns)]:
            st.markdown(f"**{NAMES[method]}**")
            plotly(figures.overlay_figure(ctx.view, result["map"], geometry.patch_size, settings=render,
                                          num_prefix_tokens=geometry.num_prefix_tokens,
                                          clickable=False, height=380, boxes=boxes))


if results:
    with maps_area:
        st.subheader(t("faith.maps", label=label))
        maps_view()
