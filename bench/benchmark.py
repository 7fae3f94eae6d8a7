"""Benchmark: attention analysis against a plain fused forward and against the peer-style capture.

Three ways to run the same random-weight timm ViT, side by side:
  (a) plain: the fused forward alone (what the model costs);
  (b) ours: ``vit_core.runs.analysis.analyze`` without the full attention array: every layer's attention rebuilt
      exactly beside the fused kernel and reduced on the device (rollout, class-token maps, mean attention
      distance, entropy), only reduced arrays copied to the host; on a GPU with Triton each layer is reduced
      by one fused kernel from q and k ((b-rebuild): the same analysis without it);
  (c) peer: the common way (vit-explain style): fused attention off on a copy, a hook on every ``attn_drop``,
      rollout one image at a time in Python; (c+host) the same with every N x N map copied to the host.
Plus (r): class-specific relevance, one forward and one backward.

Prints a table (images/s, latency, peak memory, ratios) and writes it as markdown to ``--out``.

    python bench/benchmark.py --device cpu --model vit_base_patch16_224 --batch-sizes 1 --out bench/out/cpu.md
    python bench/benchmark.py --device cuda --dtype bfloat16 --batch-sizes 1 64 --out bench/out/gpu.md
    python bench/benchmark.py --memory --model vit_large_patch16_384 --device cpu      # peak memory of (a) vs (b)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit_core.attention import fused_stats  # noqa: E402
from vit_core.attention.capture import capture  # noqa: E402
from vit_core.methods.relevance import class_relevance  # noqa: E402
from vit_core.models.loading import load_model  # noqa: E402
from vit_core.runs.analysis import AnalysisSink, RolloutSettings, analyze  # noqa: E402


# ---------------------------------------------------------------------------------------------- baseline (c)
class PeerStyleCapture:
    """The common way: a non-fused copy of the model with a forward hook on every ``attn_drop``."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = copy.deepcopy(model)
        self.maps: list[torch.Tensor] = []
        for block in self.model.blocks:
            block.attn.fused_attn = False
            block.attn.attn_drop.register_forward_hook(lambda m, i, o: self.maps.append(o))

    def __call__(self, x: torch.Tensor, to_host: bool) -> list[torch.Tensor]:
        self.maps.clear()
        with torch.no_grad():
            self.model(x)
            maps = [a.float().cpu() for a in self.maps] if to_host else self.maps
            rollouts = []
            for image in range(x.shape[0]):  # one image at a time, as vit-explain does
                result = torch.eye(maps[0].shape[-1], device=maps[0].device)
                for attention in maps:
                    fused = attention[image].float().mean(dim=0)
                    mixed = (fused + torch.eye(fused.shape[-1], device=fused.device)) / 2
                    mixed = mixed / mixed.sum(dim=-1, keepdim=True)
                    result = mixed @ result
                rollouts.append(result[0, 1:].cpu())
        return rollouts


class TimmAttentionExtract:
    """The tool a user would pick instead: timm's own ``AttentionExtract`` (fx) on a non-fused copy of the model,
    then vit-explain's rollout (head mean, ``(A + I) / 2``, rows renormalised, the product over layers)."""

    def __init__(self, model: torch.nn.Module) -> None:
        from timm.utils import AttentionExtract

        copied = copy.deepcopy(model)
        for block in copied.blocks:
            block.attn.fused_attn = False
        self.extract = AttentionExtract(copied, method="fx")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            maps = list(self.extract(x).values())  # per layer [batch, head, query, key]
            result = torch.eye(maps[0].shape[-1], device=x.device)
            for attention in maps:
                fused = attention.float().mean(dim=1)  # [batch, query, key]
                mixed = (fused + torch.eye(fused.shape[-1], device=fused.device)) / 2
                result = (mixed / mixed.sum(dim=-1, keepdim=True)) @ result
            return result[:, 0, 1:].cpu()


