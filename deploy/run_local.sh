#!/usr/bin/env bash
# nginx (Debian's /usr/sbin/nginx) in front of two app replicas on this machine: the class opens
# http://127.0.0.1:8500/lesson. Options: --replicas N --port P; PYTHON=... picks the interpreter (default .venv).
# Ctrl-C stops nginx and every replica.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" deploy/replicas.py "$@"
