"""Demo scenes as PNG files whose names say how to regenerate them, so their masks never need files.

``shapes-s{seed}-{index:05d}.png`` is single-object scene `index` of stream `seed` (see
:func:`.scenes.render_scene`, a pure function of the two); PNG is lossless, so the file's pixels are the
scene's. :func:`scene_mask` reads the name back and renders the object's mask again: ``python -m vit_core
evaluate`` finds the masks of demo scenes this way, with no ``--masks`` folder.

Example:
    >>> write_scenes("scenes", 200)  # then: python -m vit_core evaluate scenes --out report.json
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from PIL import Image

from .scenes import generate, render_scene

__all__ = ["SCENE_SEED", "scene_name", "scene_mask", "write_scenes", "main"]

SCENE_SEED = 2024  # the model card's evaluation stream, never used in training
_NAME = re.compile(r"^shapes-s(\d+)-(\d+)$")


def scene_name(seed: int, index: int) -> str:
    return f"shapes-s{seed}-{index:05d}.png"


def scene_mask(path: str | Path) -> np.ndarray | None:
    """The object mask ``[224, 224]`` bool of a file written by :func:`write_scenes`, or None for any other file."""
    match = _NAME.match(Path(path).stem)
    if match is None:
        return None
    _, _, masks = render_scene(int(match.group(1)), int(match.group(2)), objects=1)
    return masks[0]


def write_scenes(out: str | Path, n: int, seed: int = SCENE_SEED, start: int = 0) -> list[Path]:
    """Write single-object scenes ``start .. start + n - 1`` of stream `seed` as PNGs into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    batch = generate(n, seed=seed, start=start)
    paths = []
    for offset, image in enumerate(batch.images):
        path = out / scene_name(seed, start + offset)
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vit_core.demo.scene_files", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the PNGs into")
    parser.add_argument("--n", type=int, default=200, help="number of scenes (default 200)")
    parser.add_argument("--seed", type=int, default=SCENE_SEED, help=f"scene stream (default {SCENE_SEED})")
    parser.add_argument("--start", type=int, default=0, help="first scene index")
    args = parser.parse_args(argv)
    paths = write_scenes(args.out, args.n, args.seed, args.start)
    print(f"wrote {len(paths)} scenes to {args.out}")


if __name__ == "__main__":
    main()
