"""Does a batch run's memory grow with the images done? RSS every 5 shards, and tracemalloc's growth between the
3rd shard and the end, in one process (``run_batch`` on the first N images of bench/batch_scale.py's folder).

    python bench/batch_scale.py 10000 --no-relevance --keep /tmp/bs14   # renders the images once
    python bench/batch_memory_trace.py 1600 [--images /tmp/bs14/n10000/images]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vit_core.models.loading import load_model  # noqa: E402
from vit_core.results import files as result_files  # noqa: E402
from vit_core.runs.batch import BatchOptions, find_images, run_batch  # noqa: E402


def rss_mib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--images", default="/tmp/bs14/n10000/images")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    paths = find_images(args.images)[: args.count]
    loaded = load_model(device="cpu")
    shards, start = [0], {}
    write_shard = result_files.write_shard

    def traced(*positional, **keywords):  # wraps the store's writer: one call per finished batch
        write_shard(*positional, **keywords)
        shards[0] += 1
        if shards[0] == 3:
            tracemalloc.start()
            start["snapshot"] = tracemalloc.take_snapshot()
        if shards[0] % 5 == 0:
            traced_mib = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else 0.0
            print(f"{shards[0] * args.batch_size:6d} images: RSS {rss_mib()} MiB, Python allocations since shard 3 "
                  f"{traced_mib:.2f} MiB", flush=True)

    result_files.write_shard = traced
    with tempfile.TemporaryDirectory() as out:
        options = BatchOptions(relevance=False, batch_size=args.batch_size, overwrite=True)
        run_batch(loaded, paths, Path(out) / "trace", options, progress=False)
    for stat in tracemalloc.take_snapshot().compare_to(start["snapshot"], "lineno")[:5]:
        print(stat)


if __name__ == "__main__":
    main()
