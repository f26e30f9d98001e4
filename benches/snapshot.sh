#!/usr/bin/env bash
# What the snapshot costs on big workspaces, end to end, with timestamps taken
# by the child and the agent themselves (as in heal_latency.sh):
#   crash -> fix agent spawned   (state directory, snapshot start, history, prompt)
#   fix agent exit -> new child  (what the fix changed, undo record, history entry, restart)
# and, from `-v`: the part of the snapshot taken before the agent starts, the
# background copy (when it ended before the agent did), otorepair's peak RSS.
# Workspaces (git repositories, built once under $BENCH_DIR or a temp dir):
#   empty: the crashing script and the file the fix edits, nothing else
#   big:   the same + 100,000 files in a node_modules nobody ignored
#          + a 1 GiB untracked, not ignored data file (random bytes)
#   src:   the same as empty + 100,000 small source files nobody ignored
#          (src/gen/pkgNNNN/mNNN.py) + the same 1 GiB file
# Agents: "named" says which file it edited (a claude-format tool event: only
# that file is compared), "shell" does not (a custom command: every file the
# snapshot covers is compared again); both edit at once. "think" is "named"
# waiting 2 s first, as a real agent does before its first edit (the
# background copy ends meanwhile); "shell-think" is "shell" waiting 2 s too
# (so the whole-tree comparison meets a complete snapshot).
# Also checks that no fix changed anything in the user's .git (otorepair's own
# .git/otorepair/ aside).
#   benches/snapshot.sh [RUNS]          (default 5); builds --release first
#   REF=/path/to/old/otorepair [REF_RUNS=1] benches/snapshot.sh RUNS
#       also times that binary, REF_RUNS times per row, on a fresh copy of
#       each workspace (it may write into .git)
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
  if [ "$2" != empty ]; then
    python3 - "$ws" "$2" <<'PY'
import os, sys
ws, kind = sys.argv[1], sys.argv[2]
root, ext = (os.path.join(ws, "node_modules"), "js") if kind == "big" else (os.path.join(ws, "src", "gen"), "py")
for d in range(1000):
    pkg = os.path.join(root, "pkg%04d" % d)
    os.makedirs(pkg)
    for f in range(100):
        with open(os.path.join(pkg, "m%03d.%s" % (f, ext)), "w") as fh:
            fh.write("value_%d = %d\n" % (f, f))
PY
    head -c $((1 << 30)) /dev/urandom > "$ws/data.bin"
  fi
}

# A `claude` that stamps its start and end, edits app.txt and names it;
# after $THINK seconds when set.
agents=$work/agents
mkdir -p "$agents"
cat > "$agents/claude" <<SH
#!/bin/sh
date +%s.%N > $stamps/fix_started
cat >/dev/null
[ -z "\$THINK" ] || sleep "\$THINK"
sed -i s/broken/fixed/ app.txt
printf '{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Edit","input":{"file_path":"%s/app.txt"}}]}}\n' "\$PWD"
printf '{"type":"result","is_error":false,"duration_ms":1,"result":"done"}\n'
date +%s.%N > $stamps/fix_ended
SH
chmod +x "$agents/claude"
shell_agent() { # think? (then it waits 2 s before its edit)
  echo "date +%s.%N > $stamps/fix_started; cat >/dev/null; ${1:+sleep 2;} sed -i s/broken/fixed/ app.txt; date +%s.%N > $stamps/fix_ended"
}
timed=()
[ -x /usr/bin/time ] && timed=(/usr/bin/time -o "$stamps/rss" -f %M)

ms() { echo "($1 - $2) * 1000" | bc -l; }
stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "median %7.1f ms, max %7.1f ms (n=%d)", a[int((NR+1)/2)], a[NR], NR}'; }
git_digest() { (cd "$1/.git" && find . -path ./otorepair -prune -o -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-12); }

