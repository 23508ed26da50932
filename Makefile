# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
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

# System programs the tests and the demo use: command:package pairs. Only the missing ones are installed (apt-get,
# when run as root; otherwise it says what to do): a machine with NodeSource's nodejs has npm already, and Debian's
# npm package conflicts with it.
SYSTEM_COMMANDS := mosquitto:mosquitto mosquitto_passwd:mosquitto gpsd:gpsd gpspipe:gpsd-clients \
	mosquitto_pub:mosquitto-clients ffmpeg:ffmpeg chromium:chromium chromedriver:chromium-driver npm:npm \
	faketime:faketime openssl:openssl /usr/lib/postgresql/15/bin/initdb:postgresql-15 \
	/usr/share/postgresql/15/extension/postgis.control:postgresql-15-postgis-3
system-packages:
	@missing=""; for pair in $(SYSTEM_COMMANDS); do c=$${pair%%:*}; p=$${pair##*:}; \
		command -v $$c >/dev/null || [ -e $$c ] || case " $$missing " in *" $$p "*) ;; *) missing="$$missing $$p";; esac; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "missing:$$missing -- run: sudo apt-get install$$missing"; exit 1; \
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
