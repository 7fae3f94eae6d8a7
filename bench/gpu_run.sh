#!/usr/bin/env bash
# One prepared device run (for a session that is lent a GPU machine): the test suite on CUDA, then the GPU rows
# of the benchmark. Writes logs and tables under ${OUT:-bench/out}. Budget: about 10 minutes on one H100/H200.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out}"
mkdir -p "$out"
python3 -m pip install -q -r requirements-dev.txt 2>&1 | tail -2
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
TORCH_DEVICE=cuda HF_HUB_OFFLINE=1 timeout 300 python3 -m pytest -q -x --ignore=tests/e2e \
  tests/test_capture.py tests/test_methods_rollout.py tests/test_methods_relevance.py tests/test_methods_analysis.py \
  2>&1 | tail -5 | tee "$out/tests-cuda.txt"
timeout 240 python3 bench/benchmark.py --device cuda --dtype bfloat16 --batch-sizes 64 --repeats 20 --skip-host \
  --out "$out/gpu-bf16-b64.md"
timeout 120 python3 bench/benchmark.py --device cuda --dtype float32 --batch-sizes 1 --repeats 50 \
  --out "$out/gpu-fp32-b1.md"