# ---------------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds for one call; CUDA events on a GPU, perf_counter on a CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    begun = time.perf_counter()
    fn()
    return time.perf_counter() - begun


def time_interleaved(fns: dict[str, Callable[[], object]], device: torch.device, warmup: int, repeats: int) -> dict:
    """Seconds per call of each function, timed round-robin (a, b, c, a, b, c, ...).

    Interleaving gives each method the same share of a shared machine's slow and fast moments, so the
    ratios hold even when the absolute times drift (this 2-core machine drifts by 20% within a minute).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(time_once(fn, device))
    return times


def peak_gpu_bytes(fn: Callable[[], object]) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def scenarios(loaded, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    model = loaded.model
    peer = PeerStyleCapture(model)
    timm_peer = TimmAttentionExtract(model)

    def plain():
        with torch.no_grad():
            return model(x).float().cpu()

    def ours():
        return analyze(model, x, relevance=False, attention="none", model_views=False, keep_pixels=False)

    def ours_rebuilt():
        return analyze(
            model, x, relevance=False, attention="none", model_views=False, keep_pixels=False, fused_kernel=False
        )

    def rebuild_only():
        return capture(model, x, sink=lambda layer, probs: None).logits.cpu()

    def relevance():
        return class_relevance(model, x).heatmap.cpu()

    kernel_rows = {"(b-rebuild) (b) without the fused kernel": ours_rebuilt} if fused_stats.available(x) else {}
    return {
        "(a) plain fused forward": plain,
        "(b) vit_core analysis": ours,
        **kernel_rows,
        "(b0) attention rebuilt, not reduced": rebuild_only,
        "(c) peer-style capture + per-image rollout": lambda: peer(x, to_host=False),
        "(c+host) peer-style, every map to the host": lambda: peer(x, to_host=True),
        "(t) timm AttentionExtract (fx, non-fused copy) + rollout": lambda: timm_peer(x),
        "(r) class-specific relevance (1 backward)": relevance,
    }


def run_speed(args) -> list[dict]:
    rows = []
    for model_name in args.model:
        loaded = load_model(model_name, pretrained=False, device=args.device, dtype=args.dtype)
        h, w = loaded.geometry.img_size
        for batch in args.batch_sizes:
            x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(0)).to(loaded.device, loaded.dtype)
            fns = {name: fn for name, fn in scenarios(loaded, x).items() if not (args.skip_host and "host" in name)}
            times = time_interleaved(fns, loaded.device, args.warmup, args.repeats)
            if fused_stats.available(x):
                sink = AnalysisSink(loaded.geometry, RolloutSettings(), keep_attention=False)
                capture(loaded.model, x, sink=sink)
                print(f"fused kernel used by (b): {sink.used_fused_kernel}", flush=True)
            plain = times["(a) plain fused forward"]
            for name, fn in fns.items():
                median = statistics.median(times[name])
                # per-round ratios: each pair of calls ran seconds apart, so a drifting machine cancels out
                ratio = statistics.median(t / p for t, p in zip(times[name], plain, strict=True))
                peak = peak_gpu_bytes(fn) if loaded.device.type == "cuda" else None
                rows.append({
                    "model": model_name, "dtype": str(loaded.dtype).removeprefix("torch."), "batch": batch,
                    "method": name, "latency_ms": median * 1000, "images_per_s": batch / median,
                    "time_vs_plain": ratio, "peak_gpu_mib": None if peak is None else peak / 2**20,
                })
                print(f"{model_name} b{batch} {name:46s} {median * 1000:9.1f} ms  {batch / median:9.1f} img/s  "
                      f"{ratio:5.2f}x plain", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- memory
_MEMORY_CHILD = r"""
import sys, torch
sys.path.insert(0, {root!r})
from vit_core.runs.analysis import analyze
from vit_core.models.loading import load_model
def rss_peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
def rss_now_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
torch.set_grad_enabled(False)
loaded = load_model({model!r}, pretrained=False, device="cpu")
h, w = loaded.geometry.img_size
x = torch.randn(1, 3, h, w)
loaded.model(x)  # warm allocator and kernels
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS
before = rss_now_kib()
if {method!r} == "plain":
    loaded.model(x)
