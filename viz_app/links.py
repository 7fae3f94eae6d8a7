"""Links to any view: the page, model, sample, layer, head, patch and rollout settings in the URL's query.

Names are fixed so links in slides keep working: ``page`` (the page's url path), ``model``, ``sample``, ``size``
(the sidebar's image size in pixels, written only when it is not the model's own), ``layer``, ``head``, ``row``, ``col``, ``fusion``, ``discard``, ``residual``, ``start`` and ``lang``; every other
control of a page is in ``VIEW_PARAMS`` (``render``, ``colormap``, ``opacity``, ``mass``, ``blur``, ``class``,
``truth``, ``step`` of the lesson counted from 1, ...), so a link reopens the whole view. A link is
read once, on the first run of a browser session: values go into the widgets' session state before they are
drawn; an unknown or out-of-range value keeps the default and leaves a one-line notice (never an exception).
The URL then follows the view, and "Copy link to this view" shows it with a copy button (``st.code``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from vit_core.errors import SettingsError
from vit_core.inside.ablation import parse_heads, parse_tokens
from vit_core.methods.registry import METHODS
from vit_core.methods.rollout import HEAD_FUSIONS
from vit_core.models.loading import DEMO_MODEL_NAME

from . import resources, state
from .figures import COLORSCALES
from .i18n import LANGUAGES, t
from .lesson import STEPS as LESSON_STEPS
from .page_registry import ALIASES  # fragment pages call share_view themselves
from .rendering import RENDERING_IDS
from .state import LANG

__all__ = ["PARAMS", "VIEW_PARAMS", "Param", "DEMO", "read_language", "read_link", "linked_image_size", "apply_view", "show_notices", "view_params", "share_view"]

PARAMS = ("page", "model", "weights", "sample", "size", "layer", "head", "row", "col", "fusion", "discard", "residual", "start",
          "render", "colormap", "opacity", "mass", "blur", "class", "truth", "step", "mode", "normalise", "range",
          "centre", "across", "methods", "compare", "other", "other_random", "heads", "tokens", "importance",
          "register", "register_layer", "mads", "k", "lang")
DEMO = "demo"  # `model=demo`: the app's default model (the bundled demo model)
MEAN_HEAD = "mean"  # `head=mean`: the mean of heads
ROLLED = "rolled"  # `layer=rolled` on the query page: rolled out over all layers
FUSIONS = HEAD_FUSIONS  # `fusion=` values: the rollout's own head fusions
_SESSION_PARAMS = ("page", "model", "weights", "sample", "size", "lang")
RANDOM = "random"  # `weights=random`: the sidebar's random-weights switch on (the randomised-weights control)  # read by read_link, not waiting for the geometry



@dataclass(frozen=True)
class Param:
    """A view control in the link: `name` in the URL, `key` of its widget, how its value is written and checked.

    kind: "choice" (one of `choices`, each written as its slug), "choices" (several, comma-separated), "bool" (1 / 0), "float" (`low`..`high` in
    steps of `step`), "int" (`low`..`high`, or up to the model's depth - 1 / grid size - 1 with `high` "depth",
    "rows", "cols"), "class" (a class by name), "step" (a lesson step, counted from 1 in the link), "heads"
    (``L:H,L:H``, checked against the model's layers and heads), "tokens" (token indices ``0,5,17``).
    """

    name: str
    key: str
    kind: str
    choices: Mapping[str, str] | None = None  # value -> slug
    low: float = 0.0
    high: float | str = 1.0
    step: float = 0.05


def _render_params(keys: state.RenderKeys) -> tuple[Param, ...]:
    return (Param("render", keys.style, "choice", RENDERING_IDS),
            Param("colormap", keys.colorscale, "choice", {c: c for c in COLORSCALES}),
            Param("opacity", keys.opacity, "float"),
            Param("mass", keys.mass, "float", low=0.1, high=0.95),
            Param("blur", keys.blur, "bool"))


# Controls written by the generic table (the older names above keep their own reading in apply_view).
VIEW_PARAMS: dict[str, tuple[Param, ...]] = {
    "rollout": (*_render_params(state.ROLLOUT_RENDER), Param("class", state.TARGET_CLASS, "class"),
                Param("truth", state.SHOW_TRUTH, "bool")),
    "class_token": (*_render_params(state.CLS_RENDER),
                    Param("mode", state.CLS_MODE, "choice", {"Animate over layers": "animate",
                                                             "Layer × head grid": "grid"}),
                    Param("normalise", state.CLS_NORMALISE, "bool")),
    "query": _render_params(state.QUERY_RENDER),
    "faithfulness": (*_render_params(state.FAITH_RENDER), Param("class", state.FAITH_TARGET, "class"),
                     Param("methods", state.FAITH_METHODS, "choices", {m: m for m in METHODS})),
    "lesson": (Param("step", state.LESSON_STEP, "step", high=len(LESSON_STEPS)),
               Param("layer", state.LESSON_LAYER, "int", high="depth")),
    "position": (Param("row", state.POS_ROW, "int", high="rows"), Param("col", state.POS_COL, "int", high="cols"),
                 Param("range", state.POS_RANGE, "choice", {"Fitted to the data": "fitted",
                                                            "−1 to 1 (the paper)": "paper"}),
                 Param("centre", state.POS_CENTRE, "bool")),
    "heads": (Param("across", state.HEADS_ALL_SAMPLES, "bool"),),
    "inside": (Param("compare", state.INSIDE_COMPARE, "bool"),
               Param("other", state.INSIDE_OTHER, "choice", {state.DEMO_LABEL: DEMO, **{
                   label: name for label, name in state.CURATED_MODELS.items()}}),
               Param("other_random", state.INSIDE_OTHER_RANDOM, "bool")),
    "ablate": (Param("heads", state.ABLATE_HEADS, "heads"), Param("tokens", state.ABLATE_TOKENS, "tokens"),
               Param("mode", state.ABLATE_MODE, "choice", {"mean": "mean", "zero": "zero"}),
               Param("importance", state.ABLATE_IMPORTANCE, "bool"), Param("register", state.REGISTER_SHOW, "bool"),
               Param("register_layer", state.REGISTER_LAYER, "int", high="depth"),
               Param("mads", state.REGISTER_MADS, "float", low=2.0, high=30.0, step=1.0),
               Param("k", state.REGISTER_K, "int", low=1, high=20)),
}

_READ = "_link_read"  # session flag: this session's link was read
_PENDING = "_link_pending"  # view values waiting for the model's geometry
_NOTICES = "_link_notices"
_SIZE = "_link_size"  # the link's image size, waiting for the model's patch (linked_image_size)


def _models() -> dict[str, tuple[str, str | None]]:
    """Link name -> (model choice label, transformers preset or None)."""
    default = resources.default_model_spec()
    demo_label = state.DEMO_LABEL if default.name == DEMO_MODEL_NAME else None
    models: dict[str, tuple[str, str | None]] = {}
    if demo_label is not None:
        models[DEMO] = (demo_label, None)
    models.update({name: (label, None) for label, name in state.CURATED_MODELS.items()})
    models.update({repo: (state.HF_TRANSFORMERS, repo) for repo in state.TRANSFORMERS_MODELS})
    return models


def _notice(key: str, **values) -> None:
    st.session_state.setdefault(_NOTICES, []).append(t(key, **values))


def _query() -> dict[str, str]:
    return {name: st.query_params.get(name) for name in st.query_params}


def read_language() -> None:
    """First run of a session: the link's language, before any title is built (an unknown one is noted later)."""
    lang = st.query_params.get("lang")
    if not st.session_state.get(_READ) and lang in LANGUAGES:
        st.session_state[LANG] = lang


def read_link(pages: Mapping[str, object], current: str) -> None:
    """First run of a session: the link's language, model, sample and page; view values wait for the model.

    Args:
        pages: url path -> ``st.Page`` of every page (the default page under "").
        current: url path of the page Streamlit opened.
    """
    if st.session_state.get(_READ):
        return
    st.session_state[_READ] = True
    query = _query()
    unknown = sorted(set(query) - set(PARAMS))
    if unknown:
        _notice("link.unknown_param", names=", ".join(unknown))
    lang = query.get("lang")
    if lang is not None and lang not in LANGUAGES:  # a known one was read already (read_language)
        _notice("link.bad_value", name="lang", value=lang)
    model = query.get("model")
    if model is not None:
        models = _models()
        if model in models:
            choice, preset = models[model]
            st.session_state[state.MODEL_CHOICE] = choice
            if preset is not None:
                st.session_state[state.HF_PRESET] = preset
        else:
            _notice("link.bad_value", name="model", value=model)
    weights = query.get("weights")
    if weights is not None:
        if weights == RANDOM:
            st.session_state[state.RANDOM_WEIGHTS] = True
        else:
            _notice("link.bad_value", name="weights", value=weights)
    sample = query.get("sample")
    if sample is not None:
        if sample in resources.sample_images():
            st.session_state[state.IMAGE_SOURCE] = "Sample"
            st.session_state[state.SAMPLE] = sample
        else:
            _notice("link.bad_value", name="sample", value=sample)
    if query.get("size") is not None:
        st.session_state[_SIZE] = query["size"]
    st.session_state[_PENDING] = {k: v for k, v in query.items() if k in PARAMS and k not in _SESSION_PARAMS}
    target = query.get("page")
    if target is None:
        return
    target = ALIASES.get(target, target)
    if target not in pages:
        _notice("link.bad_value", name="page", value=target)
    elif target != current:
        st.switch_page(pages[target], query_params=query)


def _number(name: str, value: str, low: float, high: float, parse: type = int):
    """`value` parsed as `parse` when within [low, high]; else None and a notice."""
    try:
        number = parse(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        _notice("link.out_of_range", name=name, value=value, low=low, high=high)
        return None
    return number


def _int(name: str, value: str, low: int, high: int) -> int | None:
    return _number(name, value, low, high)


def _float(name: str, value: str, low: float, high: float, step: float) -> float | None:
    number = _number(name, value, low, high, float)
    return None if number is None else round(round(number / step) * step, 2)  # the slider's own steps


def linked_image_size(patch: int, high: int) -> int | None:
    """The link's image size once, for the first model whose size control is drawn: a whole number of `patch`
    pixels from `patch` to `high`, else None (and a notice when the link held one that does not fit)."""
    raw = st.session_state.pop(_SIZE, None)
    if raw is None or (size := _int("size", raw, patch, high)) is None:
        return None
    if size % patch:
        _notice("link.bad_value", name="size", value=raw)
        return None
    return size


def apply_view(page: str, geometry) -> None:
    """Put the link's layer, head, patch and rollout settings into the widgets of `page`, checked against the
    loaded model's geometry; reruns once so the widgets start from them."""
    pending: dict[str, str] = st.session_state.pop(_PENDING, None) or {}
    if not pending:
        return
    gh, gw = geometry.grid_size
    depth, heads = geometry.depth, geometry.num_heads
    keys = {"class_token": (state.CLS_LAYER, state.CLS_HEAD), "query": (state.QUERY_LAYER, state.QUERY_HEAD),
            "inside": (state.INSIDE_LAYER, state.INSIDE_HEAD)}
    values: dict[str, object] = {}
    layer_key, head_key = keys.get(page, (None, None))
    if "layer" in pending and layer_key is not None:
        if page == "query" and pending["layer"] == ROLLED:
            values[layer_key] = state.ROLLED_OUT
        elif (layer := _int("layer", pending["layer"], 0, depth - 1)) is not None:
            values[layer_key] = layer
    if "head" in pending and head_key is not None:
        if pending["head"] == MEAN_HEAD:
            values[head_key] = state.MEAN_OF_HEADS
        elif (head := _int("head", pending["head"], 0, heads - 1)) is not None:
            values[head_key] = head
    if page == "query":
        for name, key, size in (("row", state.QUERY_ROW, gh), ("col", state.QUERY_COL, gw)):
            if name in pending and (number := _int(name, pending[name], 0, size - 1)) is not None:
                values[key] = number
    if page == "rollout":
        if "fusion" in pending:
            if pending["fusion"] in FUSIONS:
                values[state.FUSION] = pending["fusion"]
            else:
                _notice("link.bad_value", name="fusion", value=pending["fusion"])
        for name, key, high in (("discard", state.DISCARD, 0.95), ("residual", state.RESIDUAL, 1.0)):
            if name in pending and (number := _float(name, pending[name], 0.0, high, 0.05)) is not None:
                values[key] = number
        if "start" in pending and (start := _int("start", pending["start"], 0, max(depth - 1, 1))) is not None:
            values[state.START_LAYER] = start
    values.update(_table_values(page, geometry, pending))
    if values:
        st.session_state.update(values)
        st.rerun()  # widgets drawn on the next run start from these values (no 'default and state' warning)


def _class_names() -> tuple[str, ...]:
    ctx = st.session_state.get(state.CONTEXT)
    return tuple(ctx.loaded.label_names or ()) if ctx is not None else ()


def _table_values(page: str, geometry, pending: Mapping[str, str]) -> dict[str, object]:
    """The values of `page`'s table controls (VIEW_PARAMS) that the link holds, each checked; a notice for the rest."""
    highs = {"depth": geometry.depth - 1, "rows": geometry.grid_size[0] - 1, "cols": geometry.grid_size[1] - 1}
    values: dict[str, object] = {}
    for param in VIEW_PARAMS.get(page, ()):
        raw = pending.get(param.name)
        if raw is None:
            continue
        if param.kind == "choice":
            by_slug = {slug: value for value, slug in (param.choices or {}).items()}
            if raw in by_slug:
                values[param.key] = by_slug[raw]
            else:
                _notice("link.bad_value", name=param.name, value=raw)
        elif param.kind == "choices":
            picked = [w for w in raw.split(",") if w]
            if picked and all(w in (param.choices or {}) for w in picked):
                values[param.key] = picked
            else:
                _notice("link.bad_value", name=param.name, value=raw)
        elif param.kind == "bool":
            if raw in ("0", "1"):
                values[param.key] = raw == "1"
            else:
                _notice("link.bad_value", name=param.name, value=raw)
        elif param.kind == "float":
            if (number := _float(param.name, raw, param.low, float(param.high), param.step)) is not None:
                values[param.key] = number
        elif param.kind == "int":
            high = highs[param.high] if isinstance(param.high, str) else int(param.high)
            if (number := _int(param.name, raw, int(param.low), high)) is not None:
                values[param.key] = number
        elif param.kind == "step":
            if (number := _int(param.name, raw, 1, int(param.high))) is not None:
                values[param.key] = number - 1
        elif param.kind in ("heads", "tokens"):
            try:
                if param.kind == "heads":
                    values[param.key] = [f"{a}:{b}" for a, b in parse_heads(raw, geometry.depth, geometry.num_heads)]
                else:
                    values[param.key] = list(parse_tokens(raw, geometry.num_tokens))
            except SettingsError:
                _notice("link.bad_value", name=param.name, value=raw)
        elif param.kind == "class":
            names = _class_names()
            if raw in names:
                values[param.key] = names.index(raw)
                values[f"{param.key}.question"] = state.CLASS_FROM_LINK  # the class picker keeps it (ui.class_select)
            else:
                _notice("link.bad_value", name=param.name, value=raw)
    return values


def show_notices() -> None:
    """The link's notices, one line each, shown once."""
    for notice in st.session_state.pop(_NOTICES, []):
        st.info(notice, icon=":material/link_off:")


def _link_value(value) -> str:
    if value == state.ROLLED_OUT:
        return ROLLED
    if value == state.MEAN_OF_HEADS:
        return MEAN_HEAD
    return str(value)


def _table_text(param: Param, value) -> str | None:
    """How `value` of a table control is written in the link (None: not writable, e.g. an unnamed class)."""
    if param.kind == "choice":
        return (param.choices or {}).get(value)
    if param.kind in ("choices", "heads", "tokens"):
        return ",".join(map(str, value)) or None  # nothing chosen: left out of the link
    if param.kind == "bool":
        return "1" if value else "0"
    if param.kind == "step":
        return str(int(value) + 1)
    if param.kind == "class":
        names = _class_names()
        return names[int(value)] if 0 <= int(value) < len(names) else None
    return str(value)


def view_params(page: str) -> dict[str, str]:
    """The query parameters that reopen the current view of `page`."""
    ss = st.session_state
    params: dict[str, str] = {"page": page or "overview"}
    choice = ss.get(state.MODEL_CHOICE)
    for name, (label, preset) in _models().items():
        if choice == label and (preset is None or ss.get(state.HF_PRESET, next(iter(state.TRANSFORMERS_MODELS))) == preset):
            params["model"] = name
            break
    if ss.get(state.RANDOM_WEIGHTS):
        params["weights"] = RANDOM
    if ss.get(state.IMAGE_SOURCE, "Sample") == "Sample" and ss.get(state.SAMPLE):
        params["sample"] = ss[state.SAMPLE]
    ctx = ss.get(state.CONTEXT)
    if ctx is not None and ctx.spec.image_size is not None:  # the model at another size than its own
        params["size"] = str(ctx.spec.image_size)
    per_page: dict[str, tuple[tuple[str, str], ...]] = {
        "class_token": (("layer", state.CLS_LAYER), ("head", state.CLS_HEAD)),
        "inside": (("layer", state.INSIDE_LAYER), ("head", state.INSIDE_HEAD)),
        "query": (("layer", state.QUERY_LAYER), ("head", state.QUERY_HEAD), ("row", state.QUERY_ROW),
                  ("col", state.QUERY_COL)),
        "rollout": (("fusion", state.FUSION), ("discard", state.DISCARD), ("residual", state.RESIDUAL),
                    ("start", state.START_LAYER)),
    }
    for name, key in per_page.get(page, ()):
        if ss.get(key) is not None:
            params[name] = _link_value(ss[key])
    for param in VIEW_PARAMS.get(page, ()):
        if (value := ss.get(param.key)) is not None and (text := _table_text(param, value)) is not None:
            params[param.name] = text
    params["lang"] = ss.get(LANG, LANGUAGES[0])
    return params


def _base_url() -> str:
    """The app's root URL as the browser sees it (page path dropped: the `page` parameter names the page)."""
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - no browser (AppTest): a relative link
        url = ""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", "")) if parts.netloc else "/"


def share_view(page: str) -> str:
    """Keep the URL on the current view and draw "Copy link to this view"; returns the link."""
    params = view_params(page)
    if _query() != params:
        st.query_params.from_dict(params)
    link = f"{_base_url()}?{urlencode(params)}"
    with st.expander(t("link.copy"), icon=":material/link:"):
        st.code(link, language=None, wrap_lines=True)
        source = st.session_state.get(state.IMAGE_SOURCE, "Sample")
        if source != "Sample":
            st.caption(t("link.own_image"))
        else:
            st.caption(t("link.how"))
    return link
