# make quickstart: run the quickstart notebook offline (build/quickstart.ipynb and .html); installs only
#                  the package and a kernel runner (the `notebook` extra)
# make lab:        open the notebooks in JupyterLab (installs the `lab` extra: JupyterLab and pandas)
# make kernel:     register the "Python (imagemagic)" kernel for your user, so a Jupyter, VS Code or other
#                  front end outside this environment lists it
# make test:       install the `test` extra, then lint (ruff), type-check the package (mypy), run the whole
#                  test suite (unit, real server, real IPython, notebooks, browser), then `make test-oldest`
# make test-oldest: the magic, panel and display tests against the oldest versions we claim (.ci/oldest.txt)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KERNEL := imagemagic-dev
OLDEST := .venv-oldest
OLDEST_TESTS := tests/test_magic.py tests/test_panel.py tests/test_panel_catalog.py tests/test_panel_edits.py \
	tests/test_display.py tests/test_static.py

.PHONY: quickstart lab kernel test test-oldest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The notebook extra: the package, ipykernel and nbconvert, and the kernel the notebooks name.
$(BIN)/.notebook: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[notebook]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (imagemagic)" >/dev/null
	touch $@

# The test extra (it includes the notebook extra).
$(BIN)/.installed: pyproject.toml $(BIN)/.notebook
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The oldest supported set: pyproject's floors pinned exactly, in an environment of their own.
$(OLDEST)/.installed: pyproject.toml .ci/oldest.txt
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -q -c .ci/oldest.txt -e . ipykernel pytest pytest-timeout
	touch $@

quickstart: $(BIN)/.notebook
	mkdir -p build
	$(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=$(KERNEL) \
		--output-dir build notebooks/quickstart.ipynb
	$(BIN)/jupyter nbconvert --to html build/quickstart.ipynb
	@echo "quickstart ran offline: build/quickstart.ipynb, build/quickstart.html"

lab: $(BIN)/.notebook
	$(BIN)/python -m pip install -q -e '.[lab]'
	$(BIN)/jupyter lab notebooks/

kernel: $(BIN)/.notebook
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Python (imagemagic)"

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy imagemagic
	$(BIN)/python -m pytest
	$(MAKE) test-oldest

test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/python -m pytest -o addopts="-ra -p no:cacheprovider" $(OLDEST_TESTS)
