# make quickstart: run the quickstart notebook offline (build/quickstart.ipynb and .html); installs only
#                  the package and a kernel runner (the `notebook` extra)
# make test:       install the `test` extra, then lint (ruff), type-check the package (mypy) and run the
#                  whole test suite (unit, real server, real IPython, notebooks, browser)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KERNEL := imagemagic-dev

.PHONY: quickstart test

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

quickstart: $(BIN)/.notebook
	mkdir -p build
	$(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=$(KERNEL) \
		--output-dir build notebooks/quickstart.ipynb
	$(BIN)/jupyter nbconvert --to html build/quickstart.ipynb
	@echo "quickstart ran offline: build/quickstart.ipynb, build/quickstart.html"

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy imagemagic
	$(BIN)/python -m pytest
