#!/usr/bin/env bash
# Issue #17: dotnet-stackscope reading a heap dump vs dotnet-dump's `dumpasync --coalesce` on the same dump.
#
#   scripts/bench-dumpasync.sh [--chains N] [--depth D] [--runs R] [--keep-dump]
#
# Defaults: 300,000 suspended chains of 2 async frames (tests/Stackscope.Fixture), 2 measured runs of each reader.
# Steps, each bounded in time:
#   1. builds tests/Stackscope.Fixture and src/Stackscope.Tool in Release, and installs the dotnet-dump global tool
#      (10.0.750501) under artifacts/tools/dotnet-dump with `dotnet tool install --tool-path` (never globally);
#   2. starts the fixture, waits for its "READY <pid>" line (120 s at most), and writes one heap dump of it with
#      `dotnet-dump collect --type Heap` (300 s at most) into artifacts/bench-dumpasync/, after checking disk space;
#   3. ends the fixture (a line on its stdin, then by its pid if it has not exited within 30 s);
#   4. runs each reader on that dump under GNU time (`/usr/bin/time -v`; Debian's `time` package is installed if
#      missing), interleaved (ours, dumpasync, ours, dumpasync, ...), stdout to /dev/null:
#        dotnet <tool>/dotnet-stackscope.dll --dump <file> --format json
#        dotnet-dump analyze <file> -c "dumpasync --coalesce" -c exit
#      Wall time is GNU time's elapsed time; peak memory is its "Maximum resident set size" (the reader's peak RSS:
#      both run in the process GNU time starts, dotnet's host and dotnet-dump's apphost load the runtime in-process);
#   5. runs each reader once more, unmeasured, with its output kept, and prints the evidence that both saw the
#      chains (our JSON forest's group counts; dumpasync's coalesced counts);
#   6. prints a markdown table (wall s, peak RSS MB, ratios ours/dumpasync per run) and deletes the dump.
# The dump is read from the page cache in every run (it was just written; the machine has far more memory than it).
# Nothing here connects anywhere but the fixture's local diagnostics socket (and NuGet, for the tool install).
# The fixture and every reader are ended by pid on exit or failure (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

chains=300000
depth=2
runs=2
keep_dump=0
while [ $# -gt 0 ]; do
  case "$1" in
    --chains) chains=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --keep-dump) keep_dump=1; shift ;;
    *) echo "usage: $0 [--chains N] [--depth D] [--runs R] [--keep-dump]" >&2; exit 2 ;;
  esac
done

dotnet_dump_version=10.0.750501
ready_timeout=${BENCH_READY_TIMEOUT:-120}    # s for the fixture to build its chains and print READY
dump_timeout=${BENCH_DUMP_TIMEOUT:-300}      # s for dotnet-dump collect
reader_timeout=${BENCH_READER_TIMEOUT:-1200} # s for one reader run
work="$repo/artifacts/bench-dumpasync"
tools="$repo/artifacts/tools/dotnet-dump"
dump="$work/fixture-$chains-$depth.dmp"
fixture_dll="$repo/tests/Stackscope.Fixture/bin/Release/net10.0/Stackscope.Fixture.dll"
tool_dll="$repo/src/Stackscope.Tool/bin/Release/net10.0/dotnet-stackscope.dll"
dotnet_dump="$tools/dotnet-dump"

