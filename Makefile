# make demo   set up, build and run the main job
# make test   set up, build and run every test (release), then the core tests under ASan+UBSan
# make test-full  release; clang ASan+UBSan over core/parser/threaded tests; 60 s per fuzzer; TSan
# make fuzz   each libFuzzer target for LONG_FUZZ_SECONDS (600)
# make bench  set up (with PyTorch) and print the side-by-side benchmark table
# make bench-graph  the same for graph mode (eager vs tandem::compile vs PyTorch eager/jit)
# make refdata  rerun every reference generator (tests/reference) into a temporary folder; fail on a difference
.PHONY: setup demo test test-full test-release test-asan-core asan-build test-asan test-fuzz fuzz test-tsan build bench bench-graph clean refdata

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

# `make test` (what CI runs): test-release, then test-asan-core (the core tests under GCC's
# ASan+UBSan, with the allocator's poisoning). `make test-full` runs the four stages the
# sanitizer work adds, each also a target of its own:
#   test-release  release build (GCC), every test
#   test-asan     clang ASan+UBSan build (build/asan) of the library, the core, parser and
#                 threaded test programs and the libFuzzer targets; runs those tests
#   test-fuzz     each fuzzer for FUZZ_SECONDS (60) from its committed seeds, two at a time
#   test-tsan     GCC ThreadSanitizer build of the threaded test programs; runs their
#                 threaded tests
# Tests run two at a time, each with up to two OpenMP threads: passive waiting keeps an
# oversubscribed core from spinning (it changes no result).
# `make fuzz` fuzzes longer (LONG_FUZZ_SECONDS=600 by default); found inputs stay in
# build/asan/fuzz/<name>/.
ASAN_CORE_TARGETS := test_core test_autograd test_ops
ASAN_TARGETS := test_core test_autograd test_ops test_io test_onnx test_summary test_dataio test_train fuzzers
TSAN_TARGETS := test_dataio test_train
FUZZ_SECONDS ?= 60
LONG_FUZZ_SECONDS ?= 600

test: setup
	$(MAKE) test-release
	$(MAKE) test-asan-core

test-full: setup
	$(MAKE) test-release
	$(MAKE) test-asan
	$(MAKE) test-fuzz
	$(MAKE) test-tsan

test-release: setup
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	OMP_WAIT_POLICY=passive ctest --preset release -j $(JOBS)

test-asan-core: setup
	cmake --preset asan-core >/dev/null
	cmake --build --preset asan-core -j $(JOBS) --target $(ASAN_CORE_TARGETS)
	OMP_WAIT_POLICY=passive ctest --preset asan-core -j $(JOBS)

asan-build: setup
	cmake --preset asan -DTANDEM_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	cmake --build --preset asan -j $(JOBS) --target $(ASAN_TARGETS)

test-asan: asan-build
	OMP_WAIT_POLICY=passive ctest --preset asan -j $(JOBS)

test-fuzz: asan-build
	ctest --preset fuzz -j $(JOBS)

fuzz:
	$(MAKE) test-fuzz FUZZ_SECONDS=$(LONG_FUZZ_SECONDS)

test-tsan: setup
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target $(TSAN_TARGETS)
	ctest --preset tsan -j $(JOBS)

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
