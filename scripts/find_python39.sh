#!/usr/bin/env bash
# Prints the path of a working Python 3.9 interpreter (Glue Python shell's version), or prints
# where it looked on stderr and exits 1. A `python3.9` on PATH counts only if it runs (a pyenv
# shim for a version that is not selected fails); then pyenv's versions; then the usual places.
set -u
tried=()
works() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 9) else 1)' >/dev/null 2>&1
}
candidates=()
if command -v python3.9 >/dev/null 2>&1; then
  candidates+=("$(command -v python3.9)")
fi
roots=()
if command -v pyenv >/dev/null 2>&1; then
  roots+=("$(pyenv root 2>/dev/null)")
fi
roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
for root in "${roots[@]}"; do
  [ -n "$root" ] || continue
  # Highest 3.9.x first.
  while IFS= read -r found; do
    [ -n "$found" ] && candidates+=("$found")
  done < <(ls -d "$root"/versions/3.9*/bin/python3.9 2>/dev/null | sort -rV)
done
candidates+=(/usr/local/bin/python3.9 /usr/bin/python3.9)
for candidate in "${candidates[@]}"; do
  if [ -x "$candidate" ] && works "$candidate"; then
    echo "$candidate"
    exit 0
  fi
  tried+=("$candidate")
done
echo "tried: ${tried[*]:-nothing}" >&2
exit 1