# From a `-v` log: the ms of the part before the agent, of the whole copy.
# (A build before the background copy printed the whole snapshot's time.)
early_ms() {
  sed -n -e 's/.*captured before the agent starts, in \([0-9.]*\) ms.*/\1/p' \
    -e 's/.*snapshot: [0-9]* files copied .* in \([0-9.]*\) ms$/\1/p' "$1" | head -1
}
copy_ms() { sed -n 's/.*snapshot complete: .* in \([0-9.]*\) ms (.*/\1/p' "$1" | head -1; }

one_fix() { # bin ws mode
  rm -f "$stamps"/*
  echo broken > "$2/app.txt"  # not `git checkout`: that would refresh the index
  local log=$stamps/log
  case $3 in
    named|think)
      (cd "$2" && THINK=$([ "$3" = think ] && echo 2) PATH=$agents:$PATH \
        "${timed[@]}" "$1" -v --pty -- sh crash.sh >/dev/null 2>"$log" </dev/null) ;;
    shell|shell-think)
      (cd "$2" && "${timed[@]}" "$1" -v --pty --agent-cmd "$(shell_agent "${3#shell}")" \
        -- sh crash.sh >/dev/null 2>"$log" </dev/null) ;;
  esac
  crash+=("$(ms "$(cat "$stamps/fix_started")" "$(cat "$stamps/crashed_at")")")
  after+=("$(ms "$(cat "$stamps/restarted_at")" "$(cat "$stamps/fix_ended")")")
  local e c
  e=$(early_ms "$log"); [ -z "$e" ] || early+=("$e")
  c=$(copy_ms "$log"); [ -z "$c" ] || copy+=("$c")
  [ ! -s "$stamps/rss" ] || rss+=("$(tail -1 "$stamps/rss")")
}

row() { # label
  printf '%-5s %-11s %s crash -> agent spawned: %s   goal <= 50 ms\n' "$name" "$mode" "$1" "$(stats "${crash[@]}")"
  printf '%-5s %-11s %s agent exit -> restart:  %s   goal <= 100 ms\n' "$name" "$mode" "$1" "$(stats "${after[@]}")"
  [ ${#early[@]} -eq 0 ] || printf '%-5s %-11s %s snapshot before agent:  %s\n' "$name" "$mode" "$1" "$(stats "${early[@]}")"
  [ ${#copy[@]} -eq 0 ] || printf '%-5s %-11s %s background copy done:  %s (runs where it ended first)\n' "$name" "$mode" "$1" "$(stats "${copy[@]}")"
  [ ${#rss[@]} -eq 0 ] || printf '%-5s %-11s %s peak RSS:               %s KiB\n' "$name" "$mode" "$1" \
    "$(printf '%s\n' "${rss[@]}" | sort -g | awk '{a[NR]=$1} END {printf "median %d, max %d", a[int((NR+1)/2)], a[NR]}')"
}

for name in empty big src; do
  make_ws "$name" "$name"
  ws=$work/$name
  du_before=$(du -sk "$ws/.git" | cut -f1)
  digest=$(git_digest "$ws")
  for mode in named shell think shell-think; do
    crash=(); after=(); early=(); copy=(); rss=()
    one_fix "$bin" "$ws" "$mode" # warm the page cache and the state directory
    crash=(); after=(); early=(); copy=(); rss=()
    for _ in $(seq "$runs"); do one_fix "$bin" "$ws" "$mode"; done
    row "   "
  done
  [ "$(git_digest "$ws")" = "$digest" ] && same=unchanged || same=CHANGED
  echo "$name: .git $du_before KiB before, $(du -sk "$ws/.git" | cut -f1) KiB after (otorepair's state included); user's .git content $same"
  if [ -n "${REF:-}" ]; then
    ref_ws=$work/ref-$name
    rm -rf "$ref_ws"; cp -a "$ws" "$ref_ws"; rm -rf "$ref_ws/.git/otorepair"
    for mode in named shell think shell-think; do
      crash=(); after=(); early=(); copy=(); rss=()
      for _ in $(seq "${REF_RUNS:-1}"); do one_fix "$REF" "$ref_ws" "$mode"; done
      row REF
    done
    echo "$name REF: .git $(du -sk "$ref_ws/.git" | cut -f1) KiB after"
    rm -rf "$ref_ws"
  fi
done
