#!/usr/bin/env bash
# Latency of the healing loop, end to end, with timestamps taken by the child and
# the agent themselves (so otorepair's own reporting is not trusted):
#   crash path:   child exit        -> fix agent spawned
#   live path:    last traceback line -> triage agent spawned
#   restart:      fix agent exit    -> new child spawned
#   benches/heal_latency.sh [RUNS]   (default 10); builds --release first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo build --release --quiet
bin=$PWD/target/release/otorepair
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

traceback='Traceback (most recent call last):\n  File "/srv/app.py", line 3, in <module>\n    main()\n  File "/srv/app.py", line 2, in main\n    return totals["total"]\nKeyError: %s\n'

cat > "$work/crash.sh" <<SH
#!/bin/sh
if [ -f fixed ]; then date +%s.%N > restarted_at; exit 0; fi
printf '$traceback' "'total'"
date +%s.%N > crashed_at
exit 1
SH
cat > "$work/live.sh" <<SH
#!/bin/sh
printf '$traceback' "'total'"
date +%s.%N > traceback_at
exec sleep 30
SH

ms() { echo "($1 - $2) * 1000" | bc -l; }
stats() { # values... -> "median X ms, max Y ms"
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "median %.1f ms, max %.1f ms (n=%d)", a[int((NR+1)/2)], a[NR], NR}'
}

crash=(); restart=(); live=()
for _ in $(seq "$runs"); do
  d=$(mktemp -d -p "$work"); cp "$work/crash.sh" "$work/live.sh" "$d/"; cd "$d"
  "$bin" --pty --agent-cmd 'date +%s.%N > fix_started; cat >/dev/null; touch fixed; date +%s.%N > fix_ended' \
    -- sh crash.sh >/dev/null 2>&1 </dev/null
  crash+=("$(ms "$(cat fix_started)" "$(cat crashed_at)")")
  restart+=("$(ms "$(cat restarted_at)" "$(cat fix_ended)")")

  "$bin" --pty --agent-cmd 'cat >/dev/null' \
    --triage-cmd 'date +%s.%N > triage_started; cat >/dev/null; echo NO' \
    -- sh live.sh >/dev/null 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 500); do [ -f triage_started ] && break; sleep 0.01; done
  kill -TERM "$pid"; wait "$pid" || true
  live+=("$(ms "$(cat triage_started)" "$(cat traceback_at)")")
  cd - >/dev/null
done
echo "crash path: child exit -> fix agent spawned:          $(stats "${crash[@]}")   goal <= 50 ms"
echo "live path: last traceback line -> triage spawned:     $(stats "${live[@]}")   goal <= 300 ms"
echo "restart: fix agent exit -> new child spawned:         $(stats "${restart[@]}")   goal <= 50 ms"
