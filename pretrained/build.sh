#!/usr/bin/env bash
# Rebuilds every pretrained agent from scratch with the project's own CLI, writes each one's replay GIF
# (seed 0, real speed: the first GIF a visitor sees, with no rendering wait) and rewrites the cards.
#   bash pretrained/build.sh                  # all of them (a few minutes on 2 cores)
#   bash pretrained/build.sh cartpole-deep-q  # just one
#   bash pretrained/build.sh --replays-only   # only each agent's replay.gif, which Home shows at once
# The agents, their commands and seeds are listed in pretrained/build.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
SDL_VIDEODRIVER=dummy exec "$PY" pretrained/build.py "$@"
