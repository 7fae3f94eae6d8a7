"""Shared fixtures: the device comes from TORCH_DEVICE (default cpu), models are tiny and random."""

from __future__ import annotations

import os

import pytest
import torch

# Hub downloads are impossible in tests; fail fast instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def device() -> torch.device:
    return torch.device(os.environ.get("TORCH_DEVICE", "cpu"))
