"""The catalogue: every key in both languages with the same {fields}, and every key the code asks for exists."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from viz_app import i18n

ROOT = Path(__file__).resolve().parents[1]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_in_both_languages():
    en, ko = set(i18n.CATALOGUE["en"]), set(i18n.CATALOGUE["ko"])
    assert en - ko == set(), f"missing in Korean: {sorted(en - ko)}"
    assert ko - en == set(), f"missing in English: {sorted(ko - en)}"


def test_same_fields_in_both_languages():
    for key, text in i18n.CATALOGUE["en"].items():
        assert _fields(text) == _fields(i18n.CATALOGUE["ko"][key]), key


def test_korean_is_korean():
    """A Korean entry that is still English (copied, not translated) holds no Hangul syllable."""
    hangul = re.compile("[\uac00-\ud7a3]")
    untranslated = [k for k, v in i18n.CATALOGUE["ko"].items() if not hangul.search(v) and k != "intro.name"]
    assert untranslated == []


def _literal_keys(node: ast.AST) -> list[str]:
    """The keys a t() call's first argument can be: a literal, or either branch of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literal_keys(node.body) + _literal_keys(node.orelse)
    return []


def keys_used(source: str) -> set[str]:
    """Every literal key passed to ``t(...)`` in `source` (f-string keys are checked below, by their names)."""
    return {key for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == "t" and node.args
            for key in _literal_keys(node.args[0])}


def test_the_key_scan_sees_both_branches_of_a_conditional():
    assert keys_used('t("a.b" if x else "c.d", n=1)\nt(f"nav.{p}")\nother("e.f")') == {"a.b", "c.d"}


def test_every_key_the_code_uses_exists():
    """Literal keys in t("...") calls and f-string keys' prefixes (t(f"lesson.{step}.title")) are in the catalogue."""
    sources = [*ROOT.glob("viz_app/**/*.py"), ROOT / "streamlit_app.py"]
    used = set()
    for path in sources:
        used |= keys_used(path.read_text())
    assert used, "no t() calls found: the scan is broken"
    assert used - set(i18n.CATALOGUE["en"]) == set()
    step_keys = {f"lesson.{step}.{part}" for step in ("patches", "embedding", "position", "attention", "distance",
                                                     "rollout", "relevance", "faithfulness")
                 for part in ("title", "text", "q")}
    assert step_keys <= set(i18n.CATALOGUE["en"])


def test_every_key_built_from_a_name_exists():
    """Keys the code builds from names (t(f"nav.{page}")): every page, method, measure and rendering."""
    from vit_core.methods.registry import REGISTRY
    from viz_app.rendering import RENDERING_IDS

    pages = [p.stem for p in (ROOT / "viz_app" / "pages").glob("*.py")]
    built = {f"nav.{page}" for page in pages}
    built |= {spec.label_key for spec in REGISTRY.values()}
    built |= {f"render.name.{i}" for i in RENDERING_IDS.values()} | {f"render.describe.{i}" for i in RENDERING_IDS.values()}
    built |= {f"fusion.{f}" for f in ("mean", "max", "min")}
    assert len(pages) >= 11 and built - set(i18n.CATALOGUE["en"]) == set()


def test_missing_key_fails_loudly():
    with pytest.raises(KeyError):
        i18n.t("no.such.key")


def test_fields_are_filled():
    assert "197" in i18n.t("lesson.progress", n=197, total=200, title="x")


HANGUL = re.compile("[\uac00-\ud7a3]")


class _Opaque:
    """A pickled object that is not a tensor: loading it needs code, which a safe load refuses."""


def _keyed_errors(tmp_path) -> list:
    """Every keyed error a person can cause from the app, raised by vit_core itself from a real bad file."""
    import io as _io

    import torch
    from PIL import Image as _Image
    from timm.models.vision_transformer import Attention
    from torch import nn

    from vit_core.errors import VitCoreError
    from vit_core.inside.ablation import _check_separable, check_tokens
    from vit_core.models import images as vimages
    from vit_core.models.loading import _read_state_dict

    def png(size, mode="RGB") -> bytes:
        out = _io.BytesIO()
        _Image.new(mode, size).save(out, format="PNG")
        return out.getvalue()

    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (vimages.MAX_IMAGE_BYTES + 1))
    torch.save({"weight": torch.zeros(1), "epoch": 3}, tmp_path / "mixed.pth")
    torch.save({"w": torch.zeros(1), "extra": _Opaque()}, tmp_path / "opaque.pth")
    (tmp_path / "garbage.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "model.txt").write_text("x")
    cases = [
        lambda: vimages.load_image(tmp_path / "absent.png"),
        lambda: vimages.load_image(big),
        lambda: vimages.load_image(b""),
        lambda: vimages.load_image(b"\0" * (vimages.MAX_IMAGE_BYTES + 1)),
        lambda: vimages.load_image(b"hello, not an image"),
        lambda: vimages.load_image(png((7000, 7000), "1")),
        lambda: vimages.load_image(png((1, 40))),
        lambda: vimages.load_image(png((400, 300))[:300]),
        lambda: _read_state_dict(tmp_path / "absent.safetensors"),
        lambda: _read_state_dict(tmp_path / "model.txt"),
        lambda: _read_state_dict(tmp_path / "garbage.safetensors"),
        lambda: _read_state_dict(tmp_path / "mixed.pth"),
        lambda: _read_state_dict(tmp_path / "opaque.pth"),
        lambda: check_tokens(range(5), 5),  # every token masked on the "Switch off heads & tokens" page
        lambda: _check_separable([Attention(8, num_heads=2, scale_norm=True, norm_layer=nn.LayerNorm)]),  # a scale-norm model's heads
    ]
    raised = []
    for case in cases:
        with pytest.raises(VitCoreError) as info:
            case()
        raised.append(info.value)
    return raised


def test_errors_a_person_can_cause_are_said_in_korean_with_their_own_values(tmp_path):
    from viz_app.catalogue import error_sentence
    from viz_app.catalogue import errors as error_catalogue

    raised = _keyed_errors(tmp_path)
    assert all(e.key for e in raised), [str(e) for e in raised if not e.key]
    for error in raised:
        korean = error_sentence(error, lang="ko")
        assert HANGUL.search(korean) and korean != str(error), (error.key, korean)
        for value in error.values.values():  # the error's own numbers and names, not the catalogue's
            assert str(value) in korean, (error.key, value, korean)
        assert error_sentence(error, lang="en") == str(error)
    keys = {e.key for e in raised}
    untested = set(error_catalogue.KO) - keys - {"image.unopenable"}  # no file found that causes it
    assert not untested, untested
    assert error_sentence(ValueError("plain"), lang="ko") == "plain"  # no key: the English message
