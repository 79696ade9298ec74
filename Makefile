# Thin shortcuts for the commands the README documents; each target runs exactly those commands.
# PYTHON and PIP pick the interpreter (e.g. make test PYTHON=.venv/bin/python PIP=.venv/bin/pip).
PYTHON ?= python
PIP ?= pip
DURATION ?= 10h
IMAGE ?= tradewarden

.PHONY: help install test lint run-paper docker-build clean

help:
	@echo "make install       pip install ."
	@echo "make test          pip install \".[test]\" && python -m pytest"
	@echo "make lint          ruff check src tests benchmarks && mypy"
	@echo "make run-paper     tradewarden run --mode paper --duration $(DURATION)"
	@echo "make docker-build  docker build -f deploy/Dockerfile -t $(IMAGE) ."
	@echo "make clean         remove build artefacts and caches (never runs/ or your data directory)"

install:
	$(PIP) install .

test:
	$(PIP) install ".[test]" && $(PYTHON) -m pytest

lint:
	ruff check src tests benchmarks && mypy

run-paper:
	tradewarden run --mode paper --duration $(DURATION)

docker-build:
	docker build -f deploy/Dockerfile -t $(IMAGE) .

# Build output and tool caches only: run directories (runs/) and the data directory hold results and state.
clean:
	rm -rf build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
