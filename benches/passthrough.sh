#!/usr/bin/env bash
# Passthrough benchmarks for the PTY shim, against `script` (util-linux), a raw
# PTY copy with no parsing, measured in the same run on the same file.
#   benches/passthrough.sh [MB]     (default 200)
#   BASE=/other/otorepair benches/passthrough.sh [MB]   also measures that build
#                                   (say, main's), interleaved in the same run
# otorepair runs with --dry-run (detection on every byte, no agent needed).
# Needs: script (util-linux), GNU time at /usr/bin/time. Builds --release first.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-200}
cargo build --release --quiet
bin=$PWD/target/release/otorepair
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
file=$work/colored.log

# A dev-server-like log with ANSI colours on every line.
python3 - "$file" "$mb" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
lines = [
    lambda i: f"\x1b[32mINFO\x1b[0m:     127.0.0.1:53412 - \"GET /api/items?page={i} HTTP/1.1\" \x1b[32m200 OK\x1b[0m\n",
    lambda i: f"\x1b[2m2026-11-25 10:00:{i % 60:02d}\x1b[0m \x1b[36mwebpack\x1b[0m compiled \x1b[1;32msuccessfully\x1b[0m in {i} ms\n",
    lambda i: f"\x1b[33mWARN\x1b[0m  deprecated option used in module {i}, see docs\n",
]
chunk = "".join(lines[i % 3](i) for i in range(3000)).encode()
with open(path, "wb") as f:
    written = 0
    while written < mb * 1024 * 1024:
        f.write(chunk)
        written += len(chunk)
PY
size=$(stat -c %s "$file")

secs() { # command... -> elapsed seconds (best of 3)
  local best=
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1 </dev/null; t1=$(date +%s.%N)
    local d; d=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$d < $best" | bc -l)" = 1 ]; then best=$d; fi
  done
  echo "$best"
}

echo "file: $((size / 1024 / 1024)) MiB of coloured log lines; $(nproc) cores"
s=$(secs script -qfec "cat $file" /dev/null)
o=$(secs "$bin" --dry-run --pty -- cat "$file")
printf 'throughput  script: %6.1f MB/s   otorepair: %6.1f MB/s   ratio: %.2f\n' \
  "$(echo "$size / $s / 1000000" | bc -l)" "$(echo "$size / $o / 1000000" | bc -l)" "$(echo "$s / $o" | bc -l)"
if [ -n "${BASE:-}" ]; then
  b=$(secs "$BASE" --dry-run --pty -- cat "$file")
  printf 'throughput  BASE: %6.1f MB/s   ratio to script: %.2f\n' \
    "$(echo "$size / $b / 1000000" | bc -l)" "$(echo "$s / $b" | bc -l)"
fi

rs=$(/usr/bin/time -f %M script -qfec "cat $file" /dev/null 2>&1 >/dev/null </dev/null | tail -1)
ro=$(/usr/bin/time -f %M "$bin" --dry-run --pty -- cat "$file" 2>&1 >/dev/null </dev/null | tail -1)
echo "peak RSS    script: ${rs} KiB   otorepair: ${ro} KiB"
if [ -n "${BASE:-}" ]; then
  rb=$(/usr/bin/time -f %M "$BASE" --dry-run --pty -- cat "$file" 2>&1 >/dev/null </dev/null | tail -1)
  echo "peak RSS    BASE: ${rb} KiB"
fi

cpu=$(/usr/bin/time -f '%U %S' "$bin" --dry-run --pty -- sleep 10 2>&1 >/dev/null </dev/null | tail -1)
echo "idle CPU    otorepair wrapping 'sleep 10': $(echo "$cpu" | awk '{printf "%.0f ms", ($1+$2)*1000}') (user+sys)"

start() { # 200 runs -> mean ms
  local t0 t1
  t0=$(date +%s.%N)
  for _ in $(seq 200); do "$@" >/dev/null 2>&1 </dev/null; done
  t1=$(date +%s.%N)
  echo "($t1 - $t0) * 1000 / 200" | bc -l
}
ss=$(start script -qfec true /dev/null)
so=$(start "$bin" --dry-run -- true)
printf 'start-up    script -qfec true: %.2f ms   otorepair -- true: %.2f ms   difference: %+.2f ms\n' "$ss" "$so" "$(echo "$so - $ss" | bc -l)"
if [ -n "${BASE:-}" ]; then
  sb=$(start "$BASE" --dry-run -- true)
  printf 'start-up    BASE -- true: %.2f ms\n' "$sb"
fi
