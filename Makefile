# Two commands: `make demo` and `make test`. Each sets up .venv itself (idempotent, quick when done).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cfl-installed

.PHONY: demo test lint install clean check-floors

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

# Not part of `make test`: the test suite in a second venv holding every dependency at the lower
# bound setup.cfg states (tools/floor_requirements.py), on the oldest Python it admits. Several GB
# to download (old torch wheels on PyPI are CUDA builds); see BENCHMARKS.md for the last result.
FLOOR_PYTHON ?= python3.10
FLOOR_VENV := .venv-floor

check-floors:
	test -x $(FLOOR_VENV)/bin/python || $(FLOOR_PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python tools/floor_requirements.py setup.cfg > $(FLOOR_VENV)/floors.txt
	$(FLOOR_VENV)/bin/python -m pip install -q -r $(FLOOR_VENV)/floors.txt \
		> $(FLOOR_VENV)/pip.log 2>&1 || { grep -v "is ignored" $(FLOOR_VENV)/pip.log | tail -40; exit 1; }
	$(FLOOR_VENV)/bin/python -m pip install -q --no-deps -e . \
		>> $(FLOOR_VENV)/pip.log 2>&1 || { grep -v "is ignored" $(FLOOR_VENV)/pip.log | tail -40; exit 1; }
	$(FLOOR_VENV)/bin/python -m pip freeze > $(FLOOR_VENV)/installed.txt
	$(FLOOR_VENV)/bin/python -c "import sys, torch, torchvision, pytorch_lightning, torchmetrics, jsonargparse; print(sys.version.split()[0], torch.__version__, torchvision.__version__, pytorch_lightning.__version__, torchmetrics.__version__, jsonargparse.__version__)"
	$(FLOOR_VENV)/bin/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) $(FLOOR_VENV) demo lightning_logs .pytest_cache
