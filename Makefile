# Two entry points for a fresh machine with Python 3.11 (see README):
#   make demo   - create .venv, install the app, open it on the demo study
#   make test   - create .venv, install app + test extras, run the whole suite with Qt offscreen
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

test: venv
	QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo 'no tests collected'; exit 0; fi; exit $$rc

bundle: venv
	$(PY) -m pip install --quiet -e ".[packaging]"
	$(PY) packaging/build.py

# build, then run the bundle's --self-test with an emptied environment and no network
bundle-check: bundle
	bash packaging/check_bundle.sh

clean:
	rm -rf build dist $(VENV)
