# make demo   create .venv, install the pinned dependencies, run the default experiment (stages/repro.py)
# make test   create .venv if needed, run the test suite (what CI runs); installs Debian's chromium
#             for the browser test when missing and possible (root + apt-get), else that test skips
# make bench  GPU benchmarks (benchmarks/), printed, never asserted; make bench-cpu: the CPU ones
# make test-gpu  the tests marked gpu (they skip without CUDA), for a machine with a GPU
# make mutation  mutation testing score (mutmut) of losses, methods, metrics, editing, assets;
#                SAMPLE=40 [SEED=2]: a seeded sample of 40 mutants per module, with a 95 % interval
# make studio    the studio in the browser: draw, prompt, customize, edit (http://127.0.0.1:7860/)
# make schema    regenerate params.schema.json from the config classes (a test fails when it is stale)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PREFECT_HOME := $(CURDIR)/.prefect
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test test-gpu bench bench-cpu mutation schema studio venv chromium clean

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(BIN)/.installed

# independent stages side by side (stages/repro.py; plain `dvc repro` gives the same numbers, one stage at a time)
demo: venv
	$(BIN)/python stages/with_prefect.py $(BIN)/python stages/repro.py
	@echo "Report: $(CURDIR)/reports/index.html  (and reports/summary.md; TOY-WORLD NUMBERS)"

# Never fails: without root or apt-get, tests/test_report_browser.py is skipped instead.
chromium:
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || echo "chromium not installed: the browser test will be skipped"

test: venv chromium
	$(BIN)/ruff check pipeline stages tests benchmarks
	$(BIN)/ruff format --check pipeline stages tests benchmarks
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

test-gpu: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m gpu -rs

# GPU figures (issue 7's configuration: 256 px, channel_base 32768, batch 4, ViT-B/32); needs CUDA
bench: venv
	$(BIN)/python benchmarks/nets.py --device cuda
	$(BIN)/python benchmarks/train_step.py --device cuda --iters 200 --flops
	$(BIN)/python benchmarks/train_step.py --device cuda --iters 200 --perf off
	$(BIN)/python benchmarks/sample_eval.py --device cuda
	$(BIN)/python benchmarks/world_gan.py --device cuda --iters 200 --batches 32 128 512
	$(BIN)/python benchmarks/reference_step.py --device cuda --iters 200

# what this 2-core CPU machine can time: small networks, and the demo pipeline itself
bench-cpu: venv
	$(BIN)/python benchmarks/train_step.py --device cpu --size 64 --channel-base 2048 --sketcher xdog --clip demo-tiny-clip --iters 8
	$(BIN)/python benchmarks/sample_eval.py --device cpu --size 64 --channel-base 2048 --n 200 --extractor demo-tiny
	$(BIN)/python benchmarks/world_gan.py --device cpu --iters 20
	$(BIN)/python benchmarks/demo_pipeline.py

# The studio (README "Studio"): a local web app on 127.0.0.1 over the same pipeline; prints its URL.
studio: venv
	$(BIN)/python -m studio

schema: venv
	$(BIN)/python -m pipeline.schema

# Mutation testing of losses, methods, metrics, editing and assets (pyproject.toml [tool.mutmut]);
# not part of CI. All mutants take most of a day on a 2-core CPU; `make mutation SAMPLE=40` checks a
# seeded random sample of 40 per module (an hour or two) and prints the score with a 95 % interval.
mutation: venv
	$(BIN)/pip install --quiet mutmut==3.8.1
ifeq ($(SAMPLE),)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 || true
	$(BIN)/python benchmarks/mutation_score.py
else
	$(BIN)/python benchmarks/mutation_score.py --sample $(SAMPLE) --seed $(or $(SEED),0)
endif

clean:
	rm -rf $(VENV) .prefect data reports/index.html reports/grids
