#!/usr/bin/env bash
# Repeatability of calibration plus the quick storage sweep (issue 15): runs `calibrate run`
# and `storage_server --quick --host` N times in a row, and prints each run's noise grade,
# steal and other-process CPU, calibration time and fidelity line, then the spread of the median
# abs errors and, over the first three profiles, how many of each run's headline coefficients
# fall inside the others' 95% intervals (the `coverage` example), and last whether the batch
# met each of the issue's two figures (`five-run item:`, `coverage item:`; where some runs gave
# no figure and each said why, also `five-run item as worded:`, the figures given judged and the
# others counted as the runs saying the host was too noisy). Each sweep's
# `level:` line is printed too, and over the batch the levels' range, the errors left with
# each run's level taken out and how far apart each sweep's repetitions read: whether the spread
# came from a drifting host, from the measured side's own noise, or from the model.
#
#   calibrate/scripts/repeatability.sh [N=5] [extra calibrate run flags, e.g. --quick]
#
# PROFILE=debug builds and runs debug binaries (quicker to build; slower, noisier numbers).
# KV=1 also runs `storage_server kv-fidelity --quick` after each sweep: `calibrate server`
# against the sweep's own storage server, its rounds alternated with the sweep's so both span the
# same minutes, then the sweep priced from those terms, printing its `kv fidelity:` line and the
# echo's line for the same points.
# SWEEP_ARGS="--reps 5 --span 60" passes those flags to each sweep (here: five repetitions a
# point, the rounds spread over at least a minute, as a standard calibration's five rounds are).
# HOLD=1 passes --hold-free-cores to each calibration (its sweep then holds its own repetitions
# to free cores too, as the profile records).
# A run graded unusable has no profile to predict from: it is listed with its grade and no
# fidelity figure, as the acceptance asks ("says so instead of reporting a number").
set -u
n=${1:-5}
shift || true
cd "$(dirname "$0")/../.."
profile=${PROFILE:-release}
if [ "$profile" = release ]; then flag=--release; bin=target/release; else flag=; bin=target/debug; fi
cargo build $flag -p calibrate --bin calibrate >&2 || exit 1
cargo build $flag -p examples --example storage_server >&2 || exit 1
cargo build $flag -p calibrate --example coverage >&2 || exit 1
dir=$(mktemp -d)
# Which machine: figures from one VM do not carry to another of the same size.
echo "# $(date -u '+%F %H:%M UTC'); $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name\s*: //'), $(nproc) cpus; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)${HOLD:+; HOLD=$HOLD}${SWEEP_ARGS:+; sweep $SWEEP_ARGS}"
errors=()
kv_errors=()
# Runs that gave no figure and said why: a sweep's `fidelity: not scored: ...` line, or a
# calibration graded unusable (`host-N.unusable.ron`).
said=0
levels=()
shapes=()
reps=()
for i in $(seq 1 "$n"); do
  out="$dir/host-$i.ron"
  start=$SECONDS
  hold=()
  [ "${HOLD:-0}" = 1 ] && hold=(--hold-free-cores)
  ./$bin/calibrate run --out "$out" ${hold[@]+"${hold[@]}"} "$@" >"$dir/cal-$i.txt" 2>&1
  rc=$?
  took=$((SECONDS - start))
  # Exit 1 with a profile written is a run whose failed measurements kept their cited defaults
  # (said on its last line): the profile is still predicted from, and the failure shown.
  if [ -f "$out" ]; then
    grade=$(grep -m1 '^noise grade:' "$dir/cal-$i.txt" | sed 's/^noise grade: //')
    # shellcheck disable=SC2086 # SWEEP_ARGS is a list of flags
    ./$bin/examples/storage_server --quick --host "$out" --out "$dir/sweep-$i" ${SWEEP_ARGS:-} \
      >"$dir/sweep-$i.txt" 2>&1
    fid=$(grep -m1 '^fidelity:' "$dir/sweep-$i.txt")
    speed=$(grep -m1 '^speed:' "$dir/sweep-$i.txt")
    cores=$(grep -m1 '^cores:' "$dir/sweep-$i.txt")
    level=$(grep -m1 '^level:' "$dir/sweep-$i.txt")
    err=$(sed -n 's/.*median_abs_error_pct=\([0-9.]*\).*/\1/p' <<<"$fid")
    [ -n "$err" ] && errors+=("$err")
    case "$fid" in "fidelity: not scored: "*) said=$((said + 1)) ;; esac
    echo "run $i: calibrate ${took} s; $grade"
    [ "$rc" -ne 0 ] && echo "       calibrate exited $rc: $(tail -n1 "$dir/cal-$i.txt" | cut -c1-160)"
    echo "       ${fid:-fidelity: (sweep failed, see $dir)}"
    [ -n "$speed" ] && echo "       $speed"
    [ -n "$cores" ] && echo "       $cores"
    # The calibration's rounds on shared cores: left out where the item had free ones (the last
    # attempt's line: a run measured again after losing the machine state notes each).
    rounds_shared=$(grep 'rounds of transports and schemes read their cores shared' "$dir/cal-$i.txt" | tail -n1 | sed 's/^ *note: noise: //')
    [ -n "$rounds_shared" ] && echo "       calibration rounds: $rounds_shared"
    if [ -n "$level" ]; then
      echo "       $level"
      levels+=("$(sed -n 's/^level: the scored points measured \([0-9.]*\)x.*/\1/p' <<<"$level")")
      shape=$(sed -n 's/.*taken out the median abs error is \([0-9.]*\)%.*/\1/p' <<<"$level")
      [ -n "$shape" ] && shapes+=("$shape")
      rep=$(sed -n "s/.*a point's repetitions \([0-9.]*\)x apart.*/\1/p" <<<"$level")
      [ -n "$rep" ] && reps+=("$rep")
    fi
    if [ "${KV:-0}" = 1 ]; then
      ./$bin/examples/storage_server kv-fidelity --quick --host "$out" --out "$dir/kv-$i" \
        >"$dir/kv-$i.txt" 2>&1
      grep -E '^(kv fidelity: (median|not scored)|echo \(same points\))' "$dir/kv-$i.txt" \
        | tail -n2 | sed 's/^/       /' | grep . \
        || echo "       kv-fidelity failed: $(tail -n1 "$dir/kv-$i.txt" | cut -c1-160)"
      kv=$(grep -E '^kv fidelity: median' "$dir/kv-$i.txt" | tail -n1 \
        | sed -n 's/.*median_abs_error_pct=\([0-9.]*\).*/\1/p')
      [ -n "$kv" ] && kv_errors+=("$kv")
    fi
  else
    [ -f "$dir/host-$i.unusable.ron" ] && said=$((said + 1))
    echo "run $i: calibrate ${took} s; $(tail -n1 "$dir/cal-$i.txt")"
  fi
