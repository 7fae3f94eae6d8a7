"""Links to any view: the page, model, sample, layer, head, patch and rollout settings in the URL's query.

Names are fixed so links in slides keep working: ``page`` (the page's url path), ``model``, ``sample``,
``layer``, ``head``, ``row``, ``col``, ``fusion``, ``discard``, ``residual``, ``start``, ``step`` (the lesson's,
from 1) and ``lang``. A link is
read once, on the first run of a browser session: values go into the widgets' session state before they are
drawn; an unknown or out-of-range value keeps the default and leaves a one-line notice (never an exception).
The URL then follows the view, and "Copy link to this view" shows it with a copy button (``st.code``).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from vit_core.loading import DEMO_MODEL_NAME

from . import resources, state
from .i18n import LANGUAGES, t
from .state import LANG

__all__ = ["PARAMS", "DEMO", "read_language", "read_link", "apply_view", "show_notices", "view_params", "share_view"]

PARAMS = ("page", "model", "sample", "layer", "head", "row", "col", "fusion", "discard", "residual", "start", "step",
          "lang")
DEMO = "demo"  # `model=demo`: the app's default model (the bundled demo model)
MEAN_HEAD = "mean"  # `head=mean`: the mean of heads
ROLLED = "rolled"  # `layer=rolled` on the query page: rolled out over all layers
FUSIONS = ("mean", "max", "min")
# Pages whose controls live in a fragment: they call share_view themselves so the URL follows every change.
FRAGMENT_PAGES = ("rollout", "class_token", "query", "lesson")

_READ = "_link_read"  # session flag: this session's link was read
_PENDING = "_link_pending"  # view values waiting for the model's geometry
_NOTICES = "_link_notices"


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
    sample = query.get("sample")
    if sample is not None:
        if sample in resources.sample_images():
            st.session_state[state.IMAGE_SOURCE] = "Sample"
            st.session_state[state.SAMPLE] = sample
        else:
            _notice("link.bad_value", name="sample", value=sample)
    st.session_state[_PENDING] = {k: v for k, v in query.items() if k in PARAMS[3:-1]}
    target = query.get("page")
    if target is None:
        return
    target = "" if target == "overview" else target
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


def apply_view(page: str, geometry) -> None:
    """Put the link's layer, head, patch and rollout settings into the widgets of `page`, checked against the
    loaded model's geometry; reruns once so the widgets start from them."""
    pending: dict[str, str] = st.session_state.pop(_PENDING, None) or {}
    if not pending:
        return
    gh, gw = geometry.grid_size
    depth, heads = geometry.depth, geometry.num_heads
    keys = {"class_token": (state.CLS_LAYER, state.CLS_HEAD), "query": (state.QUERY_LAYER, state.QUERY_HEAD)}
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
    if page == "lesson" and "step" in pending:
        if (step := _int("step", pending["step"], 1, len(state.LESSON_STEPS))) is not None:
            values[state.LESSON_STEP] = step - 1
    if values:
        st.session_state.update(values)
        st.rerun()  # widgets drawn on the next run start from these values (no 'default and state' warning)


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


def view_params(page: str) -> dict[str, str]:
    """The query parameters that reopen the current view of `page`."""
    ss = st.session_state
    params: dict[str, str] = {"page": page or "overview"}
    choice = ss.get(state.MODEL_CHOICE)
    for name, (label, preset) in _models().items():
        if choice == label and (preset is None or ss.get(state.HF_PRESET, next(iter(state.TRANSFORMERS_MODELS))) == preset):
            params["model"] = name
            break
    if ss.get(state.IMAGE_SOURCE, "Sample") == "Sample" and ss.get(state.SAMPLE):
        params["sample"] = ss[state.SAMPLE]
    per_page: dict[str, tuple[tuple[str, str], ...]] = {
        "class_token": (("layer", state.CLS_LAYER), ("head", state.CLS_HEAD)),
        "query": (("layer", state.QUERY_LAYER), ("head", state.QUERY_HEAD), ("row", state.QUERY_ROW),
                  ("col", state.QUERY_COL)),
        "rollout": (("fusion", state.FUSION), ("discard", state.DISCARD), ("residual", state.RESIDUAL),
                    ("start", state.START_LAYER)),
    }
    for name, key in per_page.get(page, ()):
        if ss.get(key) is not None:
            params[name] = _link_value(ss[key])
    if page == "lesson" and ss.get(state.LESSON_STEP) is not None:
        params["step"] = str(ss[state.LESSON_STEP] + 1)
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
