#!/usr/bin/env bash
# Run every test tier this machine can run, plus the linters, on the pinned
# Salt (3008), then the loader/state tiers again on Salt 3006 LTS.
# Each pytest leg's output is kept in a log; the end of the run repeats what
# decides it (failures, errors, each leg's result line, the time per tier), so
# the last lines of a long run say what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
LOGS=${MDTMIRROR_TEST_LOGS:-$(mktemp -d)}
mkdir -p "$LOGS"
scripts/setup.sh
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/salt-lint" salt/mdtmirror/*.sls

# failures LOG: each failed test's header and the last 30 lines of its traceback (the
# assertion and its message, without the captured output that follows them).
failures() {
    awk '
        function flush(  i, s) {
            if (head != "") { print head; s = (n > 30) ? n - 30 : 0; for (i = s; i < n; i++) print buf[i % 30] }
            head = ""
        }
        /^=+ (FAILURES|ERRORS) =+$/ { on = 1; next }
        on && /^=+ .+ =+$/ { flush(); on = 0; next }
        on && /^___+ .+ ___+$/ { flush(); head = $0; n = 0; captured = 0; next }
        on && /^-+ Captured .+ -+$/ { captured = 1; next }
        on && !captured { buf[n % 30] = $0; n++ }
        END { flush() }
    ' "$1"
}

# verdict LOG NAME: the lines of a pytest log that decide it.
verdict() {
    echo "== $2: verdict (whole output: $1) =="
    failures "$1"
    grep -E '^(FAILED|ERROR) [^ ]+\.py|^=+ .*(passed|failed|error).* =+$|^ *[0-9.]+ min +[0-9]+ tests +tests/' "$1" || echo "(no pytest summary: the run died; see $1)"
}

status=0
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra --durations=15 "$@" 2>&1 | tee "$LOGS/salt3008.log" || status=$?
legs=(salt3008)

if [ "$status" -eq 0 ] && [ -z "${MDTMIRROR_SKIP_SALT3006:-}" ] && [ $# -eq 0 ]; then
    echo "== Salt 3006 LTS leg =="
    VENV=.venv-salt3006 REQUIREMENTS=requirements-salt3006.txt scripts/setup.sh
    .venv-salt3006/bin/python -m pytest -p no:cacheprovider -ra tests/unit tests/functional 2>&1 \
        | tee "$LOGS/salt3006.log" || status=$?
    legs+=(salt3006)
fi

for leg in "${legs[@]}"; do
    verdict "$LOGS/$leg.log" "$leg"
done
exit "$status"
