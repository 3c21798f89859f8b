# Two commands: `make demo` and `make test`. Each sets up .venv itself (idempotent, quick when done).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cfl-installed

.PHONY: demo test lint install clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test,bench,fid,onnx]" > $(VENV)/pip.log 2>&1 \
		|| { grep -v "is ignored" $(VENV)/pip.log; exit 1; }
	$(PY) -c "import cfl_lightning, torch, torchvision, pytorch_lightning"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m cfl_lightning.demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) demo lightning_logs .pytest_cache