started=$(date +%s)
log() { echo "[bench-dumpasync $(date -u +%H:%M:%S)] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

fixture_pid=""
fifo=""
cleanup() {
  local status=$?
  if [ -n "$fixture_pid" ] && kill -0 "$fixture_pid" 2>/dev/null; then
    log "ending the fixture (pid $fixture_pid)"
    kill "$fixture_pid" 2>/dev/null || true
    wait "$fixture_pid" 2>/dev/null || true
  fi
  exec 3>&-
  [ -n "$fifo" ] && rm -f "$fifo"
  if [ -f "$dump" ] && [ "$keep_dump" -eq 0 ]; then
    rm -f "$dump"
    log "deleted $dump"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work"
rm -f "$work"/*.dmp

# 1. Build and tools.
if [ ! -x /usr/bin/time ]; then
  log "GNU time is missing: installing Debian's 'time' package"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq >/dev/null
  $sudo_cmd apt-get install -y -qq --no-install-recommends time >/dev/null
fi
/usr/bin/time -v true 2>/dev/null || fail "/usr/bin/time -v does not work"

log "building the fixture and the tool (Release)"
dotnet build -c Release -nologo -v q tests/Stackscope.Fixture/Stackscope.Fixture.csproj >"$work/build-fixture.log" 2>&1 \
  || { tail -n 30 "$work/build-fixture.log" >&2; fail "fixture build"; }
dotnet build -c Release -nologo -v q src/Stackscope.Tool/Stackscope.Tool.csproj >"$work/build-tool.log" 2>&1 \
  || { tail -n 30 "$work/build-tool.log" >&2; fail "tool build"; }
[ -f "$fixture_dll" ] || fail "no $fixture_dll after the build"
[ -f "$tool_dll" ] || fail "no $tool_dll after the build"

if ! [ -x "$dotnet_dump" ] || ! dotnet tool list --tool-path "$tools" 2>/dev/null | grep -q "$dotnet_dump_version"; then
  log "installing dotnet-dump $dotnet_dump_version under $tools"
  rm -rf "$tools"
  timeout 300 dotnet tool install dotnet-dump --version "$dotnet_dump_version" --tool-path "$tools" >"$work/tool-install.log" 2>&1 \
    || { cat "$work/tool-install.log" >&2; fail "dotnet tool install dotnet-dump $dotnet_dump_version"; }
fi
"$dotnet_dump" --version >/dev/null 2>&1 || fail "$dotnet_dump does not run"

# Disk: a heap dump of 300,000 2-frame chains is about 150 MiB here (about 70 MiB for an idle process plus about
# 140 bytes an async frame); ask for 1 GiB free plus 2 KiB a frame (2.2 GiB by default), a wide margin.
need_kb=$((1024 * 1024 + chains * depth * 2))
avail_kb=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
log "disk: $((avail_kb / 1024)) MiB free in $work, $((need_kb / 1024)) MiB required"
[ "$avail_kb" -ge "$need_kb" ] || fail "not enough disk space for the dump: $((avail_kb / 1024)) MiB free, $((need_kb / 1024)) MiB required (df -h $work)"

# 2. The fixture: stdin from a fifo this script holds open (fd 3), so that it waits until we write a line.
fifo="$work/fixture.stdin"
rm -f "$fifo"
mkfifo "$fifo"
log "starting the fixture: --chains $chains --depth $depth"
dotnet "$fixture_dll" --chains "$chains" --depth "$depth" <"$fifo" >"$work/fixture.out" 2>&1 &
fixture_pid=$!
exec 3>"$fifo" # opens once the fixture's side is open, which the background job does first
deadline=$((SECONDS + ready_timeout))
until grep -q '^READY ' "$work/fixture.out" 2>/dev/null; do
  kill -0 "$fixture_pid" 2>/dev/null || { cat "$work/fixture.out" >&2; fail "the fixture exited before READY"; }
  [ "$SECONDS" -lt "$deadline" ] || fail "no READY from the fixture within ${ready_timeout} s"
  sleep 0.5
done
ready_pid=$(awk '/^READY / { print $2; exit }' "$work/fixture.out")
[ "$ready_pid" = "$fixture_pid" ] || fail "the fixture says pid $ready_pid, the script started $fixture_pid"
fixture_rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$fixture_pid/status")
log "fixture ready (pid $fixture_pid, RSS $((fixture_rss_kb / 1024)) MiB); writing a heap dump"

dump_start=$(date +%s.%N)
timeout "$dump_timeout" "$dotnet_dump" collect --type Heap -p "$fixture_pid" -o "$dump" >"$work/collect.log" 2>&1 \
  || { cat "$work/collect.log" >&2; fail "dotnet-dump collect (bounded to ${dump_timeout} s)"; }
dump_end=$(date +%s.%N)
[ -s "$dump" ] || fail "no dump at $dump"
dump_mb=$(( $(stat -c %s "$dump") / 1024 / 1024 ))
log "dump: $dump, $dump_mb MiB, written in $(awk -v a="$dump_start" -v b="$dump_end" 'BEGIN { printf "%.1f", b - a }') s"

# 3. The fixture is not needed any more: let it finish, or end it by its pid.
echo >&3 || true
exec 3>&-
for _ in $(seq 1 60); do kill -0 "$fixture_pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$fixture_pid" 2>/dev/null; then kill "$fixture_pid" 2>/dev/null || true; fi
wait "$fixture_pid" 2>/dev/null || true
fixture_pid=""

# 4. Measured runs. measure NAME RUN CMD... -> appends "NAME RUN wall_s maxrss_kb" to $work/results.txt
: >"$work/results.txt"
measure() {
  local name=$1 run=$2; shift 2
  local tlog="$work/time-$name-$run.txt"
  if ! timeout "$reader_timeout" /usr/bin/time -v -o "$tlog" "$@" >/dev/null 2>"$work/stderr-$name-$run.txt"; then
    cat "$tlog" "$work/stderr-$name-$run.txt" >&2 || true
    fail "$name run $run failed (or exceeded ${reader_timeout} s)"
  fi
  # Elapsed is h:mm:ss or m:ss.ss
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\) time/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$tlog")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tlog")
  log "$name run $run: ${wall} s, peak RSS $((rss / 1024)) MiB"
  echo "$name $run $wall $rss" >>"$work/results.txt"
}
ours=(dotnet "$tool_dll" --dump "$dump" --format json)
theirs=("$dotnet_dump" analyze "$dump" -c "dumpasync --coalesce" -c exit)
load_before=$(uptime)
for run in $(seq 1 "$runs"); do
  measure stackscope "$run" "${ours[@]}"
  measure dumpasync "$run" "${theirs[@]}"
done
load_after=$(uptime)

# 5. Evidence, unmeasured: both readers must see the chains.
log "evidence runs (unmeasured, output kept in $work)"
timeout "$reader_timeout" "${ours[@]}" >"$work/stackscope.json" 2>"$work/stackscope.evidence.err" || fail "dotnet-stackscope evidence run"
timeout "$reader_timeout" "${theirs[@]}" >"$work/dumpasync.txt" 2>"$work/dumpasync.evidence.err" || fail "dumpasync evidence run"

ours_groups=$(python3 - "$work/stackscope.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
f = d["forest"]
print(f"operations={f['operations']} groups={len(f['groups'])} errors={len(f['errors']) + len(d.get('errors', []))}")
for g in f["groups"]:
    frames = g["stack"]["frames"]
    print(f"  count={g['count']} frames={len(frames)} outermost={frames[0]['name'] if frames else '-'} leaf={(g['stack'].get('leaf') or {}).get('description')}")
EOF
)
ours_deep=$(python3 - "$work/stackscope.json" "$depth" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); depth = int(sys.argv[2])
print(sum(g["count"] for g in d["forest"]["groups"]
          if len(g["stack"]["frames"]) == depth and all("DeepAsync" in f["name"] for f in g["stack"]["frames"])))
EOF
)
# dumpasync --coalesce prints "[count] address (state) type" per frame, indented by depth; the fixture's chains
# are Orders+<DeepAsync>d__N frames. The counts on the least-indented DeepAsync lines (each chain's innermost frame,
# under the awaited gate's task) add up to the chains.
theirs_deep=$(awk '/DeepAsync/ && match($0, /\[[0-9]+\]/) {
    c = substr($0, RSTART + 1, RLENGTH - 2); match($0, /^ */); ind = RLENGTH
    if (min == "" || ind < min) { min = ind; sum = 0 }
    if (ind == min) sum += c
  } END { print sum + 0 }' "$work/dumpasync.txt")

