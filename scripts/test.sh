#!/usr/bin/env bash
# Run every test tier this machine can run, plus the linters, on the pinned
# Salt (3008): the host-only tiers in parallel, then the real-kernel tier
# alone; then the loader/state tiers again on Salt 3006 LTS.
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

# Legs. The host-only tiers run in parallel (pytest-xdist, whole files per worker so a module's
# Salt master and minions stay in one process; integration and functional first, the longest);
# the real-kernel tier runs alone after them: its qemu guests (TCG) need every CPU there is, and
# an overloaded guest misses its SCSI and Salt timeouts. Every leg runs even after one failed, so a
# red run reports all it can.
WORKERS=${MDTMIRROR_TEST_WORKERS:-$(nproc)}
[ "$WORKERS" -le 4 ] || WORKERS=4  # 4 integration files: more workers would idle
status=0
legs=()
leg() {  # leg NAME PYTHON ARGS...: one pytest run, its output teed into $LOGS/NAME.log
    local name=$1 python=$2
    shift 2
    echo "== $name =="
    "$python" -m pytest -p no:cacheprovider -ra "$@" 2>&1 | tee "$LOGS/$name.log" || status=1
    legs+=("$name")
}
if [ $# -gt 0 ]; then
    leg salt3008 "$VENV/bin/python" --durations=15 "$@"
else
    # Every folder of tests/ that holds tests, the longest first; a new one runs without an edit here.
    host_tiers=(tests/integration tests/functional)
    for dir in tests/*/; do
        dir=${dir%/}
        case " ${host_tiers[*]} tests/realkernel " in *" $dir "*) continue ;; esac
        compgen -G "$dir/test_*.py" >/dev/null && host_tiers+=("$dir")
    done
    # The real-kernel tier's cache (packages, kernel, the venv's snapshot, OpenZFS built for that kernel:
    # ~6 min when cold) is filled beside the host tiers, at the lowest CPU priority so it takes only
    # what they leave idle; the real-kernel leg waits for it. If it fails, that leg's fixture meets the
    # same failure and reports it.
    nice -n 19 "$VENV/bin/python" -m tests.realkernel.harness --prepare >"$LOGS/realkernel-prepare.log" 2>&1 &
    prepare=$!
    leg salt3008 "$VENV/bin/python" -n "$WORKERS" --dist loadfile --durations=15 "${host_tiers[@]}"
    wait "$prepare" || echo "real-kernel cache preparation failed (see $LOGS/realkernel-prepare.log)"
    leg realkernel "$VENV/bin/python" --durations=15 tests/realkernel
    if [ -z "${MDTMIRROR_SKIP_SALT3006:-}" ]; then
        if VENV=.venv-salt3006 REQUIREMENTS=requirements-salt3006.txt scripts/setup.sh; then
            leg salt3006 .venv-salt3006/bin/python -n "$WORKERS" --dist loadfile tests/functional tests/unit
        else
            echo "== salt3006: the Salt 3006 virtualenv could not be set up (see above) =="
            status=1
        fi
    fi
fi

for leg in "${legs[@]}"; do
    verdict "$LOGS/$leg.log" "$leg"
done
exit "$status"
