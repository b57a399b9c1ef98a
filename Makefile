# Two front-door commands: `make demo` (set up + main job on easy-VQA) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BEIT3_SPM ?= $(abspath ../shared/beit3.spm)
export BEIT3_SPM

.PHONY: setup test test-slow lint demo clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps torchscale==0.3.0
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

lint: setup
	$(PY) -m ruff check .

# The main job on easy-VQA, checking its own targets; options: make demo DEMO_ARGS="--out DIR".
demo: setup
	$(PY) scripts/easy_vqa_demo.py $(DEMO_ARGS)

clean:
	rm -rf $(VENV)
