# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := mosquitto mosquitto-clients gpsd gpsd-clients ffmpeg chromium chromium-driver npm faketime openssl postgresql-15 postgresql-15-postgis-3
TRAIN_VENV := .venv-train
DEMO_SECONDS ?= 0
SITL ?=
SCENARIO ?= $(if $(SITL),sim/scenarios/sitl-plav.toml,sim/scenarios/drone-border.toml)
LEAFLET := 1.9.4
LEAFLET_DIR := edge/console/static/vendor/leaflet

.PHONY: install system-packages demo test lint format bench model config-doc clean

install: $(STAMP) $(LEAFLET_DIR)/leaflet.js

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-packages
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# MAVProxy as a real ground station in the bridge tests. --no-deps: its GUI dependencies (wxPython, vtk,
	# opencv-python with libGL) are not needed headless and would fight opencv-python-headless.
	$(PY) -m pip install --quiet --no-deps 'MAVProxy==1.8.75'
	touch $(STAMP)

# System programs the tests and the demo use. Installed with apt-get when run as root; otherwise says what to do.
system-packages:
	@missing=""; for b in mosquitto mosquitto_passwd gpsd gpspipe ffmpeg chromium chromedriver npm faketime openssl; do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] && [ -f /usr/share/postgresql/15/extension/postgis.control ] || missing="$$missing postgresql-15+postgis"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	else \
		echo "missing:$$missing -- run: sudo apt-get install $(APT_PACKAGES)"; exit 1; \
	fi

demo: install
	DEMO_SECONDS=$(DEMO_SECONDS) SITL=$(SITL) $(PY) -m sim.demo --scenario $(SCENARIO)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install lint
	$(VENV)/bin/pytest

bench: install
	$(VENV)/bin/edge bench --json --out bench-out

# Trains the default model (models/edge-default.onnx) with PyTorch in its own venv; never a runtime dependency.
model: install
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install --quiet 'torch==2.13.0' onnx tqdm
	$(TRAIN_VENV)/bin/pip install --quiet -e .
	$(TRAIN_VENV)/bin/python models/train.py

# The console's map library, from the npm registry at install time and served by the daemon itself (no CDN: the
# vehicle is offline).
$(LEAFLET_DIR)/leaflet.js:
	@$(MAKE) --no-print-directory system-packages
	rm -rf $(LEAFLET_DIR) && mkdir -p $(LEAFLET_DIR)
	cd $(LEAFLET_DIR) && npm pack --silent leaflet@$(LEAFLET) >/dev/null && \
		tar -xzf leaflet-$(LEAFLET).tgz --strip-components=2 package/dist && rm leaflet-$(LEAFLET).tgz

config-doc: install
	$(PY) -m edge.ops.config_doc > systemd/edge.toml

clean:
	rm -rf $(VENV) $(TRAIN_VENV) bench-out out .mypy_cache .ruff_cache .pytest_cache