done
# min, max and spread of the figures given, prefixed by $1, and how many of the $n runs gave no
# figure (said they were too noisy, or failed) and how many figures are at or under 15%, the
# issue's bar: a batch where most runs gave no figure is not five figures within the bar.
spread() {
  local what=$1
  shift
  printf '%s\n' "$@" | sort -n | awk -v what="$what" -v n="$n" '
    { v[NR] = $1; if ($1 <= 15) under++ }
    END { printf "%s over %d runs: min %.1f%%, max %.1f%%, spread %.1f points; %d of %d runs at or under 15%%, %d with no figure\n",
          what, NR, v[1], v[NR], v[NR] - v[1], under, n, n - NR }'
}
[ "${#errors[@]}" -gt 0 ] && spread "median abs error" "${errors[@]}"
[ "${#kv_errors[@]}" -gt 0 ] && spread "kv median abs error" "${kv_errors[@]}"
# Where the spread comes from: each scored run's one factor between measured and predicted
# (the sweep's `level:` line), and the error left with it taken out. Levels far apart with the
# errors left close together say the host drifted between calibrations and sweeps, not that
# the model's shape changed.
if [ "${#levels[@]}" -gt 0 ]; then
  printf '%s\n' "${levels[@]}" | sort -n | awk '{ v[NR] = $1 }
    END { printf "levels (measured over predicted) over %d runs: %.2fx to %.2fx\n", NR, v[1], v[NR] }'
  [ "${#shapes[@]}" -gt 0 ] && spread "median abs error with each run's level taken out" "${shapes[@]}"
  [ "${#reps[@]}" -gt 0 ] && printf '%s\n' "${reps[@]}" | sort -n | awk '{ v[NR] = $1 }
    END { printf "a point'"'"'s repetitions apart (median over each sweep'"'"'s points) over %d runs: %.2fx to %.2fx\n", NR, v[1], v[NR] }'
fi
# Only profiles graded usable: a run graded unusable writes host-N.unusable.ron.
profiles=()
for f in "$dir"/host-[0-9]*.ron; do
  case "$f" in *.unusable.ron) ;; *) profiles+=("$f") ;; esac
