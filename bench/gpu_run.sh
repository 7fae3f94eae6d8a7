#!/usr/bin/env bash
# One prepared device run, for a session lent an H100/H200: the test suite on CUDA, the GPU rows of the
# benchmark (with and without the fused kernel), a kernel profile of (b), and the fused kernel's launch
# configurations timed (bench/kernel_configs.py). About 5 minutes on an H200 (plus the machine's start); the
# timeouts add up to the device tool's 600 s per command: run(command="bash bench/gpu_run.sh", carry=[".whl"], timeout_s=600).
#
# The device image has torch, numpy, pillow, safetensors, huggingface_hub, hypothesis and pytest but no network
# and maybe another timm: carry timm as a wheel. Here, once:
#   mkdir -p .whl && echo /.whl/ >> .git/info/exclude
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl timm==1.0.31
# then the device tool's run(command="bash bench/gpu_run.sh", carry=[".whl"]). Results land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
# the app's tests need streamlit and plotly, which the device image lacks; everything else runs on CUDA
TORCH_DEVICE=cuda HF_HUB_OFFLINE=1 timeout 180 python3 -m pytest -q -p no:cacheprovider --ignore=tests/e2e \
  --ignore=tests/test_app.py --ignore=tests/test_figures.py tests/ >"$out/tests-cuda.txt" 2>&1
echo "pytest rc $?" >>"$out/tests-cuda.txt"
tail -3 "$out/tests-cuda.txt"
timeout 120 python3 bench/benchmark.py --device cuda --dtype bfloat16 --batch-sizes 64 --repeats 20 --warmup 3 --skip-host \
  --out "$out/gpu-bf16-b64.md" 2>&1 | tail -9
timeout 90 python3 bench/benchmark.py --device cuda --dtype float32 --batch-sizes 1 --repeats 30 --warmup 3 \
  --out "$out/gpu-fp32-b1.md" 2>&1 | tail -10
timeout 150 python3 bench/kernel_configs.py >"$out/kernel-configs.txt" 2>&1
grep -A4 "^batch\|rebuild path" "$out/kernel-configs.txt" | head -20
timeout 60 python3 bench/gpu_profile.py >"$out/profile.txt" 2>&1
grep -v "^-" "$out/profile.txt" | cut -c1-150 | head -30
