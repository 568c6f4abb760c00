#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target in the module for FUZZTIME (default 10s).
# Targets are found by name, so a new fuzz test is picked up without a list to
# keep in step.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
n=0
while IFS=: read -r file name; do
	dir=$(dirname "$file")
	echo "fuzz: ./$dir $name ($FUZZTIME)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir"
	n=$((n + 1))
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' . | sed -E 's#^\./##; s#:func #:#' | sort)
echo "fuzz: $n targets ran"
