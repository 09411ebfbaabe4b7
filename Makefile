# regen: set up, test, demo and benchmark the whole workspace.
#
#   make setup   .venv with torch (TORCH_SPEC) + every package editable + dev tools + Debian packages
#   make test    setup, then the whole test suite
#   make demo    setup, then the main job on built-in data (DOMAIN=tts for one domain); prints where outputs are
#   make bench   setup, then every benchmark (quick sizes); JSON under bench/results/
#   make zoo     setup, then build the shipped models from scratch (DOMAIN=tts for one) and install them
#   make package-check   poetry check + poetry build for every package, core's wheel installed alone in a fresh venv
#   make serve   setup, then `regen serve` (the web page, http://127.0.0.1:7860; SERVE_ARGS="--model tts=runs/tts ...")

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel by default; GPU users: make setup TORCH_SPEC="torch==2.13.0" (with their own index settings)
TORCH_SPEC ?= torch==2.13.0
DOMAIN ?= all
OUT ?= demo-out
BENCH_OUT ?= bench/results
SERVE_ARGS ?=
# where a domain ships a trained model, make demo shows it and then a shorter live training (budgets x LIVE_SCALE)
LIVE_SCALE ?= 0.3

# optional extras the tests exercise (ONNX export and onnxruntime inference; the peer vocoder and recogniser)
SETUP_EXTRAS := packages/tts[onnx,peers] packages/asr[onnx,peer] packages/image[onnx]
PACKAGES := $(sort $(dir $(wildcard packages/*/pyproject.toml)))
# Domains have a demo and a bench; core and the shared speech library are not domains.
LIBRARIES := core speech
DOMAINS := $(filter-out $(LIBRARIES),$(notdir $(patsubst %/,%,$(PACKAGES))))
STAMP := $(VENV)/.regen-setup
BIN := $(VENV)/bin
# and regen serve's web page (gradio), which the browser test drives
SETUP_EXTRAS += packages/core[serve]

.PHONY: setup test demo zoo bench package-check apt clean

setup: $(STAMP)

$(STAMP): Makefile $(wildcard packages/*/pyproject.toml) $(wildcard packages/*/apt-packages.txt)
	@$(MAKE) --no-print-directory apt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet "pytest>=7.4" "pytest-timeout>=2.2" "poetry>=2.0" "selenium>=4.15" \
		$(foreach p,$(PACKAGES),-e $(p:%/=%))
	$(BIN)/python -m pip install --quiet $(foreach e,$(SETUP_EXTRAS),-e "$(e)")
	@touch $(STAMP)
	@echo "setup done: $(VENV) ($(TORCH_SPEC); packages: $(notdir $(patsubst %/,%,$(PACKAGES))))"

# Debian packages listed in packages/*/apt-packages.txt: installed when missing and we are root (without their
# Recommends: lilypond's pull in TeX Live, fluidsynth's a Qt front end and a 140 MB soundfont, over 200 MB more),
# otherwise named, and setup stops.
apt:
	@need=$$(cat packages/*/apt-packages.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | sort -u | grep . || true); \
	missing=""; for p in $$need; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "regen needs these Debian packages:$$missing"; \
			echo "install them (sudo apt-get install --no-install-recommends$$missing) and run make setup again"; exit 1; \
		fi; \
	fi

test: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q tests $(foreach p,$(PACKAGES),$(p)tests) \
		--ignore-glob='packages/*/tests/test_contract.py'

demo: setup
	@set -e; mkdir -p $(OUT); : > $(OUT)/timings.txt; \
	domains="$(if $(filter all,$(DOMAIN)),$(DOMAINS),$(DOMAIN))"; \
	if [ "$(DOMAIN)" = all ] || [ "$(DOMAIN)" = toy ]; then t=$$(date +%s); \
		$(BIN)/regen compare toy --config tiny --run $(OUT)/toy; \
		echo "toy $$(( $$(date +%s) - t )) s" >> $(OUT)/timings.txt; fi; \
	for d in $$domains; do [ "$$d" = toy ] && continue; t=$$(date +%s); \
		scale=1; if $(BIN)/python -c "import sys; from regen_core.pretrained import shipped; sys.exit(0 if shipped(['$$d']) else 1)"; then \
			echo "=== demo: $$d, the shipped model ==="; $(BIN)/python -m regen_$$d.showcase --out $(OUT)/$$d/shipped; scale=$(LIVE_SCALE); \
		else echo "=== demo: $$d: this checkout ships no trained $$d model yet (python -m regen_$$d.zoo builds it) ==="; fi; \
		echo "=== demo: $$d, a live training on this machine (budgets x $$scale) ==="; \
		$(BIN)/python -m regen_$$d.demo --out $(OUT)/$$d $$([ "$$scale" = 1 ] || echo --budget-scale $$scale); \
		echo "$$d $$(( $$(date +%s) - t )) s" >> $(OUT)/timings.txt; done; \
	echo; echo "demo outputs are in $(OUT)/ (wall time per domain: $$(paste -sd, $(OUT)/timings.txt | sed 's/,/, /g')):"; \
	for r in $$(find $(OUT) -name report.md -o -name outputs.md | sort); do echo "  $$r"; done

# the shipped models, from scratch (preset zoo, resumable: finished stages are kept), installed into the packages
ZOO_OUT ?= zoo-out
zoo: setup
	@set -e; for d in $(if $(filter all,$(DOMAIN)),$(DOMAINS),$(DOMAIN)); do echo "=== zoo: $$d ==="; \
		OMP_NUM_THREADS=1 $(BIN)/python -m regen_$$d.zoo --out $(ZOO_OUT) --install; done; $(BIN)/regen zoo

bench: setup
	@set -e; mkdir -p $(BENCH_OUT); \
	$(BIN)/python bench/trainer_bench.py --out $(BENCH_OUT)/trainer.json; \
	for d in $(DOMAINS); do echo "=== bench: $$d ==="; \
		$(BIN)/python -m regen_$$d.bench --quick --out $(BENCH_OUT)/$$d; done; \
	echo "benchmark results are in $(BENCH_OUT)/"

# the local web page: a tab per installed pairing; models with SERVE_ARGS="--model PAIRING=RUN ..."
.PHONY: serve
serve: setup
	$(BIN)/regen serve $(SERVE_ARGS)

package-check: setup
	@set -e; for p in . $(PACKAGES); do echo "poetry check: $$p"; (cd $$p && $(CURDIR)/$(BIN)/poetry check); done; \
	rm -rf dist; for p in $(PACKAGES); do (cd $$p && $(CURDIR)/$(BIN)/poetry build -f wheel -q -o $(CURDIR)/dist); done; \
	ls dist/*.whl; n=$$(ls dist/*.whl | wc -l); \
	[ $$n -eq $(words $(PACKAGES)) ] || { echo "built $$n wheels for $(words $(PACKAGES)) packages"; exit 1; }; \
	tmp=$$(mktemp -d); $(PYTHON) -m venv $$tmp/venv; \
	$$tmp/venv/bin/python -m pip install --quiet "$(TORCH_SPEC)"; \
	$$tmp/venv/bin/python -m pip install --quiet dist/regen_core-*.whl; \
	$$tmp/venv/bin/python -c "import regen_core, regen_core.trainer, regen_core.cli; print('regen_core', regen_core.__version__, 'imports from its wheel alone')"; \
	$$tmp/venv/bin/python -c "import importlib.util as u, sys; bad = [m for m in ('librosa', 'soundfile', 'soxr', 'regen_speech') if u.find_spec(m)]; sys.exit(f'core wheel alone pulled in speech modules: {bad}') if bad else print('core wheel alone: no librosa, soundfile, soxr or regen_speech')"; \
	$$tmp/venv/bin/regen list; rm -rf $$tmp

clean:
	rm -rf $(VENV) dist $(OUT)
