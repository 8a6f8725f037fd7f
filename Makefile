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
	SDL_VIDEODRIVER=dummy $(VENV)/bin/streamlit run app.py

# while editing the code: rerun the app on every save (a poller: see .streamlit/config.toml)
dev: setup
	SDL_VIDEODRIVER=dummy $(VENV)/bin/streamlit run app.py --server.fileWatcherType poll --server.runOnSave true

test: setup
	SDL_VIDEODRIVER=dummy $(PY) -m pytest -q

.PHONY: setup app dev test
