# SplitOculo. Two commands for a new user: `make demo` and `make test`.
# Every target runs on the pinned Node.js below (the one the single binary embeds).

NODE_VERSION := 24.21.0
APT_PACKAGES := mosquitto mosquitto-clients python3-torch python3-torchvision python3-pil python3-onnx python3-numpy ffmpeg openssl faketime iproute2 fonts-dejavu-core chromium
PYTHON := /usr/bin/python3

export PATH := $(CURDIR)/.cache/node/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# onnxruntime-node's install script fetches CUDA files from outside the npm registry.
export ONNXRUNTIME_NODE_INSTALL := skip

.PHONY: all deps lint format test test-node test-python typecheck demo soak bench bench-quick models-tiny models-tiny-trained models-tiny-qwen models-full models-qwen-vision-3b binary binary-check install uninstall clean

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

# Biome: formatting and lint rules (biome.json); `make format` rewrites files in place.
lint: deps
	biome check .

format: deps
	biome check --write .

test: deps lint typecheck test-python test-node binary-check

test-node: deps
	node --test --test-force-exit --test-reporter=spec 'test/**/*.test.ts'

test-python: deps
	$(PYTHON) -m unittest discover -s test/models -p 'test_*.py' -v

demo: deps
	node scripts/demo.ts

# The chaos soak on its own, as long as you like (a 2-minute run is part of test-node).
MINUTES ?= 10
SEED ?= 1
soak: deps
	node test/soak/chaos.ts --minutes $(MINUTES) --seed $(SEED)

models-tiny: deps
	$(PYTHON) models/export.py --preset tiny --split-layer 4 --random-seed 1 --out models/tiny

# The demo's distilled tiny model (committed as models/tiny): the tiny SplitOculo preset trained against
# models/tiny-qwen's vision tower at L=4 on generated images (ffmpeg test patterns, gnome-backgrounds; the
# sample photos are held out), warmup phase through the board's uint8 quantisation (--quant-noise ste),
# everything seeded. torch runs on one thread with OpenBLAS (Debian's torch calls the reference BLAS, 2-3x
# slower here), unpacked from its .deb under .cache without touching the system's BLAS choice.
TINY_TRAIN := .cache/tiny-train
OPENBLAS := $(CURDIR)/.cache/openblas/usr/lib/x86_64-linux-gnu/openblas-serial
models-tiny-trained: deps .cache/openblas.ok
	scripts/ensure-apt.sh gnome-backgrounds
	$(PYTHON) models/train.py corpus --out $(TINY_TRAIN)/images --seed 1
	$(PYTHON) models/train.py precompute --qwen models/tiny-qwen --images $(TINY_TRAIN)/images/train --split-layer 4 --views 8 --augment-seed 1 --shard-size 16 --out $(TINY_TRAIN)/features/train
	$(PYTHON) models/train.py precompute --qwen models/tiny-qwen --images $(TINY_TRAIN)/images/val --split-layer 4 --out $(TINY_TRAIN)/features/val
	LD_LIBRARY_PATH=$(OPENBLAS) $(PYTHON) models/train.py train --preset tiny --features $(TINY_TRAIN)/features/train --val-features $(TINY_TRAIN)/features/val --out $(TINY_TRAIN)/run --batch 16 --epochs 10 --lr 1e-3 --seed 1 --threads 1 --quant-noise ste --resume
	$(PYTHON) models/export.py --checkpoint $(TINY_TRAIN)/run/best.pt --split-layer 4 --rescale $$($(PYTHON) models/train.py stats --features $(TINY_TRAIN)/features/train --as-args) --name tiny --out models/tiny
	$(PYTHON) models/fidelity.py --qwen models/tiny-qwen --images test/fixtures/frames --checkpoint $(TINY_TRAIN)/run/best.pt --manifest models/tiny --label "models/tiny (distilled, quant-noise ste)" --out $(TINY_TRAIN)/fidelity.json

.cache/openblas.ok:
	mkdir -p .cache/openblas && cd .cache/openblas && apt-get download libopenblas0-serial && dpkg-deb -x libopenblas0-serial_*.deb .
	@touch $@

# Random-weight Qwen2.5-VL stand-in (real tokenizer and layout; answers are noise), made by the same
# commands a user runs on real weights: models/qwen.py tail / language-model.
models-tiny-qwen: deps
	$(PYTHON) models/qwen.py tiny --split-layer 4 --seed 1 --out models/tiny-qwen

# Qwen2.5-VL-3B's vision tower at full size with random weights: the bench times the tail and the whole
# tower with it (about 6 GB under .cache; minutes to make).
models-qwen-vision-3b: .cache/models/qwen-vision-3b/onnx/vision_encoder.1x16x16.json
.cache/models/qwen-vision-3b/onnx/vision_encoder.1x16x16.json: | deps
	$(PYTHON) models/qwen.py random-vision --split-layer 4 --out .cache/models/qwen-vision-3b

models-full: .cache/models/full/manifest.json
.cache/models/full/manifest.json: | deps
	$(PYTHON) models/export.py --preset full --split-layer 4 --random-seed 1 --out .cache/models/full

# Shaped links x methods, stage costs, the queue at scale -> bench/results/ (by hand, about 20 minutes;
# root for the network namespaces, else a userspace relay shapes the links).
bench: deps models-full models-qwen-vision-3b
	node bench/run.ts

# Every path of the bench on a few frames with the tiny models (under two minutes; make test runs it too).
bench-quick: deps
	node bench/run.ts --quick

# One self-contained executable per target in dist/, with tarballs and SHA256SUMS.
binary: deps .cache/cross.ok
	node cross-build/build.ts

.cache/cross.ok: scripts/ensure-apt.sh Makefile
	scripts/ensure-apt.sh binutils binutils-aarch64-linux-gnu qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
	@mkdir -p .cache && touch $@

# The binaries do real work: natively (x64) and under qemu-user (arm64).
binary-check: binary
	node --test --test-force-exit --test-reporter=spec cross-build/binary-check.test.ts cross-build/first-run.test.ts

# DESTDIR=/tmp/root make install; ARCH=arm64 for the board's binary; KIND=cloud for the worker.
ARCH ?= $(shell uname -m | sed -e s/x86_64/x64/ -e s/aarch64/arm64/)
KIND ?= edge
install:
	KIND=$(KIND) BINARY=dist/splitoculo-$(KIND)-linux-$(ARCH) cross-build/install.sh install

uninstall:
	KIND=$(KIND) cross-build/install.sh uninstall

clean:
	rm -rf node_modules .cache dist
