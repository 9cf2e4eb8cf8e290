# Pregonero: two commands. `make run` sets up and starts the embedded mode; `make test` sets up and runs the suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PREGONERO := $(VENV)/bin/pregonero

.PHONY: run test setup setup-dev test-pg messages clean

$(PY):
	@python=$$(scripts/find-python) && echo "Usando $$python" && "$$python" -m venv $(VENV)

$(VENV)/.base-installed: $(PY) requirements/base.lock pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/base.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.dev-installed: $(PY) requirements/dev.lock pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@ $(VENV)/.base-installed

setup: $(VENV)/.base-installed

setup-dev: $(VENV)/.dev-installed

run: setup
	$(PREGONERO) migrate --noinput
	$(PREGONERO) demo_data
	$(PREGONERO) embedded

test: setup-dev
	$(PY) -m pytest

# The suite against PostgreSQL (DATABASE_URL defaults to the local server with trust auth).
test-pg: setup-dev
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/pregonero} $(PY) -m pytest

# English is translated by hand; es-MX is the source language, so each new entry gets its own text (msgen), which
# the office may reword in the .po (see its header).
messages: setup-dev
	cd src/pregonero && ../../$(PREGONERO) makemessages -l en -l es_MX --no-obsolete --no-location \
	  && msgen --force-po -o locale/es_MX/LC_MESSAGES/django.po locale/es_MX/LC_MESSAGES/django.po \
	  && ../../$(PREGONERO) compilemessages -l en -l es_MX

clean:
	rm -rf $(VENV) var
