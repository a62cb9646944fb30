# Aula: `make run` starts everything on this machine, `make test` checks it.
# Nothing needs activating: every tool runs from .venv/bin.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev
# `make test` runs the suite in this many pytest-xdist processes: most tests wait on real
# processes (workers, gunicorn, Redis, browsers), so 4 pay off even on 2 cores. 0 runs it serially.
# worksteal: an idle process takes queued tests from a busy one, so the minute-long crash and
# shutdown tests do not pile up at the end of one process (12:48 here, loadgroup 16:50).
PYTEST_WORKERS ?= 4

.DEFAULT_GOAL := help
.PHONY: help run test compose-test kube-play-test browser promtool deploytools migrate lint fmt clean distclean

help:
	@echo "make run        install into .venv, migrate, start web, worker, beat and flower"
	@echo "make test       lint, type-check and run the test suite (compose-test included)"
	@echo "make compose-test  docker-compose.yml for real, on local stand-in images (Docker)"
	@echo "make kube-play-test  deploy/k8s with podman kube play, on local stand-in images"
	@echo "make migrate    apply database migrations (DATABASE_URL)"
	@echo "make lint       ruff check, ruff format --check, mypy, lint-imports, bandit (core, api, tasks)"
	@echo "make fmt        format and auto-fix with ruff"
	@echo "make clean      remove caches and coverage files (keeps .venv and var/)"
	@echo "make distclean  clean, and remove .venv too (var/ is your data: remove it by hand)"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "make: no python3.11 or python3 on PATH" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "make: Aula needs Python 3.11 or newer ($(PYTHON) is older)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The stamps make a second `make run` quick; editing a requirements file reinstalls.
$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/run.py

test: $(DEV_STAMP) lint browser promtool deploytools
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=30 --ignore=tests/e2e/test_compose_run.py \
		--ignore=tests/deploy/test_kube_play.py
	@$(MAKE) --no-print-directory compose-test

# docker-compose.yml up for real (tests/e2e/test_compose_run.py). In CI (CI=true) it installs
# Debian's docker.io, docker-compose and debootstrap and starts dockerd; elsewhere it skips with
# one line when no Docker engine can be started. Images registries would give are built locally
# from Debian packages (deploy/standins/build.sh; only what is missing).
compose-test: $(DEV_STAMP)
	@deploy/standins/engine.sh; rc=$$?; \
	if [ $$rc -eq 3 ]; then exit 0; elif [ $$rc -ne 0 ]; then exit $$rc; fi; \
	deploy/standins/build.sh && \
	$(BIN)/pytest tests/e2e/test_compose_run.py --no-cov -p no:randomly

# deploy/k8s played by Debian's podman (tests/deploy/test_kube_play.py; README, Scaling out). Not
# part of `make test`: about a minute, and minutes more the first time (the images are built into
# podman from Debian packages: deploy/k8s/podman-play.sh build). Installs podman, runc and
# debootstrap when missing.
kube-play-test: $(DEV_STAMP) deploytools
	@{ command -v podman && command -v runc && command -v debootstrap; } >/dev/null 2>&1 || { \
		echo "make: installing Debian's podman, runc and debootstrap for the kube play test"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			podman runc debootstrap; }
	deploy/k8s/podman-play.sh build
	$(BIN)/pytest tests/deploy/test_kube_play.py --no-cov -p no:randomly

# The deploy tests check deploy/prometheus with promtool, from Debian's prometheus package (which
# also installs a prometheus service: `sudo systemctl disable --now prometheus` if unwanted).
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
		echo "make: installing Debian's prometheus (for promtool) for the deploy tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			--no-install-recommends prometheus; }

# tests/deploy/test_k8s.py renders deploy/k8s with Debian's kubectl (kubernetes-client);
# tests/e2e/test_media_links.py runs deploy/nginx/aula.conf on Debian's nginx (secure_link).
deploytools:
	@pkgs=; command -v kubectl >/dev/null 2>&1 || pkgs="kubernetes-client"; \
	{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || pkgs="$$pkgs nginx"; \
	[ -z "$$pkgs" ] || { \
		echo "make: installing Debian's $$pkgs for the deploy tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			--no-install-recommends $$pkgs; }

# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "make: installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

migrate: $(STAMP)
	$(BIN)/python -m core migrate

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/bandit -c pyproject.toml -q -r api core tasks

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache htmlcov test-artifacts coverage.xml
	rm -f .coverage .coverage.*
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