done
lowest=
if [ "${#profiles[@]}" -ge 2 ]; then
  cover=$(./$bin/examples/coverage "${profiles[@]:0:3}" | grep -v '^    ')
  echo "$cover"
  lowest=$(sed -n 's/^lowest share over all pairs: \([0-9.]*\)%.*/\1/p' <<<"$cover")
fi
# The issue's two figures, judged as its acceptance words them: N runs each with a figure at or
# under 15% and all within a 5-point band; at least 80% of each of three calibrations'
# headline coefficients inside the others' 95% intervals.
if [ "${#errors[@]}" -eq "$n" ]; then
  printf '%s\n' "${errors[@]}" | sort -n | awk -v n="$n" '
    { v[NR] = $1; if ($1 > 15) over++ }
    END { band = v[NR] - v[1]
          if (!over && band <= 5) printf "five-run item: met (%d figures at or under 15%%, %.1f points apart)\n", n, band
          else printf "five-run item: not met (%d of %d figures over 15%%, %.1f points apart)\n", over, n, band }'
else
  echo "five-run item: not met ($((n - ${#errors[@]})) of $n runs gave no figure)"
  # As the issue words it, a run may say the host was too noisy instead of giving a number:
  # judged that way too when every run without a figure said why (none failed), and only when
  # two runs or more gave a figure (a band needs two).
  if [ "$said" -eq $((n - ${#errors[@]})) ] && [ "${#errors[@]}" -gt 1 ]; then
    printf '%s\n' "${errors[@]}" | sort -n | awk -v said="$said" '
      { v[NR] = $1; if ($1 > 15) over++ }
      END { band = v[NR] - v[1]
            verdict = (!over && band <= 5) ? "met" : "not met"
            printf "five-run item as worded (a figure, or the run saying why it gives none): %s (%d figures, %d over 15%%, %.1f points apart; %d runs said why they gave none)\n",
                   verdict, NR, over, band, said }'
  elif [ "$said" -eq $((n - ${#errors[@]})) ]; then
    # A band needs two figures.
    echo "five-run item as worded: too few figures to judge (${#errors[@]} given; $said of $n runs said why they gave none)"
  fi
fi
if [ "${#profiles[@]}" -lt 3 ]; then
  echo "coverage item: not judged (${#profiles[@]} usable profiles, three needed)"
elif awk -v x="$lowest" 'BEGIN { exit !(x != "" && x + 0 >= 80) }'; then
  echo "coverage item: met (lowest pair ${lowest}%)"
else
  echo "coverage item: not met (lowest pair ${lowest:-unknown}%)"
fi
echo "profiles and logs in $dir"
