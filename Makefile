# Development environment, tests and demo. `make test` and `make demo` set everything up on a
# fresh clone; every step is skipped when its inputs have not changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMPS := $(VENV)/.stamps

# DDS stays on this machine; each make run gets a domain of its own (tests pick their own).
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_LOCALHOST_ONLY := 1
export ROS_DOMAIN_ID ?= $(shell expr $$$$ % 90 + 5)
export RCUTILS_COLORIZED_OUTPUT := 0

.PHONY: all venv lts test demo bench lint clean

all: test

venv: $(STAMPS)/package

$(PY):
	$(PYTHON) -m venv $(VENV)
	mkdir -p $(STAMPS)

$(STAMPS)/requirements: dev/requirements.txt | $(PY)
	$(PIP) install -r dev/requirements.txt
	touch $@

# Interface packages with no wheel (vision_msgs, and hri_msgs and tf2_msgs for the REP 155
# topics): build each from dev/<name> unless the environment (a robot, a ROS install) already
# has it. A dev-build marker tells our own earlier build from the environment's package.
DEV_PACKAGES := vision_msgs hri_msgs tf2_msgs
.SECONDEXPANSION:
$(addprefix $(STAMPS)/,$(DEV_PACKAGES)): $(STAMPS)/%: $$(wildcard dev/$$*/msg/*.msg) \
		dev/$$*/CMakeLists.txt dev/$$*/package.xml dev/pypi_wheels.cmake | $(STAMPS)/requirements
	@if $(PY) -c 'import $*.msg' 2>/dev/null && [ ! -f $(VENV)/share/$*/dev-build ]; then \
		echo '$* found in the environment: not building it'; \
	else \
		echo 'building $* from dev/$*' && \
		rm -rf $(VENV)/build/$* && \
		cmake -S dev/$* -B $(VENV)/build/$* -DBUILD_TESTING=OFF \
			-DCMAKE_PREFIX_PATH=$(CURDIR)/$(VENV) -DCMAKE_INSTALL_PREFIX=$(CURDIR)/$(VENV) \
			-DPython3_EXECUTABLE=$(CURDIR)/$(PY) > $(VENV)/build-$*.log 2>&1 && \
		cmake --build $(VENV)/build/$* -j2 >> $(VENV)/build-$*.log 2>&1 && \
		cmake --install $(VENV)/build/$* >> $(VENV)/build-$*.log 2>&1 && \
		touch $(VENV)/share/$*/dev-build || \
		{ tail -30 $(VENV)/build-$*.log; exit 1; }; \
	fi
	touch $@

$(STAMPS)/package: $(addprefix $(STAMPS)/,$(DEV_PACKAGES)) setup.py setup.cfg package.xml
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

# Python 3.10 + OpenVINO 2022.3 + numpy 1.x, when a Python 3.10 is installed (pyenv's here).
LTS_PYTHON ?= $(firstword $(wildcard /usr/bin/python3.10 /usr/local/bin/python3.10 \
	$(HOME)/.pyenv/versions/3.10*/bin/python3.10))
LTS_VENV := .venv-lts
lts: $(if $(LTS_PYTHON),$(LTS_VENV)/.stamp)
$(LTS_VENV)/.stamp: dev/requirements-lts.txt
	$(LTS_PYTHON) -m venv $(LTS_VENV)
	$(LTS_VENV)/bin/python -m pip --disable-pip-version-check -q install -r dev/requirements-lts.txt
	touch $@

test: venv lts
	$(PY) -m pytest

demo: venv
	$(PY) -m face_detector_ros.demo --output out/demo

# Figures for docs/ and README.md; each script prints ratios against a baseline run beside it.
BENCHMARKS := bench_real_faces bench_detector bench_decoders bench_tracking bench_pipeline bench_export \
	bench_fleet
bench: venv
	mkdir -p out/bench
	for name in $(BENCHMARKS); do \
		echo "== $$name"; $(PY) benchmarks/$$name.py 2>&1 | grep -v '^\[WARN\]' | tee out/bench/$$name.txt; \
	done

lint: venv
	$(VENV)/bin/ament_flake8 face_detector_ros test benchmarks launch setup.py
	$(VENV)/bin/ament_pep257 face_detector_ros test benchmarks launch setup.py

clean:
	rm -rf $(VENV) $(LTS_VENV) build out *.egg-info
