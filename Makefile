# fastnn -- the two commands a new user needs: `make demo` and `make test`.
# Each sets up what it needs from a fresh clone: a virtualenv in .venv, the
# C extension (rebuilt when csrc/ or the Cython bridge changes) and the
# Fashion-MNIST files (Debian's package dataset-fashion-mnist).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
DATA   := /usr/share/datasets/fashion-mnist
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BUILD_INPUTS := $(wildcard csrc/*.c csrc/*.h fastnn/*.pyx) setup.py pyproject.toml
# NumPy is the yardstick in benchmarks: let OpenBLAS pick its own kernel there.
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

.PHONY: help build data test dist-check sanitize demo bench bench-cli bench-torch bench-zoo info clean

help:
	@echo "make demo    train a small CNN on Fashion-MNIST"
	@echo "make test    run the whole test suite"
	@echo "make dist-check  build the sdist and the wheel, install each into a fresh venv and try it"
	@echo "make sanitize  kernel and layer tests on a build with AddressSanitizer + UBSan"
	@echo "make bench   kernel benchmarks (pytest-benchmark), JSON in benchmarks/results.json"
	@echo "make bench-torch  fastnn against PyTorch 2.13 (CPU build) on this machine"
	@echo "make bench-zoo    nine small nets: fastnn, PyTorch and tf.keras 2 (~8 min)"
	@echo "make info    how the C kernels were built"

$(VENV)/.ready:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	touch $@

# The editable install builds without isolation, so pyproject.toml's build
# requirements go into the venv first -- with every build, so that a venv made
# before a requirement changed gets it too.
$(VENV)/.built: $(VENV)/.ready $(BUILD_INPUTS)
	$(PIP) install "setuptools>=77" wheel "Cython>=3.0" "numpy>=2.0"
	$(PIP) install --no-build-isolation -e ".[test,plot]"
	touch $@

build: $(VENV)/.built

data:
	@test -f $(DATA)/train-images-idx3-ubyte.gz || { \
	  echo "Installing Fashion-MNIST (Debian package dataset-fashion-mnist)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; }

test: build data
	$(PY) -m pytest -q

# The package as a user gets it (tests/test_distribution.py, which `make test`
# runs too): sdist and wheel built from a clean copy of the work tree, each
# installed into a fresh venv, imported, run.
dist-check: build
	$(PY) -m pytest -q -p no:cacheprovider tests/test_distribution.py

# The C kernels built with -fsanitize=address,undefined (setup.py,
# FASTNN_SANITIZE=1) into build/sanitize -- the extension in fastnn/ stays as
# it is; --force, so a change of flags alone rebuilds too -- and the tests
# that drive them run against that copy.  Python is not built with ASan, so
# its runtime is preloaded; CPython keeps some memory until exit by design,
# hence no leak check.  Any report fails the run; --capture=sys leaves file
# descriptor 2 alone, so the report reaches the terminal.  The tests are
# those marked native (tests/conftest.py says which).
SANITIZE_DIR   := build/sanitize
SANITIZE_ENV   := LD_PRELOAD=$$(gcc -print-file-name=libasan.so) \
                  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
                  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                  PYTHONPATH=$(CURDIR)/$(SANITIZE_DIR)/lib

sanitize: build
	FASTNN_SANITIZE=1 $(PY) setup.py -q build --force --build-base $(SANITIZE_DIR) \
	  --build-lib $(SANITIZE_DIR)/lib --build-temp $(SANITIZE_DIR)/temp
	cd $(SANITIZE_DIR) && env $(SANITIZE_ENV) $(CURDIR)/$(PY) -c \
	  "import fastnn; assert fastnn.__file__.startswith('$(CURDIR)/$(SANITIZE_DIR)/'), fastnn.__file__"
	cd $(SANITIZE_DIR) && env $(SANITIZE_ENV) $(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider \
	  --capture=sys -m native $(CURDIR)/tests

demo: build data
	$(PY) examples/demo.py

bench: build data
	$(BENCH_ENV) $(PY) -m pytest benchmarks -q --benchmark-only \
	  --benchmark-json=benchmarks/results.json
	$(PY) benchmarks/table.py benchmarks/results.json

# The peers live in benchmark-only venvs, never in fastnn's: PyTorch pinned (an
# unpinned torch pulls a multi-GB CUDA build), TensorFlow's CPU build with Keras 2
# (tf-keras declares a dependency on the package `tensorflow`, whose module
# tensorflow-cpu provides: so tf-keras goes in without its dependencies).
# fastnn comes from this tree: PYTHONPATH with the extension `build` made.
BENCH_TORCH := .venv-bench-torch
BENCH_TF    := .venv-bench-tf

$(BENCH_TORCH)/.ready:
	$(PYTHON) -m venv $(BENCH_TORCH)
	$(BENCH_TORCH)/bin/python -m pip -q --disable-pip-version-check install numpy torch==2.13.0
	touch $@

$(BENCH_TF)/.ready:
	$(PYTHON) -m venv $(BENCH_TF)
	$(BENCH_TF)/bin/python -m pip -q --disable-pip-version-check install numpy \
	  tensorflow-cpu==2.21.0
	$(BENCH_TF)/bin/python -m pip -q --disable-pip-version-check install --no-deps \
	  tf-keras==2.21.0
	touch $@

bench-torch: build data $(BENCH_TORCH)/.ready
	$(BENCH_ENV) PYTHONPATH=$(CURDIR) $(BENCH_TORCH)/bin/python benchmarks/compare_torch.py \
	  --json benchmarks/torch_results.json

# Each framework in fresh processes, rounds alternating: see benchmarks/zoo.py.
bench-zoo: build data $(BENCH_TORCH)/.ready $(BENCH_TF)/.ready
	$(BENCH_ENV) PYTHONPATH=$(CURDIR) $(PY) benchmarks/zoo.py --torch-python $(BENCH_TORCH)/bin/python \
	  --tf-python $(BENCH_TF)/bin/python \
	  --json benchmarks/zoo_results.json --markdown benchmarks/zoo_results.md

bench-cli: build
	$(BENCH_ENV) $(PY) -m fastnn bench

info: build
	$(PY) -m fastnn info

clean:
	rm -rf $(VENV) $(BENCH_TORCH) $(BENCH_TF) build dist *.egg-info fastnn/_ckernels.c fastnn/*.so .pytest_cache .hypothesis
