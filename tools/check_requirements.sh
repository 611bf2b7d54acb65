#!/usr/bin/env bash
# Every numbered requirement of SPEC.md (**X-n** in a list, or | X-n | as the
# first cell of a table row) must be cited by at least one test under tests/.
# Prints the ones that are not and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ids=$( { grep -oE '\*\*[A-Z]-[0-9]+\*\*' SPEC.md; grep -oE '^\| [A-Z]-[0-9]+ \|' SPEC.md; } \
    | grep -oE '[A-Z]-[0-9]+' | sort -u)
missing=()
for id in $ids; do
    if ! grep -rqw --include='*.rs' -- "$id" tests/; then
        missing+=("$id")
    fi
done
n=$(echo "$ids" | wc -w)
if [ ${#missing[@]} -gt 0 ]; then
    echo "requirements of SPEC.md cited by no test: ${missing[*]}" >&2
    exit 1
fi
echo "all $n numbered requirements of SPEC.md are cited by tests"
