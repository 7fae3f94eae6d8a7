#!/usr/bin/env bash
# Install everything into .venv (first run only) and start the app on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh requirements.txt
exec .venv/bin/streamlit run streamlit_app.py "$@"
