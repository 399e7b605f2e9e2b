#!/usr/bin/env bash
# Runs every test suite under tests/ and prints one summary line: "N passed, N failed, N skipped".
#
# - Stackscope.Core.Tests runs twice, built Debug and Release: the compiler lays out async state
#   machines differently in each (classes vs structs, other hoisted-field names) and both must work.
# - A glue suite (a tests/ project marked <StackscopeGlueSuite>true</StackscopeGlueSuite>) whose
#   framework packages cannot be restored from the configured NuGet sources is skipped, with one
#   line naming the missing package; wherever they restore, it builds and runs like any other suite.
# - A suite marked <StackscopeNeedsDocker>true</StackscopeNeedsDocker> runs real storages in containers: before it,
#   scripts/ensure-docker.sh makes a Docker engine and the project's images available (installing Debian's docker.io and
#   starting dockerd if needed); a dockerd it started is stopped, by its pid, when the run ends.
# Exit status: 0 only if every suite that ran passed and at least one test ran.
set -uo pipefail
cd "$(dirname "$0")/.."

results_root="artifacts/test-results"
rm -rf "$results_root"
mkdir -p "$results_root"

passed=0 failed=0 skipped=0 broken=0 retried=""

count_trx() { # $1: trx file -> adds its counters to the totals
  local counters
  counters=$(grep -o '<Counters [^>]*>' "$1" | head -n 1)
  local total executed p f
  total=$(sed -E 's/.* total="([0-9]+)".*/\1/' <<<"$counters")
  executed=$(sed -E 's/.* executed="([0-9]+)".*/\1/' <<<"$counters")
  p=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
  f=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + total - executed))
  echo "    $p passed, $f failed, $((total - executed)) skipped"
}

run_suite() { # $1: project dir, $2: configuration, $3: attempt (internal)
  local project=$1 config=$2 attempt=${3:-1} name
  name=$(basename "$project")
  local out="$results_root/$name-$config"
  [ "$attempt" -gt 1 ] && out="$out-attempt$attempt"
  echo "==> $name ($config)"
  # A suite normally takes well under a minute. One that hangs is stopped after 4 minutes; one that hangs
  # or aborts (test host crash) is run again, at most twice, and the summary says so: such a retry is a bug to fix,
  # reported rather than hidden (see the closing notes on issue #4 for the known intermittent hang).
  timeout 240 dotnet test "$project" -c "$config" --nologo --logger "trx;LogFileName=results.trx" --results-directory "$out" \
      >"$out.log" 2>&1
  local status=$?
  local aborted=0
  if ! ls "$out"/*.trx >/dev/null 2>&1; then
    aborted=1
  elif [ "$status" -ne 0 ] && ! grep -qE '<Counters [^>]* failed="[1-9]' "$out"/*.trx; then
    aborted=1 # dotnet test failed but no test did: the run did not complete
  fi
  if [ "$aborted" -eq 1 ]; then
    echo "    the test run did not complete (exit $status$([ "$status" -eq 124 ] && echo ', timed out')); see $out.log"
    grep -E "aborted|crash|error" "$out.log" | head -n 5 | sed 's/^/    /'
    # A build error is not a hang: running it again cannot help.
    if [ "$attempt" -lt 3 ] && ! grep -qE ": error [A-Z]+[0-9]+:" "$out.log" \
        && grep -q "<StackscopeProcessSuite>true</StackscopeProcessSuite>" "$project/$name.csproj"; then
      echo "    RETRY: running $name once more"
      retried="$retried $name"
      run_suite "$project" "$config" $((attempt + 1))
      return
    fi
    broken=$((broken + 1))
    return
  fi
  if [ "$status" -ne 0 ]; then
    grep -E "^\s+Failed |Error Message|Assert" "$out.log" | head -n 40 | sed 's/^/    /'
  fi
  for trx in "$out"/*.trx; do count_trx "$trx"; done
}

for project in tests/*/; do
  project=${project%/}
  csproj="$project/$(basename "$project").csproj"
  [ -f "$csproj" ] || continue
  grep -q "<IsTestProject>true</IsTestProject>" "$csproj" || continue   # fixtures and helpers under tests/ are not suites
  if grep -q "<StackscopeGlueSuite>true</StackscopeGlueSuite>" "$csproj"; then
    restore_log="$results_root/$(basename "$project")-restore.log"
    if ! dotnet restore "$csproj" --nologo >"$restore_log" 2>&1; then
      # NU1101 "Unable to find package Akka. No packages exist..." / NU1102 "... package Akka with version (>= 1.5.74)".
      missing=$(grep -oE "NU110[0-9]: Unable to find package [^ ]+( with version \([^)]*\))?" "$restore_log" \
        | sed -E 's/NU110[0-9]: Unable to find package //; s/\.$//' | sort -u | paste -sd, - | sed 's/,/, /g')
      if [ -n "$missing" ]; then
        echo "skipped: $(basename "$project") (missing from the configured NuGet sources: $missing)"
        continue
      fi
      echo "==> $(basename "$project"): restore failed; see $restore_log"
      broken=$((broken + 1))
      continue
    fi
  fi
  if grep -q "<StackscopeNeedsDocker>true</StackscopeNeedsDocker>" "$csproj" && [ -z "${docker_env:-}" ]; then
    # Real storages in containers: a Docker engine and the project's images (scripts/ensure-docker.sh installs and
    # starts what is missing, and prints the environment Testcontainers needs). Started once for the whole run.
    [ -f artifacts/docker/dockerd.pid ] && docker_ours=no || docker_ours=yes # a dockerd started before this run stays up
    if ! docker_env=$(bash scripts/ensure-docker.sh 2>"$results_root/docker.log"); then
      echo "==> $(basename "$project"): could not start Docker or build the images; see $results_root/docker.log"
      tail -n 5 "$results_root/docker.log" | sed 's/^/    /'
      docker_env=""
      broken=$((broken + 1))
      continue
    fi
    eval "$docker_env"
  fi
  if grep -q "<StackscopeNeedsChromium>true</StackscopeNeedsChromium>" "$csproj"; then
    # Pages rendered in headless Chromium: Debian's package, installed here when missing.
    if ! bash scripts/ensure-chromium.sh >"$results_root/chromium.log" 2>&1; then
      echo "==> $(basename "$project"): could not install Chromium; see $results_root/chromium.log"
      broken=$((broken + 1))
      continue
    fi
  fi
  if [ "$(basename "$project")" = "Stackscope.Core.Tests" ]; then
    run_suite "$project" Debug
    run_suite "$project" Release
  else
    run_suite "$project" Release
  fi
done

if [ "${docker_ours:-no}" = yes ] && [ -f artifacts/docker/dockerd.pid ]; then
  bash scripts/ensure-docker.sh --stop 2>/dev/null # the dockerd this run started, ended by its pid
fi
if [ -n "$retried" ]; then
  echo "suites re-run after a hang or abort:$retried"
fi
if [ "$broken" -gt 0 ]; then
  echo "$broken suite(s) did not build or run"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ] && [ "$passed" -gt 0 ]
