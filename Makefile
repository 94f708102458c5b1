# make demo   set up, build and run the main job
# make test   set up, build and run every test (release, then the core tests under ASan+UBSan)
# make bench  set up (with PyTorch) and print the side-by-side benchmark table
.PHONY: setup demo test build bench clean

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

test: setup
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j $(JOBS)

bench:
	@scripts/setup.sh --bench
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	bench/run.sh

clean:
	rm -rf build