echo
echo "### Evidence: what each reader saw"
echo
echo "dotnet-stackscope (JSON forest): $ours_groups" | sed 's/^/    /'
echo "    chains of $depth DeepAsync frames, summed over groups: $ours_deep"
echo
echo "dumpasync --coalesce (first lines):"
head -n 20 "$work/dumpasync.txt" | sed 's/^/    /'
echo "    chains (counts on the least-indented DeepAsync lines, summed): $theirs_deep"
echo

# 6. Table.
python3 - "$work/results.txt" "$runs" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, run, wall, rss = line.split()
    rows[(name, int(run))] = (float(wall), int(rss))
runs = int(sys.argv[2])
print("| Run | Reader | Wall (s) | Peak RSS (MiB) | Wall ratio (ours/dumpasync) | Peak RSS ratio (ours/dumpasync) |")
print("|----:|--------|---------:|--------------:|----------------------------:|--------------------------------:|")
for r in range(1, runs + 1):
    ow, orss = rows[("stackscope", r)]
    tw, trss = rows[("dumpasync", r)]
    print(f"| {r} | dotnet-stackscope `--dump --format json` | {ow:.2f} | {orss / 1024:.0f} | {ow / tw:.2f}x | {orss / trss:.2f}x |")
    print(f"| {r} | dotnet-dump `dumpasync --coalesce` | {tw:.2f} | {trss / 1024:.0f} | | |")
print()
for r in range(1, runs + 1):
    ow, orss = rows[("stackscope", r)]
    tw, trss = rows[("dumpasync", r)]
    wall_ok = ow / tw <= 0.5
    rss_ok = orss / trss <= 0.7
    print(f"Run {r}: wall {ow / tw:.2f}x (target <= 0.5x: {'met' if wall_ok else 'NOT met'}), "
          f"peak RSS {orss / trss:.2f}x (target <= 0.7x: {'met' if rss_ok else 'NOT met'})")
EOF
echo
echo "Dump: $dump_mb MiB heap dump of $chains chains x $depth frames (fixture RSS $((fixture_rss_kb / 1024)) MiB); dotnet-dump $dotnet_dump_version; $(dotnet --version) SDK."
echo "Load before the measured runs: $load_before"
echo "Load after the measured runs:  $load_after"
echo "Script wall time so far: $(( $(date +%s) - started )) s"

status=0
[ "$ours_deep" -eq "$chains" ] || { log "dotnet-stackscope saw $ours_deep chains, expected $chains"; status=1; }
[ "$theirs_deep" -eq "$chains" ] || { log "dumpasync saw $theirs_deep chains, expected $chains"; status=1; }
exit "$status"
