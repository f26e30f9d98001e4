#!/usr/bin/env bash
# What the snapshot costs on big workspaces, end to end, with timestamps taken
# by the child and the agent themselves (as in heal_latency.sh):
#   crash -> fix agent spawned   (state directory, snapshot, history, prompt)
#   fix agent exit -> new child  (what the fix changed, undo record, history entry, restart)
# Workspaces (git repositories, built once under $BENCH_DIR or a temp dir):
#   empty: the crashing script and the file the fix edits, nothing else
#   big:   the same + 100,000 files in a node_modules nobody ignored
#          + a 1 GiB untracked, not ignored data file (random bytes)
# Agents: "named" says which file it edited (a claude-format tool event: only
# that file is compared), "shell" does not (a custom command: every file the
# snapshot covers is compared again).
# Also checks that no fix changed anything in the user's .git (otorepair's own
# .git/otorepair/ aside).
#   benches/snapshot.sh [RUNS]          (default 5); builds --release first
#   REF=/path/to/old/otorepair benches/snapshot.sh 1   also times that binary,
#       once per workspace, on a fresh copy (it may write into .git)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet
bin=$PWD/target/release/otorepair
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
export XDG_STATE_HOME=$work/state
stamps=$work/stamps
mkdir -p "$stamps"

git_() { git -c user.name=bench -c user.email=bench@example.com -c init.defaultBranch=main "$@"; }

make_ws() { # name big?
  local ws=$work/$1
  [ -d "$ws/.git" ] && return 0
  mkdir -p "$ws"
  cat > "$ws/crash.sh" <<SH
#!/bin/sh
if grep -q fixed app.txt; then date +%s.%N > $stamps/restarted_at; exit 0; fi
echo "Error: app.txt is broken" >&2
date +%s.%N > $stamps/crashed_at
exit 1
SH
  echo "broken" > "$ws/app.txt"
  (cd "$ws" && git_ init -q && git_ add -A && git_ commit -qm init)
  if [ "$2" = big ]; then
    python3 - "$ws" <<'PY'
import os, sys
root = os.path.join(sys.argv[1], "node_modules")
for d in range(1000):
    pkg = os.path.join(root, "pkg%04d" % d)
    os.makedirs(pkg)
    for f in range(100):
        with open(os.path.join(pkg, "m%03d.js" % f), "w") as fh:
            fh.write("module.exports = %d;\n" % f)
PY
    head -c $((1 << 30)) /dev/urandom > "$ws/data.bin"
  fi
}

# A `claude` that stamps its start and end, edits app.txt and names it.
agents=$work/agents
mkdir -p "$agents"
cat > "$agents/claude" <<SH
#!/bin/sh
date +%s.%N > $stamps/fix_started
cat >/dev/null
sed -i s/broken/fixed/ app.txt
printf '{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Edit","input":{"file_path":"%s/app.txt"}}]}}\n' "\$PWD"
printf '{"type":"result","is_error":false,"duration_ms":1,"result":"done"}\n'
date +%s.%N > $stamps/fix_ended
SH
chmod +x "$agents/claude"
shell_agent="date +%s.%N > $stamps/fix_started; cat >/dev/null; sed -i s/broken/fixed/ app.txt; date +%s.%N > $stamps/fix_ended"

ms() { echo "($1 - $2) * 1000" | bc -l; }
stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "median %7.1f ms, max %7.1f ms (n=%d)", a[int((NR+1)/2)], a[NR], NR}'; }
git_digest() { (cd "$1/.git" && find . -path ./otorepair -prune -o -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-12); }

one_fix() { # bin ws mode
  rm -f "$stamps"/*
  echo broken > "$2/app.txt"  # not `git checkout`: that would refresh the index
  if [ "$3" = named ]; then
    (cd "$2" && PATH=$agents:$PATH "$1" --pty -- sh crash.sh >/dev/null 2>&1 </dev/null)
  else
    (cd "$2" && "$1" --pty --agent-cmd "$shell_agent" -- sh crash.sh >/dev/null 2>&1 </dev/null)
  fi
  crash+=("$(ms "$(cat "$stamps/fix_started")" "$(cat "$stamps/crashed_at")")")
  after+=("$(ms "$(cat "$stamps/restarted_at")" "$(cat "$stamps/fix_ended")")")
}

for name in empty big; do
  make_ws "$name" "$name"
  ws=$work/$name
  du_before=$(du -sk "$ws/.git" | cut -f1)
  digest=$(git_digest "$ws")
  for mode in named shell; do
    crash=(); after=()
    one_fix "$bin" "$ws" "$mode" # warm the page cache and the state directory
    crash=(); after=()
    for _ in $(seq "$runs"); do one_fix "$bin" "$ws" "$mode"; done
    printf '%-5s %-5s crash -> agent spawned: %s   goal <= 50 ms\n' "$name" "$mode" "$(stats "${crash[@]}")"
    printf '%-5s %-5s agent exit -> restart:  %s   goal <= 100 ms\n' "$name" "$mode" "$(stats "${after[@]}")"
  done
  [ "$(git_digest "$ws")" = "$digest" ] && same=unchanged || same=CHANGED
  echo "$name: .git $du_before KiB before, $(du -sk "$ws/.git" | cut -f1) KiB after (otorepair's state included); user's .git content $same"
  if [ -n "${REF:-}" ]; then
    ref_ws=$work/ref-$name
    rm -rf "$ref_ws"; cp -a "$ws" "$ref_ws"; rm -rf "$ref_ws/.git/otorepair"
    for mode in named shell; do
      crash=(); after=()
      t0=$(date +%s.%N); one_fix "$REF" "$ref_ws" "$mode"; t1=$(date +%s.%N)
      printf '%-5s %-5s REF crash -> agent spawned: %s; agent exit -> restart: %s; whole run %.1f s\n' \
        "$name" "$mode" "$(stats "${crash[@]}")" "$(stats "${after[@]}")" "$(echo "$t1 - $t0" | bc -l)"
    done
    echo "$name REF: .git $(du -sk "$ref_ws/.git" | cut -f1) KiB after"
    rm -rf "$ref_ws"
  fi
done
