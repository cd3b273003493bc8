#!/usr/bin/env bash
# The two set-up commands of the README, on a machine with only Python 3.11:
#   ./run.sh demo   create .venv, install the pinned project, build the demo warehouse
#   ./run.sh test   create .venv, install the pinned project, run the whole test suite
# Anything after the command is passed on (e.g. ./run.sh test -k ingest).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev]"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi

command=${1:-}
shift || true
case "$command" in
  demo) exec "$VENV/bin/margin-wh" demo "$@" ;;
  test) exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: ./run.sh demo | test [pytest args]" >&2; exit 2 ;;
esac
