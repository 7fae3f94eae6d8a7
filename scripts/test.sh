#!/usr/bin/env bash
# Install everything into .venv (first run only), then run every test: lint, unit, app and browser tests.
# The browser tests drive Debian's chromium; as root this installs it with apt-get when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: the browser tests will be skipped"
fi
.venv/bin/ruff check .
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
