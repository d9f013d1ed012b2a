#!/usr/bin/env bash
# Run every test tier this machine can run, plus the linters, on the pinned
# Salt (3008), and the loader/state tiers again on Salt 3006 LTS: the
# real-kernel tier in front, the host-only tiers beside it at the lowest CPU
# priority.
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
# The stages' macros are SLS text too (rule 205 only asks for the .sls name, which a macro file has not).
"$VENV/bin/salt-lint" -x 205 salt/mdtmirror/stages.jinja

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

# Legs. The real-kernel tier is the long one (its qemu guests run under TCG), so the run lasts as long as
# it does, and the rest runs beside it: its cache (packages, kernel, the venv's snapshot, OpenZFS built for
# that kernel: ~5 min when cold) is filled first, then its leg starts at once; the host-only tiers run from the
# start at `nice 19`, then the Salt 3006 leg. At that priority they take only the CPU the guests leave idle
# (a guest waiting on its host or on a timer): an overloaded guest misses ib_srp's SCSI timeouts and Salt's.
# Only tests/emulator runs first at normal priority (half a minute): its SRP path-loss tests time the
# emulated kernel's timers to a tenth of a second, which a process at nice 19 beside busy guests cannot.
# The host tiers run in parallel (pytest-xdist, whole files per worker so a module's Salt master and minions
# stay in one process; integration and functional first, the longest). Every leg runs even after one
# failed, so a red run reports all it can.
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
quiet_leg() {  # quiet_leg NAME PYTHON ARGS...: the same, its output in $LOGS/NAME.log only, its exit code in NAME.rc
    local name=$1 python=$2 rc=0
    shift 2
    "$python" -m pytest -p no:cacheprovider -ra "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$LOGS/$name.rc"
    # On a line of its own: the real-kernel leg's progress line may be half written.
    printf '\n== %s: exit %s (%s) ==\n' "$name" "$rc" "$(grep -E '^=+ .*(passed|failed|error).* =+$' "$LOGS/$name.log" | tail -1)"
}
if [ $# -gt 0 ]; then
    leg salt3008 "$VENV/bin/python" --durations=15 "$@"
else
    # Every folder of tests/ that holds tests, the longest first; a new one runs without an edit here.
    host_tiers=(tests/integration tests/functional)
    timed_tiers=(tests/emulator)
    for dir in tests/*/; do
        dir=${dir%/}
        case " ${host_tiers[*]} ${timed_tiers[*]} tests/realkernel " in *" $dir "*) continue ;; esac
        compgen -G "$dir/test_*.py" >/dev/null && host_tiers+=("$dir")
    done
    rm -f "$LOGS/emulator.rc" "$LOGS/salt3008.rc" "$LOGS/salt3006.rc"
    # If the preparation fails, the real-kernel leg's fixture meets the same failure and reports it.
    "$VENV/bin/python" -m tests.realkernel.harness --prepare >"$LOGS/realkernel-prepare.log" 2>&1 &
    prepare=$!
    echo "== emulator, then salt3008 and salt3006 at nice 19: beside the real-kernel tier (logs: $LOGS/emulator.log, salt3008.log, salt3006.log) =="
    (
        quiet_leg emulator "$VENV/bin/python" -n "$WORKERS" "${timed_tiers[@]}"
        renice -n 19 -p "$BASHPID" >/dev/null  # before any child: the legs and their Salt daemons inherit it
        quiet_leg salt3008 "$VENV/bin/python" -n "$WORKERS" --dist loadfile --durations=15 "${host_tiers[@]}"
        if [ -z "${MDTMIRROR_SKIP_SALT3006:-}" ]; then
            if VENV=.venv-salt3006 REQUIREMENTS=requirements-salt3006.txt scripts/setup.sh >"$LOGS/salt3006-setup.log" 2>&1; then
                quiet_leg salt3006 .venv-salt3006/bin/python -n "$WORKERS" --dist loadfile tests/functional tests/unit
            else
                echo "== salt3006: the Salt 3006 virtualenv could not be set up (see $LOGS/salt3006-setup.log) =="
                echo 1 >"$LOGS/salt3006.rc"
            fi
        fi
    ) </dev/null &
    beside=$!
    wait "$prepare" || echo "real-kernel cache preparation failed (see $LOGS/realkernel-prepare.log)"
    leg realkernel "$VENV/bin/python" --durations=15 tests/realkernel
    wait "$beside" || status=1
    for name in emulator salt3008 salt3006; do
        [ -e "$LOGS/$name.rc" ] || continue
        legs+=("$name")
        [ "$(cat "$LOGS/$name.rc")" = 0 ] || status=1
    done
fi

for leg in "${legs[@]}"; do
    verdict "$LOGS/$leg.log" "$leg"
done
exit "$status"
