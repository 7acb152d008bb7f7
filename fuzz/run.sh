#!/usr/bin/env bash
# Runs the cargo-fuzz targets, one after another, and prints each one's executions, rate and
# outcome. Every target asserts on its own (round trip, finite costs), so a failed check is a
# crash saved under fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh                      # 10 million executions per target (the acceptance count)
#   RUNS=100000 fuzz/run.sh          # fewer
#   SECONDS_EACH=20 fuzz/run.sh      # at most 20 s per target (what .ci/run does)
#   fuzz/run.sh trace_csv trace_ron  # only these targets
#   JOBS=4 fuzz/run.sh               # fuzz processes per target (libFuzzer -fork)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on stable Rust, RUSTC_BOOTSTRAP=1 is set here.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
RUNS="${RUNS:-10000000}"
JOBS="${JOBS:-1}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(host_profile workload_set trace_csv trace_ron storage_protocol calibrate_show)
fi
mkdir -p logs
# -timeout=1: an input that takes over a second is a hang, reported as a failure.
common=(-timeout=1 -rss_limit_mb=2048 -print_final_stats=1)
common+=(-runs="$RUNS")
if [ -n "${SECONDS_EACH:-}" ]; then
  common+=(-max_total_time="$SECONDS_EACH")
fi
[ "$JOBS" -gt 1 ] && common+=(-fork="$JOBS" -ignore_crashes=0)
# -max_len: the default 4 KiB would truncate the seeds. A host profile's cost is its parse, which
# grows with its length: 24 KiB holds the reference profile (23.7 KiB) and keeps the fuzzer from
# growing inputs towards 64 KiB, each of which would take proportionally longer to parse.
max_len() {
  case "$1" in
    host_profile | calibrate_show) echo 24576 ;;
    *) echo 65536 ;;
  esac
}
status=0
printf '%-18s %12s %10s %8s %s\n' target executions exec/s seconds outcome
for t in "${targets[@]}"; do
  limit=("${common[@]}" -max_len="$(max_len "$t")")
  mkdir -p "corpus/$t"
  start=$(date +%s)
  if cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- "${limit[@]}" \
      >"logs/$t.log" 2>&1; then
    outcome=ok
  else
    outcome="FAILED (see fuzz/logs/$t.log and fuzz/artifacts/$t/)"
    status=1
  fi
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | awk '{s+=$2} END {print s+0}')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | tail -1 | awk '{print $2+0}')
  printf '%-18s %12s %10s %8s %s\n' "$t" "$execs" "$rate" "$took" "$outcome"
done
exit $status
