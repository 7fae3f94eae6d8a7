"""Train the demo ViT from scratch, reproducibly from a seed: ``python -m vit_core.demo.train --seed 0 --out assets/demo_model``.

A ViT's weak inductive bias makes it slow to leave chance on little data (Dosovitskiy et al. 2021); the
recipe below makes a 2-core CPU enough:

* scenes generated once, in parallel, as uint8 arrays and reused over epochs with the 8 dihedral
  transforms (shapes are rotation- and mirror-invariant; patch grids map onto themselves);
* a curriculum: most steps on a 112 px canvas with full-size objects (the same pixels per patch, a
  quarter of the tokens); the canvas is treated as a random 7 x 7 window of the 224 px frame, so it
  takes the matching 7 x 7 block of the model's own 14 x 14 position embeddings; then a short
  fine-tuning on whole 224 px scenes;
* position embeddings (still learned) initialised from 2-D sin-cos, and mimetic initialisation of the
  attention weights (Trockman & Kolter 2023: W_q W_k^T ~ a Z + b I, W_v W_o ~ a Z - b I);
* token labelling (Jiang et al. 2021, "All tokens matter"): an auxiliary linear head, dropped after
  training, classifies every patch token as background or the class of the object covering it, from the
  scene masks; a dense signal from step one;
* AdamW with linear warm-up and cosine decay (two cycles at 112 px: a warm restart), gradient clipping 1.0;
* a last 224 px phase that mixes in two-object scenes with a soft 1/2 + 1/2 target, so the class token
  carries both objects (class-specific relevance on two-object scenes needs it);
* (second version) every data set in the ``mixed`` scene style (classic, varied filled and outline drawings;
  the held-out ``chalk`` style never), so the model meets the drawings a user makes;
* (second version) a local task for Figure 7 (right): a second training-only head on the tokens after block
  ``--local-layer`` (1) says, for each patch, whether an object covers each of its four neighbours; that is
  not in the patch's own pixels, so an early head has to look about one patch away;
* (second version) head 0 of blocks 0 and 1 starts as local attention (``locality_init``): in a 400-step
  pilot the local task alone left every head of layers 0-1 above 94 px; with this start the two heads were
  at 9 and 36 px after it, the last layer at 107 px;
* at export the position embeddings' shared mean is moved into the patch-embedding bias (the same network)
  so their cosines show the grid structure on the -1..1 scale of the paper's Figure 7 (centre).

* (fourth version) 30% of training images are their photographic negatives (``invert_polarity``): the model
  meets light ink on dark grounds, which only the held-out style draws as outlines.
* (fifth version) the two-object phase trains each class logit as a presence detector (a sigmoid per class,
  ``--pair-loss presence``) instead of softmax cross-entropy: class-specific relevance follows a logit's gradient,
  and a softmax logit is free to rise with the other object too (``class_loss``).

* (sixth version) a last phase on the 224 px scenes it still gets wrong (``hardest_scenes``): the 6,000 of highest
  loss after the pair phase, each repeated four more times, every 8th batch two-object; on the training styles 97.15%
  -> 98.2% (a fresh seed: 97.4% -> 98.15%), two-object relevance kept.

Phases (sixth version): 112px (5,000 steps on 30,000 scenes) -> 112px-b (4,000) -> 224px (6,000, on 24,000 scenes)
-> 224px-pairs (5,000 on 5,000 two-object scenes, every 2nd batch two-object; presence loss) -> 224px-hard (2,000);
width 128 (from the third version), two CPU threads. Each phase checkpoints to ``--work-dir``, and ``--init CKPT --init-after PHASE`` resumes after a phase on
the same code path.

Uses CUDA when present, else the CPU threads given by ``--threads``; bf16 autocast on CUDA and on CPUs with native
bf16 (``--precision``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from .registry import ARCH, CLASS_OUTPUT_KEY, NAME, sizes_of
from .scenes import CLASSES, HELD_OUT_STYLE, STYLES, SceneBatch, generate_parallel, patch_fractions

__all__ = ["build", "hardest_scenes", "invert_polarity", "mimetic_init", "sincos_pos_init", "neighbour_targets", "class_loss", "centre_position_embeddings", "train", "main"]

BACKGROUND = len(CLASSES)  # the auxiliary token-label head's extra class
RECIPE_WIDTH = 128  # the third version's width; the registry's ARCH (96) is the first two versions' (no metadata)
PATCH = int(ARCH["patch_size"])


def build(img_size: int, embed_dim: int | None = None, num_heads: int | None = None) -> VisionTransformer:
    """The demo architecture at `img_size` (112 for the curriculum, 224 for the released model), optionally at
    another width or number of heads (the recipe search's ``--embed-dim`` / ``--heads``)."""
    widths = {k: v for k, v in (("embed_dim", embed_dim), ("num_heads", num_heads)) if v is not None}
    return VisionTransformer(**{**ARCH, "img_size": img_size, **widths})


def use_bf16(device: torch.device, precision: str) -> bool:
    """Whether to train under bf16 autocast: ``auto`` means on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX),
    where oneDNN runs the matmuls about 1.35x faster (measured on the 2-core EPYC); the weights stay float32."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def sincos_pos_init(model: VisionTransformer) -> None:
    """Set the learned position embeddings of the patch tokens to 2-D sin-cos; prefix tokens to zero."""
    from timm.layers import build_sincos2d_pos_embed

    gh, gw = model.patch_embed.grid_size
    pe = build_sincos2d_pos_embed((gh, gw), model.embed_dim)  # [gh*gw, dim]
    with torch.no_grad():
        model.pos_embed.zero_()
        model.pos_embed[0, model.num_prefix_tokens :] = pe


def mimetic_init(model: VisionTransformer, generator: torch.Generator, a: float = 0.7, b: float = 0.7) -> None:
    """Mimetic initialisation of every attention block (Trockman & Kolter, ICML 2023).

    Per head, W_q W_k^T ~ a Z + b I (attention starts out local-ish: a token attends to similar tokens,
    itself included), and per block W_o W_v ~ a Z - b I, with Z ~ N(0, 1/dim).
    """
    dim = model.embed_dim
    eye = torch.eye(dim)
    with torch.no_grad():
        for block in model.blocks:
            attn = block.attn
            hd, heads = attn.head_dim, attn.num_heads
            w = attn.qkv.weight  # [3*dim, dim]: rows q, k, v
            for h in range(heads):
                z = a * torch.randn(dim, dim, generator=generator) / math.sqrt(dim) + b * eye
                u, s, vt = torch.linalg.svd(z)
                root = s[:hd].sqrt()
                w[h * hd : (h + 1) * hd] = (u[:, :hd] * root).T  # W_q^h rows
                w[dim + h * hd : dim + (h + 1) * hd] = (vt[:hd].T * root).T  # W_k^h rows
            z = a * torch.randn(dim, dim, generator=generator) / math.sqrt(dim) - b * eye
            u, s, vt = torch.linalg.svd(z)
            root = s.sqrt()
            attn.proj.weight.copy_(u * root)  # W_o
            w[2 * dim :] = root[:, None] * vt  # W_v
            if attn.qkv.bias is not None:
                attn.qkv.bias.zero_()
            attn.proj.bias.zero_()


def locality_init(
    model: VisionTransformer, layers: int = 2, heads: int = 1, bands: int | None = None, gain: float = 8.0
) -> None:
    """Start head 0..heads-1 of blocks 0..layers-1 as local attention (ConViT's idea, d'Ascoli et al. 2021, in a
    plain ViT): their W_q, W_k read the `bands` highest-frequency sin-cos pairs of each axis, so at the start
    q_i . k_j ~ gain * sum_k cos(w_k dy) + cos(w_k dx), peaked at the query's own patch. Needs the sin-cos
    position embedding (``sincos_pos_init``) and a head dim of 4 * bands (default: head dim / 4); training may move
    them anywhere.
    """
    dim = model.embed_dim
    bands = model.blocks[0].attn.head_dim // 4 if bands is None else bands
    quarter = dim // 4  # timm's sin-cos layout: [sin h, sin w, cos h, cos w] x frequency, highest first
    picks = [part * quarter + k for part in range(4) for k in range(bands)]
    with torch.no_grad():
        for block in model.blocks[:layers]:
            attn = block.attn
            hd = attn.head_dim
            if hd != len(picks):
                raise ValueError(f"locality_init needs head_dim {len(picks)}, the model has {hd}; use bands = head_dim / 4.")
            select = torch.zeros(hd, dim)
            select[torch.arange(hd), torch.tensor(picks)] = 1.0
            w = attn.qkv.weight  # [3*dim, dim]: rows q, k, v
            for h in range(heads):
                w[h * hd : (h + 1) * hd] = gain * select
                w[dim + h * hd : dim + (h + 1) * hd] = select


def features(
    model: VisionTransformer, x: torch.Tensor, offset: tuple[int, int] = (0, 0), keep: int | None = None
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """timm's ``forward_features`` for an input that is a window of the model's grid starting at patch `offset`.

    For a full-size input and offset (0, 0) this is exactly ``model.forward_features(x)``.
    Returns the normalised tokens [batch, prefix + patches, dim]; with ``keep=L`` also the (unnormalised)
    tokens after block L, ``(tokens, hidden)``.
    """
    tokens = model.patch_embed.norm(model.patch_embed.proj(x).flatten(2).transpose(1, 2))  # [batch, patches, dim]
    gh, gw = x.shape[-2] // PATCH, x.shape[-1] // PATCH
    big_h, big_w = model.patch_embed.grid_size
    p = model.num_prefix_tokens
    r0, c0 = offset
    pos = model.pos_embed[:, p:].reshape(1, big_h, big_w, -1)[:, r0 : r0 + gh, c0 : c0 + gw].reshape(1, gh * gw, -1)
    prefix = (model.cls_token + model.pos_embed[:, :p]).expand(x.shape[0], -1, -1)
    out = torch.cat([prefix, tokens + pos], dim=1)
    out = model.norm_pre(model.patch_drop(model.pos_drop(out)))
    if keep is None:
        return model.norm(model.blocks(out))
    hidden = out
    for i, block in enumerate(model.blocks):
        out = block(out)
        if i == keep:
            hidden = out
    return model.norm(out), hidden


def neighbour_targets(tokens: torch.Tensor) -> torch.Tensor:
    """Whether an object covers the patch above, below, left of and right of each patch: [n, gh, gw] -> [n, gh, gw, 4].

    The local auxiliary task: a patch's own pixels do not say it, its neighbours' do, so the early layer it is
    read from must gather evidence from about one patch (16 px) away. Patches beyond the canvas count as empty.
    """
    occ = F.pad((tokens != BACKGROUND).float(), (1, 1, 1, 1))  # [n, gh + 2, gw + 2]
    return torch.stack([occ[:, :-2, 1:-1], occ[:, 2:, 1:-1], occ[:, 1:-1, :-2], occ[:, 1:-1, 2:]], dim=-1)


def centre_position_embeddings(model: VisionTransformer) -> torch.Tensor:
    """Move the patch position embeddings' mean into the patch-embedding bias; returns that mean [dim].

    Every patch token is ``proj(x) + b + e_i``, so ``(b + m) + (e_i - m)`` is the same network, output for
    output. What changes is the table Figure 7 (centre) shows: without the shared component m its cosines use
    the -1..1 scale the paper's figure does (2-D sin-cos values alone have a median cosine of 0.79).
    """
    p = model.num_prefix_tokens
    with torch.no_grad():
        mean = model.pos_embed[0, p:].mean(0)
        model.pos_embed[0, p:] -= mean
        model.patch_embed.proj.bias += mean
    return mean


class AuxHeads(nn.Module):
    """The training-only heads, dropped after training: token labels (final tokens) and the local task (early tokens)."""

    def __init__(self, dim: int):
        super().__init__()
        self.tokens = nn.Linear(dim, BACKGROUND + 1)  # background or the class covering the patch
        self.local = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4))  # object above / below / left / right


def _targets(batch: SceneBatch, cover: float = 0.3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images uint8 [n,h,w,3], labels [n], patch labels [n,gh,gw]) with BACKGROUND where no object covers `cover`."""
    frac = patch_fractions(batch.masks[:, 0], PATCH)
    tokens = np.where(frac >= cover, batch.labels[:, :1, None], BACKGROUND)
    return (
        torch.from_numpy(batch.images),
        torch.from_numpy(batch.labels[:, 0].copy()),
        torch.from_numpy(tokens.astype(np.int64)),
    )


def _pair_targets(batch: SceneBatch, cover: float = 0.3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two-object scenes: (images, soft labels [n, classes] with 1/2 on each object's class, patch labels)."""
    frac = patch_fractions(batch.masks, PATCH)  # [n, 2, gh, gw]
    tokens = np.full(frac.shape[:1] + frac.shape[2:], BACKGROUND, np.int64)
    for k in range(batch.masks.shape[1]):
        tokens = np.where(frac[:, k] >= cover, batch.labels[:, k, None, None], tokens)
    soft = np.zeros((len(batch), len(CLASSES)), np.float32)
    np.put_along_axis(soft, batch.labels, 0.5, axis=1)
    return torch.from_numpy(batch.images), torch.from_numpy(soft), torch.from_numpy(tokens)


def _prepare(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = images.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0)  # mean 0.5, std 0.5 as in the registry's pretrained_cfg


def _dihedral(x: torch.Tensor, t: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the k-th of the 8 dihedral transforms to images [n,c,h,w] and patch labels [n,gh,gw]."""
    if k >= 4:
        x, t = x.flip(-1), t.flip(-1)
    return torch.rot90(x, k % 4, (-2, -1)), torch.rot90(t, k % 4, (-2, -1))


def invert_polarity(x: torch.Tensor, which: np.ndarray) -> torch.Tensor:
    """Photographic negatives of the images [n, c, h, w] (normalised to -1..1, so a negative is -x) where `which` [n].

    (Fourth version.) Light ink on a dark ground then occurs in training without the held-out style ever being
    drawn: the third version read the chalk scenes at 50%, their negatives at 90.5%.
    """
    if not which.any():
        return x
    sign = 1.0 - 2.0 * torch.from_numpy(which.astype(np.float32)).to(x.device)
    return x * sign[:, None, None, None]


@torch.no_grad()
def hardest_scenes(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor, torch.Tensor], n: int, device: torch.device, bf16: bool,
    bs: int = 256,
) -> torch.Tensor:
    """Indices of the `n` scenes of `data` (single-object) with the highest class-token cross-entropy, highest first.

    (Sixth version.) After the pair phase the model still gave the right class under one half on 2.2% of its own
    224 px training scenes, with 97% on validation: it underfits rather than overfits. The last phase shows it those
    scenes more often (hard-example mining, as in Shrivastava et al. 2016, here once per run).
    """
    model.eval()
    losses = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(data[0]), bs):
            logits = model(_prepare(data[0][i : i + bs], device)).float()
            losses.append(F.cross_entropy(logits, data[1][i : i + bs].to(device), reduction="none").cpu())
    return torch.argsort(torch.cat(losses), descending=True)[:n]


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device, bs: int = 256) -> float:
    """Top-1 accuracy of `model` on uint8 images [n,h,w,3]."""
    model.eval()
    correct = 0
    for i in range(0, len(images), bs):
        logits = model(_prepare(images[i : i + bs], device))
        correct += int((logits.argmax(-1).cpu() == labels[i : i + bs]).sum())
    model.train()
    return correct / len(images)


def class_loss(logits: torch.Tensor, y: torch.Tensor, kind: str = "softmax") -> torch.Tensor:
    """The class-token loss: ``softmax`` cross-entropy (y: class indices [batch], or soft targets [batch, classes]), or
    ``presence``: per class a sigmoid "is one of these here?" (y's present classes are 1), summed over classes.

    (Fifth version.) Softmax logits are free up to a shared shift, so a logit may rise with anything in the image
    (the other object too) at no cost; class-specific relevance follows the raw logit's gradient onto that object.
    A presence logit must stay low when its class is absent, so it answers from its own object's evidence.
    """
    if kind == "softmax":
        return F.cross_entropy(logits, y)
    present = F.one_hot(y, logits.shape[-1]).float() if y.ndim == 1 else (y > 0).float()
    return F.binary_cross_entropy_with_logits(logits, present, reduction="none").sum(-1).mean()


def _schedule(step: int, total: int, warmup: int, peak: float, floor: float = 0.02) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def _run_phase(
    name: str,
    model: VisionTransformer,
    aux: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    batch: int,
    steps: int,
    args: argparse.Namespace,
    device: torch.device,
    rng: np.random.Generator,
    log,
    lr: float,
    warmup: int,
    mix: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], int, int] | None = None,
    loss_kind: str = "softmax",
) -> dict:
    """Train `steps` steps on `data` (plus, with ``mix=(data2, batch2, every)``, every `every`-th step on data2),
    the class token under `loss_kind` (``class_loss``)."""
    params = list(model.parameters()) + list(aux.parameters())  # aux: the token-label and the local head
    decay = [p for p in params if p.ndim >= 2 and p is not model.pos_embed]
    no_decay = [p for p in params if not (p.ndim >= 2 and p is not model.pos_embed)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(device, args.precision))
    sources = [(data, batch)] + ([(mix[0], mix[1])] if mix else [])
    orders = [rng.permutation(len(d[0])) for d, _ in sources]
    cursors = [0] * len(sources)
    t0 = time.time()
    seen = 0
    run_loss, run_acc = 0.0, 0.0
    history = []
    model.train()
    for step in range(steps):
        src = 1 if mix and step % mix[2] == mix[2] - 1 else 0
        (images, labels, tokens), bsz = sources[src]
        if cursors[src] + bsz > len(images):
            orders[src], cursors[src] = rng.permutation(len(images)), 0
        idx = torch.from_numpy(orders[src][cursors[src] : cursors[src] + bsz])
        cursors[src] += bsz
        x = _prepare(images[idx], device)
        y = labels[idx].to(device)
        t = tokens[idx].to(device)
        x, t = _dihedral(x, t, int(rng.integers(8)))
        x = invert_polarity(x, rng.random(len(x)) < args.invert)
        for group in opt.param_groups:
            group["lr"] = _schedule(step, steps, warmup, lr)
        with autocast:
            big_h, big_w = model.patch_embed.grid_size
            gh, gw = x.shape[-2] // PATCH, x.shape[-1] // PATCH
            offset = (int(rng.integers(big_h - gh + 1)), int(rng.integers(big_w - gw + 1)))
            p = model.num_prefix_tokens
            feats, hidden = features(model, x, offset, keep=args.local_layer)  # [batch, 1 + tokens, dim] each
            logits = model.forward_head(feats)
            patch_logits = aux.tokens(feats[:, p:])  # [batch, tokens, 7]
            loss_cls = class_loss(logits.float(), y, loss_kind)  # y: class indices, or soft targets for two-object scenes
            loss_tok = F.cross_entropy(patch_logits.float().reshape(-1, BACKGROUND + 1), t.reshape(-1))
            local_logits = aux.local(hidden[:, p:])  # [batch, tokens, 4]
            loss_local = F.binary_cross_entropy_with_logits(local_logits.float(), neighbour_targets(t).reshape(len(t), -1, 4))
            loss = loss_cls + args.token_weight * loss_tok + args.local_weight * loss_local
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        seen += len(idx)
        pred = logits.argmax(-1)
        acc = float((pred == y).float().mean() if y.ndim == 1 else (y.gather(1, pred[:, None]) > 0).float().mean())
        run_loss = loss_cls.item() if step == 0 else 0.95 * run_loss + 0.05 * loss_cls.item()
        run_acc = acc if step == 0 else 0.95 * run_acc + 0.05 * acc
        last = step == steps - 1
        if (step + 1) % args.log_every == 0 or last:
            el = time.time() - t0
            rate = seen / el
            left = (steps - step - 1) * el / (step + 1)
            line = (
                f"[{name}] step {step + 1}/{steps} loss {run_loss:.3f} tok {loss_tok.item():.3f} "
                f"local {loss_local.item():.3f} acc {run_acc:.3f} "
                f"lr {opt.param_groups[0]['lr']:.2e} {rate:.0f} img/s elapsed {el / 60:.1f} min phase left {left / 60:.1f} min"
            )
            if (step + 1) % args.eval_every == 0 or last:
                va = accuracy(model, *val, device)
                line += f" val_acc {va:.4f}"
                history.append({"phase": name, "step": step + 1, "images": seen, "val_acc": va, "minutes": el / 60})
                torch.save(
                    {"model": model.state_dict(), "aux": aux.state_dict(), "step": step + 1, "history": history, "minutes": el / 60},
                    args.work_dir / f"{name}.pt",
                )
            log(line)
    return {"steps": steps, "images": seen, "minutes": (time.time() - t0) / 60, "history": history}


def train(args: argparse.Namespace) -> dict:
    """Run the whole recipe and write ``<out>/<NAME>.safetensors`` plus a training record; returns the record."""
    if args.style == HELD_OUT_STYLE:
        raise SystemExit(f"--style {HELD_OUT_STYLE} is the held-out style, kept out of training; train on mixed.")
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.work_dir / "train.log", "a")

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_file.write(msg + "\n")
        log_file.flush()

    t_start = time.time()
    log(f"device {device}, threads {torch.get_num_threads()}, seed {args.seed}, bf16 autocast {use_bf16(device, args.precision)}")
    t = time.time()
    small = (
        _targets(generate_parallel(
            args.scenes_small, seed=args.seed * 10 + 1, size=112, scale=1.0, workers=args.workers, style=args.style
        ))
        if args.init is None or (args.steps_small2 and args.init_after == "112px")
        else None
    )
    full = _targets(generate_parallel(args.scenes_full, seed=args.seed * 10 + 2, size=224, workers=args.workers, style=args.style))
    val = _targets(generate_parallel(args.val_scenes, seed=args.seed * 10 + 3, size=224, workers=args.workers, style=args.style))[:2]
    gen_minutes = (time.time() - t) / 60
    log(f"generated {0 if small is None else args.scenes_small} scenes at 112 px and {args.scenes_full} at 224 px in {gen_minutes:.1f} min")

    gen = torch.Generator().manual_seed(args.seed)
    big = build(224, args.embed_dim, args.heads)
    sincos_pos_init(big)
    if args.mimetic:
        mimetic_init(big, gen)
    if args.local_init_heads:
        locality_init(big, heads=args.local_init_heads)
    big.to(device)
    aux = AuxHeads(big.embed_dim).to(device)
    if args.init is not None:  # resume after the 112 px phase from its checkpoint
        state = torch.load(args.init, map_location=device)
        big.load_state_dict(state["model"])
        aux.load_state_dict(state["aux"])
        p1 = {"resumed_from": str(args.init), "steps": state["step"], **{k: state[k] for k in ("history", "minutes") if k in state}}
        log(f"resumed from {args.init} (step {state['step']} of phase {args.init_after})")
    else:
        p1 = _run_phase(
            "112px", big, aux, small, val, args.batch, args.steps_small, args, device, rng, log, args.lr, args.warmup,
            mix=(full, args.batch_full, args.mix_every) if args.mix_every else None,
        )
    p1b = None
    if args.steps_small2 and (args.init is None or args.init_after == "112px"):  # a second cosine cycle at 112 px (warm restart, Loshchilov & Hutter 2017)
        rng_b = np.random.default_rng([args.seed, 1, 2])
        p1b = _run_phase(
            "112px-b", big, aux, small, val, args.batch, args.steps_small2, args, device, rng_b, log, args.lr2, args.warmup2
        )
    after = {"112px": 1, "112px-b": 2, "224px": 3, "224px-pairs": 4}[args.init_after] if args.init is not None else 0
    if after < 3:
        rng_full = np.random.default_rng([args.seed, 2])  # independent of earlier phases, so a resumed run matches a full one
        p2 = _run_phase(
            "224px", big, aux, full, val, args.batch_full, args.steps_full, args, device, rng_full, log, args.lr_full,
            args.warmup_full,
        )
    else:
        p2 = p1
    p3 = None
    pair_phase = args.steps_pairs and after < 4
    pairs = _pair_targets(generate_parallel(  # two-object scenes with a soft 1/2 + 1/2 target, for the last two phases
        args.scenes_pairs, seed=args.seed * 10 + 5, objects=2, workers=args.workers, style=args.style
    )) if pair_phase or args.steps_hard else None
    if pair_phase:  # mixed with single-object ones
        rng_pairs = np.random.default_rng([args.seed, 3])
        p3 = _run_phase(
            "224px-pairs", big, aux, full, val, args.batch_full, args.steps_pairs, args, device, rng_pairs, log,
            args.lr_pairs, args.warmup_full, mix=(pairs, args.batch_full, args.pairs_every), loss_kind=args.pair_loss,
        )

    p4 = None
    if args.steps_hard:  # the 224 px scenes it still gets wrong, repeated, with two-object batches mixed in
        hardest = hardest_scenes(big, full, args.hard_scenes, device, use_bf16(device, args.precision))
        order = torch.cat([torch.arange(len(full[0]))] + [hardest] * args.hard_repeats)
        log(f"hard scenes: the {args.hard_scenes} of highest loss, repeated {args.hard_repeats} more times")
        p4 = _run_phase(
            "224px-hard", big, aux, tuple(d[order] for d in full), val, args.batch_full, args.steps_hard, args, device,
            np.random.default_rng([args.seed, 4]), log, args.lr_hard, args.warmup_full,
            mix=(pairs, args.batch_full, args.hard_pairs_every), loss_kind=args.pair_loss,
        )

    big.eval()
    if args.centre_pos_embed:
        centre_position_embeddings(big)  # the same network; see the function
    weights = args.out / f"{NAME}.safetensors"
    trained_pairs = args.steps_pairs or args.steps_hard or args.init_after == "224px-pairs"
    output = "sigmoid" if trained_pairs and args.pair_loss == "presence" else "softmax"  # the last phase's loss
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in big.state_dict().items()}, str(weights),
        metadata=architecture_metadata(big, output),
    )
    minutes = (time.time() - t_start) / 60
    record = {
        "command": f"python -m vit_core.demo.train --seed {args.seed} --out {args.out}",
        "seed": args.seed,
        "device": str(device) + ("" if device.type == "cuda" else f" ({torch.get_num_threads()} threads)"),
        "bf16_autocast": use_bf16(device, args.precision),
        "minutes": round(minutes, 1),
        "generation_minutes": round(gen_minutes, 1),
        "scenes": {"112px": args.scenes_small, "224px": args.scenes_full, "224px-pairs": args.scenes_pairs},
        "phases": {"112px": p1, "112px-b": p1b, "224px": p2, "224px-pairs": p3, "224px-hard": p4},
        "hyperparameters": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("out", "work_dir", "device", "threads", "workers")
        },
        "final_val_acc": (p4 or p3 or p2)["history"][-1]["val_acc"] if (p4 or p3 or p2).get("history") else None,
    }
    write_card(args.out, record, big, centred=bool(args.centre_pos_embed), class_output=output)
    log(f"done in {minutes:.1f} min; weights {weights} ({weights.stat().st_size / 1e6:.1f} MB)")
    log_file.close()
    return record


def architecture_metadata(model: VisionTransformer, class_output: str = "softmax") -> dict[str, str]:
    """What the registry reads back from a weights file's safetensors metadata: the sizes (``registry.architecture``)
    and how the class logits read (``registry.class_output``)."""
    return {**{k: str(v) for k, v in sizes_of(model).items()}, CLASS_OUTPUT_KEY: class_output}


def write_card(
    out: Path, record: dict, model: VisionTransformer, centred: bool = True, class_output: str = "softmax"
) -> Path:
    """Write ``<out>/model_card.json`` (name, classes, architecture, preprocessing, training record).

    A fresh training invalidates old figures, so any "evaluation" is dropped: run
    ``python -m vit_core.demo.evaluate`` to measure and record them.
    """
    card = {
        "name": NAME,
        "classes": list(CLASSES),
        "weights": f"{NAME}.safetensors",
        "architecture": {
            "family": "timm VisionTransformer",
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in ARCH.items()},
            **sizes_of(model),
            "pos_embed": "learned (initialised from 2-D sin-cos"
            + ("; at export its mean over patches moved into the patch-embedding bias, the same network)" if centred else ")"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "class_output": class_output,
        },
        "preprocessing": {"input_size": [3, 224, 224], "mean": [0.5] * 3, "std": [0.5] * 3, "resize": "none (scenes are 224 px)"},
        "training": record,
    }
    path = out / "model_card.json"
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vit_core.demo.train", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("assets/demo_model"))
    p.add_argument("--work-dir", type=Path, default=Path("build/demo_train"), help="logs and checkpoints (not committed)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--threads", type=int, default=2,
        help="CPU threads: 2 on a quiet 2-core machine (224 px: 99 img/s, against 45 on 1 thread beside other work); "
        "1 when other work shares the cores (2 threads then ran 5x slower)",
    )
    p.add_argument("--workers", type=int, default=2, help="processes generating scenes")
    p.add_argument("--scenes-small", type=int, default=30000)
    p.add_argument("--scenes-full", type=int, default=24000)
    p.add_argument("--steps-small", type=int, default=5000)
    p.add_argument("--steps-full", type=int, default=6000)
    p.add_argument("--steps-small2", type=int, default=4000, help="steps of the second 112 px cosine cycle (0: none)")
    p.add_argument("--lr2", type=float, default=5e-4)
    p.add_argument("--warmup2", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batch-full", type=int, default=32)
    p.add_argument("--mix-every", type=int, default=0, help="in the 112 px phase, every n-th step is a 224 px batch (0: never)")
    p.add_argument("--val-scenes", type=int, default=256, help="224 px scenes for the progress accuracy")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-full", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--warmup-full", type=int, default=20)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--invert", type=float, default=0.3, help="probability that a training image is its negative (0: never)")
    p.add_argument("--token-weight", type=float, default=1.0, help="weight of the token-labelling loss (0: off)")
    p.add_argument("--embed-dim", type=int, default=RECIPE_WIDTH, help="width (the bundled version's: 128)")
    p.add_argument("--heads", type=int, default=None, help="attention heads per block (default: the registry's, 4)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto", help="auto: bf16 autocast where native")
    p.add_argument("--style", default="mixed", choices=STYLES, help="scene style of all training data (see scenes.py)")
    p.add_argument("--local-layer", type=int, default=1, help="block whose tokens the local task reads (0-based)")
    p.add_argument("--local-weight", type=float, default=1.0, help="weight of the local neighbour task (0: off)")
    p.add_argument("--local-init-heads", type=int, default=1, help="heads of blocks 0-1 started as local attention (0: none)")
    p.add_argument(
        "--centre-pos-embed", type=int, default=1, help="1: move the position embeddings' mean into the patch bias at export"
    )
    p.add_argument("--mimetic", type=int, default=1, help="1: mimetic attention init, 0: timm's default")
    p.add_argument(
        "--init", type=Path, default=None, help="checkpoint of a finished phase (<work-dir>/<phase>.pt, the phase named by --init-after): resume after it"
    )
    p.add_argument("--init-after", choices=["112px", "112px-b", "224px", "224px-pairs"], default="112px", help="the phase --init ends")
    p.add_argument("--steps-pairs", type=int, default=5000, help="224 px steps with two-object scenes mixed in (0: none)")
    p.add_argument("--scenes-pairs", type=int, default=5000)
    p.add_argument("--pairs-every", type=int, default=2, help="every n-th step of that phase is a two-object batch")
    p.add_argument("--lr-pairs", type=float, default=2e-4)
    p.add_argument(
        "--pair-loss", choices=["softmax", "presence"], default="presence",
        help="class-token loss of the two-object phase: softmax cross-entropy, or per-class presence (sigmoid)",
    )
    p.add_argument("--steps-hard", type=int, default=2000, help="224 px steps that repeat the hardest scenes (0: none)")
    p.add_argument("--hard-scenes", type=int, default=6000, help="how many of the 224 px scenes count as hard")
    p.add_argument("--hard-repeats", type=int, default=4, help="extra copies of each hard scene in that phase's data")
    p.add_argument("--hard-pairs-every", type=int, default=8, help="every n-th step of that phase is a two-object batch")
    p.add_argument("--lr-hard", type=float, default=2e-4)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=400)
    return p


def main(argv: list[str] | None = None) -> None:
    train(parser().parse_args(argv))


if __name__ == "__main__":
    main()