else:
    analyze(loaded.model, x, relevance=False, attention="none", model_views=False, keep_pixels=False)
print(before, rss_peak_kib())
"""


def run_memory(args) -> list[dict]:
    rows = []
    for model_name in args.model:
        for method in ("plain", "analysis"):
            code = _MEMORY_CHILD.format(root=str(ROOT), model=model_name, method=method)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            before, peak = (int(v) for v in out.split())
            rows.append({"model": model_name, "method": method, "rss_before_mib": before / 1024,
                         "peak_rss_mib": peak / 1024, "peak_above_loaded_mib": (peak - before) / 1024})
            print(f"{model_name} {method:9s} peak RSS {peak / 1024:8.0f} MiB, "
                  f"{(peak - before) / 1024:7.0f} MiB above the loaded model", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- report
def machine() -> dict:
    info = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "torch": torch.__version__, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
            "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def ratio_lines(rows: list[dict]) -> list[str]:
    """Per model and batch: (b)'s throughput as a fraction of (a)'s, (b)'s speed-up over (c), (r)'s time vs (a).

    Ratios to (a) are medians of per-round ratios (the table's "time vs (a)"); ratios to (c) use median latencies.
    """
    lines = []
    for key in dict.fromkeys((r["model"], r["dtype"], r["batch"]) for r in rows):
        mine = [r for r in rows if (r["model"], r["dtype"], r["batch"]) == key]
        ms = {r["method"][: r["method"].index(")") + 1]: r["latency_ms"] for r in mine}
        vs_plain = {r["method"][: r["method"].index(")") + 1]: r["time_vs_plain"] for r in mine}
        parts = [f"(b) throughput {1 / vs_plain['(b)']:.2f}x (a)"]
        if "(c)" in ms:
            parts.append(f"(b) {ms['(c)'] / ms['(b)']:.2f}x faster than (c)")
        if "(c+host)" in ms:
            parts.append(f"{ms['(c+host)'] / ms['(b)']:.2f}x faster than (c+host)")
        if "(r)" in ms:
            parts.append(f"(r) latency {vs_plain['(r)']:.2f}x (a)")
        lines.append(f"- {key[0]} {key[1]} batch {key[2]}: " + ", ".join(parts))
    return lines


def markdown(rows: list[dict], context: dict, command: str) -> str:
    lines = [f"Command: `{command}`", "", "Machine: " + json.dumps(context), ""]
    if rows and "latency_ms" in rows[0]:
        lines += ["| model | dtype | batch | method | latency ms | images/s | time vs (a), median of per-round ratios | peak GPU MiB |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            peak = "" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:.0f}"
            lines.append(f"| {r['model']} | {r['dtype']} | {r['batch']} | {r['method']} | {r['latency_ms']:.1f} | "
                         f"{r['images_per_s']:.1f} | {r['time_vs_plain']:.2f}x | {peak} |")
        lines += ["", *ratio_lines(rows)]
    elif rows:
        lines += ["| model | method | peak RSS MiB | peak above loaded model MiB |", "|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['model']} | {r['method']} | {r['peak_rss_mib']:.0f} | {r['peak_above_loaded_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["vit_base_patch16_224"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--skip-host", action="store_true", help="skip the slow every-map-to-host baseline")
    parser.add_argument("--memory", action="store_true", help="measure peak RSS of (a) and (b) on the CPU instead")
    parser.add_argument("--out", type=Path, help="write the table as markdown here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run_memory(args) if args.memory else run_speed(args)
    text = markdown(rows, machine(), "python " + " ".join(sys.argv))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
