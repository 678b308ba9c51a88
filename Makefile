# The two commands a newcomer needs: `make up` and `make test`.
BUILD ?= build
JOBS ?= 2
RING_DIR ?= $(HOME)/.shoal/ring

.PHONY: setup build test test-quick up down clean format

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Every test: unit tests and the multi-process cluster scenarios.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j1

# Unit tests only (seconds).
test-quick: build
	@cd $(BUILD) && ctest --output-on-failure -L unit

up: build
	@$(BUILD)/bin/shoal ring up --nodes 5 --n 3 --w 2 --r 2 --dir $(RING_DIR)

down:
	@if [ -x $(BUILD)/bin/shoal ]; then $(BUILD)/bin/shoal ring down --dir $(RING_DIR); fi

clean:
	rm -rf $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc')
