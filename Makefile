# SplitOculo. Two commands for a new user: `make demo` and `make test`.
# Every target runs on the pinned Node.js below (the one the single binary embeds).

NODE_VERSION := 24.21.0
APT_PACKAGES := mosquitto mosquitto-clients python3-torch python3-torchvision python3-pil python3-onnx python3-numpy ffmpeg openssl faketime
PYTHON := /usr/bin/python3

export PATH := $(CURDIR)/.cache/node/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# onnxruntime-node's install script fetches CUDA files from outside the npm registry.
export ONNXRUNTIME_NODE_INSTALL := skip

.PHONY: all deps test test-node test-python typecheck demo models-tiny models-full clean

all: deps

deps: .cache/apt.ok .cache/node/bin/node node_modules/.installed

.cache/apt.ok: scripts/ensure-apt.sh Makefile
	scripts/ensure-apt.sh $(APT_PACKAGES)
	@mkdir -p .cache && touch $@

.cache/node/bin/node: scripts/ensure-node.sh Makefile
	scripts/ensure-node.sh $(NODE_VERSION)

node_modules/.installed: package.json package-lock.json .cache/node/bin/node
	npm ci --no-audit --no-fund
	@touch $@

typecheck: deps
	tsc -p tsconfig.json

test: deps typecheck test-python test-node

test-node: deps
	node --test --test-force-exit --test-reporter=spec 'test/**/*.test.ts'

test-python: deps
	$(PYTHON) -m unittest discover -s test/models -p 'test_*.py' -v

demo: deps
	node scripts/demo.ts

models-tiny: deps
	$(PYTHON) models/export.py --preset tiny --split-layer 4 --random-seed 1 --out models/tiny

models-full: deps
	$(PYTHON) models/export.py --preset full --split-layer 4 --random-seed 1 --out .cache/models/full

clean:
	rm -rf node_modules .cache dist
