# make quickstart: run the quickstart notebook offline (build/quickstart.ipynb and .html)
# make test:       run the whole test suite (unit, real server, real IPython, notebooks, browser)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KERNEL := imagemagic-dev

.PHONY: quickstart test

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (imagemagic)" >/dev/null
	touch $@

quickstart: $(BIN)/.installed
	mkdir -p build
	$(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=$(KERNEL) \
		--output-dir build notebooks/quickstart.ipynb
	$(BIN)/jupyter nbconvert --to html build/quickstart.ipynb
	@echo "quickstart ran offline: build/quickstart.ipynb, build/quickstart.html"

test: $(BIN)/.installed
	$(BIN)/python -m pytest
