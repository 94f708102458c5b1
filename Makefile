# make demo   set up, build and run the main job
# make test   set up, build and run every test (release, then the core tests under ASan+UBSan)
# make bench  set up (with PyTorch) and print the side-by-side benchmark table
# make bench-graph  the same for graph mode (eager vs tandem::compile vs PyTorch eager/jit)
# make refdata  rerun every reference generator (tests/reference) into a temporary folder; fail on a difference
.PHONY: setup demo test build bench bench-graph clean refdata

JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.cache/ccache
export CCACHE_BASEDIR := $(CURDIR)

setup:
	@scripts/setup.sh

build: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target tandem_cli
	./build/release/tools/tandem train --model cnn

# The sanitizer build covers the core layers (tensors, ops, autograd); it builds only their
# test programs. Tests run two at a time, each with up to two OpenMP threads: passive
# waiting keeps an oversubscribed core from spinning (it changes no result).
ASAN_TARGETS := test_core test_autograd test_ops
test: setup
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS) --target $(ASAN_TARGETS)
	OMP_WAIT_POLICY=passive ctest --preset asan -j $(JOBS)
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	OMP_WAIT_POLICY=passive ctest --preset release -j $(JOBS)

bench:
	@scripts/setup.sh --bench
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	bench/run.sh

bench-graph:
	@scripts/setup.sh --bench
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target tandem_bench_graph
	bench/graph_run.sh

refdata: setup
	scripts/refdata.sh

clean:
	rm -rf build
