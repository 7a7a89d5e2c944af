# Two entry points for a fresh machine with Python 3.11 (see README):
#   make demo   - create .venv, install the app, open it on the demo study
#   make test   - create .venv, install app + test extras, check the layers, lint, run the whole suite (Qt offscreen)
# Packaging:  make bundle (dist/FastMixStudio/), make bundle-check (also runs its --self-test)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: demo test venv bundle bundle-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) main.py --demo

# the house plan first (layers and Qt only in gui: import-linter; a small ruff rule set), then the suite;
# "no tests collected" (pytest exit 5) is a failure like any other
test: venv
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check --no-cache .
	QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 $(PY) -m pytest $(PYTEST_ARGS)

bundle: venv
	$(PY) -m pip install --quiet -e ".[packaging]"
	$(PY) packaging/build.py

# build, then run the bundle's --self-test with an emptied environment and no network
bundle-check: bundle
	bash packaging/check_bundle.sh

clean:
	rm -rf build dist $(VENV)
