# Two entry points that set everything up themselves: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

.PHONY: demo test test-slow test-all lint bench tools torch clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[demos,dev]'
	touch $(STAMP)

# Graphviz's dot (pictures), Chromium and its driver (browser tests of the HTML page), valgrind (instruction
# counts): installed with apt-get when missing and we are root; otherwise the tests that need them skip, saying so.
tools:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v valgrind >/dev/null 2>&1 || missing="$$missing valgrind"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing with apt-get"; \
		apt-get update -qq && $(APT) $$missing >/dev/null; \
	else \
		echo "missing:$$missing (install them, e.g. 'sudo apt-get install$$missing'); tests that need them skip"; \
	fi

# PyTorch (not a dependency): the tests that compare against live torch run when it is installed, and skip
# otherwise (the committed fixtures still check the same numbers). CI installs it.
torch: $(STAMP)
	$(BIN)/pip install --quiet torch==2.13.0

demo: $(STAMP) tools
	$(BIN)/python demos/main.py

# The fast suite in two worker processes (pytest-xdist), one per core of the 2-core machines it is sized for.
test: $(STAMP) tools
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

test-slow: $(STAMP) tools
	$(BIN)/python -m pytest -q -m slow

test-all: $(STAMP) tools
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/op_overhead.py
	$(BIN)/python benchmarks/rnn_step.py

clean:
	rm -rf $(VENV) out .pytest_cache
