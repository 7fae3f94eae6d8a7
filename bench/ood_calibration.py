"""How well an out-of-domain score separates the bundled model's generated scenes from images it never saw.

In-domain: fresh generated scenes (one and two objects, seeds the training never used). Out-of-domain: uniform
and Gaussian noise, smooth noise, stripes, checkerboards, colour gradients, and the bundled photo samples.
Scores, per image, from the logits: maximum softmax probability (MSP) and the energy score -logsumexp(logits)
(Liu et al. 2020; lower = more in-domain), and the Mahalanobis distance of the class token's final features to
those of 240 other generated scenes (Lee et al. 2018). Prints the AUROC of each and the threshold that keeps 95% of the
scenes, with the share of out-of-domain images it flags. Run: ``python bench/ood_calibration.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vit_core.demo.scenes import render_scene  # noqa: E402
from vit_core.models.images import preprocess  # noqa: E402
from vit_core.models.loading import DEMO_MODEL_NAME, load_model  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"


def textures(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    yy, xx = np.mgrid[0:224, 0:224] / 224.0
    for i in range(count):
        kind = i % 6
        if kind == 0:
            img = rng.integers(0, 256, (224, 224, 3))
        elif kind == 1:
            img = np.clip(rng.normal(128, 60, (224, 224, 3)), 0, 255)
        elif kind == 2:  # smooth noise: a small random image enlarged
            small = rng.integers(0, 256, (int(rng.integers(4, 16)),) * 2 + (3,)).astype(np.uint8)
            img = np.asarray(Image.fromarray(small).resize((224, 224), Image.Resampling.BICUBIC))
        elif kind == 3:  # stripes at a random angle and frequency
            angle, freq = rng.uniform(0, np.pi), rng.uniform(3, 30)
            wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
            img = wave[..., None] * rng.integers(0, 256, 3) + (1 - wave[..., None]) * rng.integers(0, 256, 3)
        elif kind == 4:  # checkerboard
            n = int(rng.integers(2, 16))
            board = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[..., None]
            img = board * rng.integers(0, 256, 3) + (1 - board) * rng.integers(0, 256, 3)
        else:  # two-colour gradient
            t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
            t = (t - t.min()) / (np.ptp(t) + 1e-9)
            img = t[..., None] * rng.integers(0, 256, 3) + (1 - t[..., None]) * rng.integers(0, 256, 3)
        out.append(np.asarray(img, dtype=np.uint8))
    return out


def scores(loaded, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    batch = torch.stack([preprocess(Image.fromarray(im), loaded.data_config)[0] for im in images])
    with torch.no_grad():
        logits = loaded.model(batch.to(loaded.device, loaded.dtype)).float()
    msp = logits.softmax(-1).max(-1).values.numpy()
    energy = (-torch.logsumexp(logits, -1)).numpy()
    return msp, energy


def features(loaded, images: list[np.ndarray]) -> np.ndarray:
    """The class token's final features ``[image, dim]`` (what the classifier reads)."""
    batch = torch.stack([preprocess(Image.fromarray(im), loaded.data_config)[0] for im in images])
    with torch.no_grad():
        tokens = loaded.model.forward_features(batch.to(loaded.device, loaded.dtype))
        return loaded.model.forward_head(tokens, pre_logits=True).float().numpy()


def mahalanobis(fit: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Distance of each query feature to the fitted scenes' Gaussian (shrunk covariance); higher = farther."""
    mean = fit.mean(0)
    cov = np.cov(fit - mean, rowvar=False)
    cov = 0.9 * cov + 0.1 * np.trace(cov) / len(cov) * np.eye(len(cov))
    inv = np.linalg.inv(cov)
    d = query - mean
    return np.sqrt(np.einsum("nd,de,ne->n", d, inv, d))


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    diff = positive[:, None] - negative[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def main() -> None:
    torch.set_num_threads(1)
    loaded = load_model(DEMO_MODEL_NAME)
    rng = np.random.default_rng(2024)
    scenes = [render_scene(seed=90_001, index=i, objects=1 + i % 2)[0] for i in range(120)]
    others = textures(120, rng)
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLES.glob("*"))
              if p.suffix in (".png", ".jpg") and not p.name.startswith(("scene_", "pair_"))]
    msp_in, energy_in = scores(loaded, scenes)
    msp_out, energy_out = scores(loaded, others + photos)
    print(f"{len(scenes)} generated scenes vs {len(others)} noise/texture images + {len(photos)} photos")
    fit = features(loaded, [render_scene(seed=90_002, index=i, objects=1 + i % 2)[0] for i in range(240)])
    maha_in, maha_out = mahalanobis(fit, features(loaded, scenes)), mahalanobis(fit, features(loaded, others + photos))
    for name, inside, outside, sign in (("max softmax", msp_in, msp_out, 1), ("energy", energy_in, energy_out, -1),
                                        ("mahalanobis", maha_in, maha_out, -1)):
        threshold = np.quantile(sign * inside, 0.05)  # keeps 95% of the scenes
        flagged = float((sign * outside < threshold).mean())
        photo_flags = int((sign * outside[len(others):] < threshold).sum())
        print(f"{name:12s} AUROC {auroc(sign * inside, sign * outside):.3f}; threshold {sign * threshold:.3f} keeps "
              f"95% of scenes and flags {flagged:.0%} of the others ({photo_flags}/{len(photos)} photos); "
              f"scenes median {np.median(inside):.3f}, others median {np.median(outside):.3f}")


if __name__ == "__main__":
    main()
