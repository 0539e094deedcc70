# The README's two fresh-machine commands are `make demo` and `make test`; both set up .venv first, from the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every package `make setup` installs, at an exact version; `make lock` regenerates it from setup.py.
LOCK := requirements.lock
# The CPU build of torch, installed first so that no dependency can pull a CUDA build.
TORCH_SPEC ?= torch==2.13.0
LATEST_VENV := .venv-latest
export PYTHON TORCH_SPEC

.PHONY: setup test demo lock test-latest clean

setup: $(VENV)/.installed

# Quiet on purpose: the set-up's pip and apt output goes to a log, shown only when something fails.
$(VENV)/.installed: setup.py $(LOCK) tools/build_venv.sh
	@echo "Setting up $(VENV) from $(LOCK) (once, a few minutes; log: $(VENV).log)" >&2
	@rm -rf $(VENV)
	@tools/build_venv.sh $(VENV) --lock $(LOCK) > $(VENV).log 2>&1 || { tail -n 30 $(VENV).log >&2; exit 1; }
	@touch $@

test: setup
	@$(BIN)/lint-imports --no-cache --no-logo .importlinter
	@$(BIN)/python -m pytest -q tests

# Real TEST records (two per rRNA type, picked by id hash, never by answers), asked in one of the question
# phrasings chatnt-mini was trained with: in new phrasings its answers are at chance (README, ChatNT-mini).
DEMO := runs/demo
demo: setup
	@$(BIN)/python -m chatnt.training.demo_records write --task rrna_type --per_label 2 --out $(DEMO)/records.fa
	@$(BIN)/chatnt predict --fasta $(DEMO)/records.fa --question "Which ribosomal RNA gene is @seq from? Answer with one of: 16S, 18S, 23S/28S." \
		--task rrna_type --out $(DEMO)/answers.tsv --overwrite --no-progress
	@$(BIN)/python -m chatnt.training.demo_records show --records $(DEMO)/records.fa --answers $(DEMO)/answers.tsv

# The lock pins setup.py's direct requirements at their lower bounds (so `make test` tests those bounds) and
# everything else at the newest release that fits. Raise a bound in setup.py, then run this.
lock:
	rm -rf $(VENV)-lock
	tools/build_venv.sh $(VENV)-lock --floors
	{ echo "# Every package make setup installs, at an exact version. Written by make lock from setup.py: do not edit."; \
	  $(VENV)-lock/bin/pip freeze --all --exclude-editable; } > $(LOCK)
	rm -rf $(VENV)-lock
	@echo "Wrote $(LOCK); commit it with setup.py."

# The whole suite on the newest releases setup.py allows (transformers, trl, peft, datasets, accelerate, ...),
# in a venv of its own; CHATNT_UNLOCKED skips the check that the environment matches the lock.
test-latest:
	rm -rf $(LATEST_VENV)
	tools/build_venv.sh $(LATEST_VENV) --latest > $(LATEST_VENV).log 2>&1 || { tail -n 30 $(LATEST_VENV).log; exit 1; }
	@$(LATEST_VENV)/bin/pip list 2>/dev/null | grep -iE '^(torch|transformers|trl|peft|datasets|accelerate|huggingface.hub) '
	$(LATEST_VENV)/bin/lint-imports --no-cache --no-logo .importlinter
	CHATNT_UNLOCKED=1 $(LATEST_VENV)/bin/python -m pytest -q tests

clean:
	rm -rf $(VENV) $(VENV).log $(LATEST_VENV) $(LATEST_VENV).log *.egg-info .pytest_cache
