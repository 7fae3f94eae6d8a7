"""Write the generated sample scenes and their ground truth: ``python -m vit_core.demo.samples --out assets/samples``.

Each sample is a scene of ``vit_core.demo.scenes`` named by (seed, index, objects, style); ``scenes.json``
holds each file's classes and the boxes of its masks, which the app outlines. The photographs in
``assets/samples`` are not written here (see ``CREDITS.md`` there).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .registry import SAMPLES_DIR
from .scenes import CLASSES, render_scene

__all__ = ["SCENES", "DRAWN", "scene_entry", "write_samples", "main"]

# file name -> (seed, index, objects, style); the first nine are the first version's samples, but for
# pair_triangle_ring (index 1 until the sixth version, which scores that triangle 19%: the next ring-and-triangle
# scene it reads right, top two and both relevance peaks, is index 4).
SCENES: dict[str, tuple[int, int, int, str]] = {
    "scene_circle.png": (7, 0, 1, "classic"),
    "scene_triangle.png": (7, 2, 1, "classic"),
    "scene_cross.png": (7, 3, 1, "classic"),
    "scene_star.png": (7, 7, 1, "classic"),
    "scene_ring.png": (7, 8, 1, "classic"),
    "scene_square.png": (7, 19, 1, "classic"),
    "pair_ring_circle.png": (7, 0, 2, "classic"),
    "pair_triangle_ring.png": (7, 4, 2, "classic"),
    "pair_ring_star.png": (7, 2, 2, "classic"),
}
# Outline drawings on white (style "paper"), for a model trained on the second version's styles. The pair was
# index 3 until the sixth version put the square's relevance peak off the square there; 136 is the next square-and-star
# drawing it reads right.
DRAWN: dict[str, tuple[int, int, int, str]] = {
    "drawn_star.png": (7, 16, 1, "paper"),
    "drawn_cross.png": (7, 0, 1, "paper"),
    "pair_drawn_square_star.png": (7, 136, 2, "paper"),
}


def scene_entry(seed: int, index: int, objects: int, style: str) -> tuple[np.ndarray, dict]:
    """The image [224, 224, 3] uint8 and the scenes.json entry of one sample."""
    image, classes, masks = render_scene(seed, index, objects=objects, style=style)
    boxes = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        boxes.append([int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1])
    entry = {"seed": seed, "index": index, "objects": objects, "classes": [CLASSES[c] for c in classes], "boxes_xyxy": boxes}
    if style != "classic":
        entry["style"] = style
    return image, entry


def write_samples(out: Path, samples: dict[str, tuple[int, int, int, str]]) -> Path:
    """Write each sample's PNG into `out` and merge their entries into ``out/scenes.json``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "scenes.json"
    known = json.loads(path.read_text()) if path.is_file() else {}
    for name, spec in samples.items():
        image, known[name] = scene_entry(*spec)
        Image.fromarray(image).save(out / name)
    path.write_text(json.dumps(known, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vit_core.demo.samples", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=SAMPLES_DIR)
    p.add_argument("--drawn", action="store_true", help="also the outline drawings (for a model trained on them)")
    args = p.parse_args(argv)
    path = write_samples(args.out, {**SCENES, **(DRAWN if args.drawn else {})})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
