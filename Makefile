# `make app` sets up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned, so pip takes the CPU build and never the CUDA one
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

app: setup
	SDL_VIDEODRIVER=dummy $(VENV)/bin/streamlit run app.py $(ARGS)

# while editing the code: rerun the app on every save (a poller: see .streamlit/config.toml)
dev: setup
	SDL_VIDEODRIVER=dummy $(VENV)/bin/streamlit run app.py --server.fileWatcherType poll --server.runOnSave true

# a class: PROCESSES app processes behind Debian's nginx (sticky sessions), on PORT
PROCESSES ?= 2
PORT ?= 8080
class: setup
	SDL_VIDEODRIVER=dummy $(PY) deploy/serve.py --processes $(PROCESSES) --port $(PORT)

# the web app's local Ray instance (and its jobs) outlives the app: see it, or stop it
engine-status: setup
	$(PY) -m rl_core engine status

stop-engine: setup
	$(PY) -m rl_core engine stop

test: setup
	SDL_VIDEODRIVER=dummy $(PY) -m pytest -q

.PHONY: setup app dev test class engine-status stop-engine
