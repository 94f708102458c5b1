# make demo   set up, build and run the main job
# make test   set up, build and run every test (release); clang ASan+UBSan over the parsing and
#             compute tests; 60 s per fuzzer; TSan over the threaded tests; tandem-lite
#             cross-built for aarch64, its tests under qemu; the WebAssembly build's tests
# make wasm   tandem-lite for the browser (emscripten): web/dist/tandem_lite.{mjs,wasm}
# make test-asan-core  the core tests under GCC's ASan+UBSan (which runs the AVX2/AVX-512 kernels)
# make fuzz   each libFuzzer target for LONG_FUZZ_SECONDS (600)
# make bench  set up (with PyTorch) and print the side-by-side benchmark table
# make bench-graph  the same for graph mode (eager vs tandem::compile vs PyTorch eager/jit)
# make refdata  rerun every reference generator (tests/reference) into a temporary folder; fail on a difference
.PHONY: setup demo test test-release test-asan-core asan-build test-asan test-fuzz fuzz test-tsan test-aarch64 wasm test-wasm build bench bench-graph clean refdata

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

# `make test` (what CI runs) runs six stages, each also a target of its own, and prints the wall
# time of each:
#   test-release   release build (GCC), every test
#   test-asan      clang ASan+UBSan build (build/asan, -O1) of the library, the ASAN_TARGETS
#                  programs and the libFuzzer targets; runs the ASAN_TARGETS programs' tests
#   test-fuzz      each fuzzer for FUZZ_SECONDS (60) from its committed seeds, two at a time
#   test-tsan      GCC ThreadSanitizer build (build/tsan) of the TSAN_TARGETS programs; runs
#                  their tests whose names match TSAN_TESTS (test_threads: the test files that
#                  start threads, a program only TSan builds define; tests/CMakeLists.txt)
#   test-aarch64   tandem-lite alone (TANDEM_LITE_ONLY) cross-compiled with g++-aarch64-linux-gnu
#                  (build/lite-aarch64); its self-test and CLI tests run under qemu-aarch64-static
#   test-wasm      tandem-lite for WebAssembly (lite-wasm preset, Debian's emscripten with its
#                  prebuilt system libraries; build/lite-wasm, module copied to web/dist); the
#                  JavaScript API's tests under node (label wasm)
# Not in `make test`:
#   test-asan-core GCC ASan+UBSan build (build/asan-core) of ASAN_CORE_TARGETS; runs their tests.
#                  GCC's build dispatches the AVX2/AVX-512 kernel clones; clang's runs baseline.
# The sanitizer builds compile the libraries as unity builds (TANDEM_UNITY_BUILD, about half
# the CPU time of a cold build).
# `make fuzz` fuzzes LONG_FUZZ_SECONDS (600) per target (found inputs stay in
# build/asan/fuzz/<name>/).
# Tests run two at a time, each with up to two OpenMP threads: passive waiting keeps an
# oversubscribed core from spinning (it changes no result).
#
# Opting a test program into a sanitizer stage: add its build target to ASAN_TARGETS or
# TSAN_TARGETS. A stage builds only the targets listed and runs the tests labelled with one of
# them: every program in tests/<dir> is test_<dir> and labels its tests so; a test added with
# add_test() (a script, an MPI or Python run) carries the target it needs as its LABELS (the
# Serve.* client tests: tandem_cli). For TSan, also add the threaded tests' names to TSAN_TESTS.
ASAN_CORE_TARGETS := test_core test_autograd test_ops
ASAN_TARGETS := test_core test_autograd test_ops test_io test_onnx test_summary test_dataio \
                test_train test_serve test_sql test_lite lite_selftest tandem_lite_cli tandem_cli
TSAN_TARGETS := test_threads tandem_cli
# The tests that start threads: DataLoader workers, generators across threads, training with a
# worker, and `tandem serve`'s batching threads under concurrent clients.
TSAN_TESTS := DataLoader|GeneratorThreads|Fit\.ExactResumeWithDropout|Serve\.test_operations|SqlBackend\.SameBatches
# Tests left out of the ASan stage, each with its reason (a ctest -E regex; keep it short).
# SqlScale, Serve.test_reload_memory: their RSS bounds do not hold under ASan (quarantine and
# shadow memory).
ASAN_EXCLUDE := ^Db/SqlScale\.|^Serve\.test_reload_memory$$
FUZZ_SECONDS ?= 60
# libFuzzer's -seed for make test's fuzz stage (fixed: a fresh clone repeats the verified run);
# make fuzz searches with a new seed each run (0).
FUZZ_SEED ?= 1
LONG_FUZZ_SECONDS ?= 600

empty :=
space := $(empty) $(empty)
labels = ^($(subst $(space),|,$(strip $(1))))$$

# $(call stage,TARGET): runs `make TARGET` and prints its wall time.
define stage
	@t=$$(date +%s); $(MAKE) --no-print-directory $(1) && echo "== $(1): $$(( $$(date +%s) - t )) s wall"
endef

test: setup
	$(call stage,test-release)
	$(call stage,test-asan)
	$(call stage,test-fuzz)
	$(call stage,test-tsan)
	$(call stage,test-aarch64)
	$(call stage,test-wasm)

test-release: setup
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	OMP_WAIT_POLICY=passive ctest --preset release -j $(JOBS)

test-asan-core: setup
	cmake --preset asan-core >/dev/null
	cmake --build --preset asan-core -j $(JOBS) --target $(ASAN_CORE_TARGETS)
	OMP_WAIT_POLICY=passive ctest --preset asan-core -j $(JOBS) -L '$(call labels,$(ASAN_CORE_TARGETS))'

asan-build: setup
	cmake --preset asan -DTANDEM_FUZZ_SECONDS=$(FUZZ_SECONDS) -DTANDEM_FUZZ_SEED=$(FUZZ_SEED) >/dev/null
	cmake --build --preset asan -j $(JOBS) --target $(ASAN_TARGETS) fuzzers

test-asan: asan-build
	OMP_WAIT_POLICY=passive ctest --preset asan -j $(JOBS) -L '$(call labels,$(ASAN_TARGETS))' -E '$(ASAN_EXCLUDE)'

test-fuzz: asan-build
	ctest --preset fuzz -j $(JOBS)

fuzz:
	$(MAKE) test-fuzz FUZZ_SECONDS=$(LONG_FUZZ_SECONDS) FUZZ_SEED=0

test-tsan: setup
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target $(TSAN_TARGETS)
	ctest --preset tsan -j $(JOBS) -L '$(call labels,$(TSAN_TARGETS))' -R '$(TSAN_TESTS)'

test-aarch64: setup
	cmake --preset lite-aarch64 >/dev/null
	cmake --build --preset lite-aarch64 -j $(JOBS)
	ctest --preset lite-aarch64 -j $(JOBS)

wasm: setup
	cmake --preset lite-wasm >/dev/null
	cmake --build --preset lite-wasm -j $(JOBS)
	@ls -l web/dist/tandem_lite.mjs web/dist/tandem_lite.wasm

test-wasm: wasm
	ctest --preset lite-wasm -j $(JOBS) -L wasm

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
