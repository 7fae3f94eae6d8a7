"""What machine a benchmark ran on, printed beside its figures (they move by up to 2x between machines)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown CPU" where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown CPU"
    for line in lines:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine_line() -> str:
    """'AMD EPYC, 2 cores, load 0.4 0.6 0.7': the CPU, its cores and the load averages when a figure was taken."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{cpu_model()}, {os.cpu_count()} cores, load {load}"
