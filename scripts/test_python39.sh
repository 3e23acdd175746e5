#!/usr/bin/env bash
# The extractor's tests on Python 3.9, the version Glue Python shell runs the script with:
# builds .venv39 from requirements-py39.txt (again when the pins change) and runs
# tests/python/test_glue_script.py, test_bulk_output.py and test_extractor.py in it. The AWS
# launcher (moto needs 3.10+) runs on the main venv. Without Python 3.9 on this machine: one SKIPPED line, exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV39=.venv39

if ! py39=$(scripts/find_python39.sh 2>/tmp/sfglue-find-python39.$$); then
  echo "SKIPPED: Python 3.9 not found ($(cat /tmp/sfglue-find-python39.$$); install it, e.g. pyenv install 3.9) - the extractor's tests did not run on 3.9"
  rm -f /tmp/sfglue-find-python39.$$
  exit 0
fi
rm -f /tmp/sfglue-find-python39.$$

if [ ! -f "$VENV39/.installed" ] || [ requirements-py39.txt -nt "$VENV39/.installed" ] \
    || [ "$(cat "$VENV39/.python" 2>/dev/null)" != "$py39" ]; then
  rm -rf "$VENV39"
  "$py39" -m venv "$VENV39"
  "$VENV39/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-py39.txt
  echo "$py39" > "$VENV39/.python"
  touch "$VENV39/.installed"
fi

echo "Python 3.9 run: $("$VENV39/bin/python" --version) ($py39)"
SFGLUE_LAUNCHER_PYTHON="$PWD/.venv/bin/python" SFGLUE_REQUIRE_SF_EMULATOR=1 \
  "$VENV39/bin/python" -m pytest -q tests/python/test_glue_script.py tests/python/test_bulk_output.py \
    tests/python/test_extractor.py
