"""The README's rendering strips (docs/renderings_scene.png, docs/renderings_photo.png), from the bundled model.

Each strip is the attention rollout of one sample (the methods' defaults) drawn by the app's own
``viz_app.rendering.render`` in its four renderings, each with its name above it and, on a bundled scene, the
objects' true boxes and classes, so the pictures follow the model the project ships.

    python bench/renderings_figure.py                 # rewrites both files in docs/
    python bench/renderings_figure.py --out /tmp/fig  # somewhere else
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vit_core.demo.registry import NAME, SAMPLES_DIR  # noqa: E402
from vit_core.models.images import load_image, model_view, preprocess_batch  # noqa: E402
from vit_core.models.loading import load_model  # noqa: E402
from vit_core.runs.analysis import RolloutSettings, analyze  # noqa: E402
from viz_app.rendering import RENDERINGS, RenderSettings, render, rendering_name  # noqa: E402

STRIPS = {"renderings_scene.png": "pair_ring_star.png", "renderings_photo.png": "chelsea.png"}
PANEL = 448  # px per picture: twice the model's view
TRUTH = (124, 252, 0)  # the app's ground-truth colour (#7CFC00, viz_app.figures)


def strip(loaded, sample: Path, truth: dict | None) -> Image.Image:
    image = load_image(sample)
    pixels, _ = preprocess_batch([image], loaded.data_config)
    heat = analyze(loaded, pixels, rollout=RolloutSettings(), relevance=False).rollout[0]  # [gh, gw]
    view = np.asarray(model_view(image, loaded.data_config).convert("RGB"))
    font = ImageFont.load_default(size=26)
    small = ImageFont.load_default(size=18)
    title_h, gap = 44, 16
    canvas = Image.new("RGB", (len(RENDERINGS) * (PANEL + gap) - gap, PANEL + title_h), "white")
    draw = ImageDraw.Draw(canvas)
    scale = PANEL / view.shape[1]
    objects = list(zip((truth or {}).get("classes", []), (truth or {}).get("boxes_xyxy", []), strict=True))
    for i, style in enumerate(RENDERINGS):
        x0 = i * (PANEL + gap)
        canvas.paste(Image.fromarray(render(view, heat, RenderSettings(style=style), size=(PANEL, PANEL))), (x0, title_h))
        draw.text((x0, 6), rendering_name(style, "en"), fill="black", font=font)
        for name, box in objects:
            left, top, right, bottom = (x0 + box[0] * scale, title_h + box[1] * scale, x0 + box[2] * scale,
                                        title_h + box[3] * scale)
            draw.rectangle((left, top, right, bottom), outline=TRUTH, width=3)
            draw.rectangle((left, top - 24, left + draw.textlength(name, font=small) + 10, top), fill=TRUTH)
            draw.text((left + 5, top - 22), name, fill="black", font=small)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    loaded = load_model(NAME, device="cpu")
    scenes = json.loads((SAMPLES_DIR / "scenes.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    for target, sample in STRIPS.items():
        picture = strip(loaded, SAMPLES_DIR / sample, scenes.get(sample))
        picture.save(args.out / target)
        print(f"wrote {args.out / target} ({sample})")


if __name__ == "__main__":
    main()
