# `make app` sets up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# the web process starts with its own malloc settings (rl_core/present/memory.py says why)
WEB := $(PY) -m rl_core.present.memory
# Where pip looks for torch. Empty: pip's own configuration, which on PyPI gives Linux the CUDA build
# (GBs of nvidia-* wheels). `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes PyTorch's
# CPU-only build instead. Read on the first setup only (delete .venv to choose again).
TORCH_INDEX ?=

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned, from TORCH_INDEX when given: the rest then finds it installed and keeps it
	$(PY) -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

app: setup
	SDL_VIDEODRIVER=dummy $(WEB) $(VENV)/bin/streamlit run app.py $(ARGS)

# while editing the code: rerun the app on every save (a poller: see .streamlit/config.toml)
dev: setup
	SDL_VIDEODRIVER=dummy $(WEB) $(VENV)/bin/streamlit run app.py --server.fileWatcherType poll --server.runOnSave true

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
	SDL_VIDEODRIVER=dummy $(PY) -m pytest -q --durations=25

.PHONY: setup app dev test class engine-status stop-engine
