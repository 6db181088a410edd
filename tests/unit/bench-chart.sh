#!/bin/sh
# bench/chart: a benchmark's printed report becomes an SVG with a panel per
# measure, a line per VMM across the rounds (a gap where a round failed) and
# its median; a report with no rounds is refused.
set -u
srcdir=${EMBER_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v gnuplot >/dev/null; then
	echo "cannot run: no gnuplot (Debian's gnuplot-nox; scripts/install-deps installs it)"
	[ "${EMBER_NEST_REQUIRE:-0}" = 1 ] && exit 99
	exit 77
fi
# shellcheck source=tests/unit/shcheck.sh
. "$srcdir/tests/unit/shcheck.sh"

cat >"$work/disk.txt" <<'REPORT'
seed: 7 (BENCH_SEED=7 repeats these orders)
round 0: qemu ember
rounds: 3 (medians; ratio = ember / QEMU microvm)
seqread    MB/s  ember 500 qemu 250  ember/qemu 2.000
  ember:       400 500 600 (spread -20.0% +20.0%)
  qemu:        250 - 260 (spread -2.0% +2.0%)
qd1        IOPS  ember 1000 qemu 500  ember/qemu 2.000
  ember:       900 1000 1100 (spread -10.0% +10.0%)
  qemu:        400 500 600 (spread -20.0% +20.0%)
bound    boot      1387 calls in 6367.854 ms: at most 0.169%
command ember: /bin/ember -m 256 -append 'quiet'
command qemu: /bin/qemu-system-x86_64 -M microvm -accel kvm -m 256
REPORT
"$srcdir/bench/chart" "$work/disk.txt" "$work/disk.svg"
check "a chart is drawn" $? 0
check "it is an SVG document" "$(grep -c -e '^<svg' -e '</svg>' "$work/disk.svg")" 2
check "a panel per measure" "$(grep -c -e '>seqread (MB/s)<' -e '>qd1 (IOPS)<' "$work/disk.svg")" 2
check "each VMM named in each panel" "$(grep -c -e '<title>ember</title>' -e '<title>qemu</title>' "$work/disk.svg")" 4
check "the benchmark's name in the title" "$(grep -c 'disk: every round' "$work/disk.svg")" 1

printf 'seed: 7\nrounds: 3\nthe benchmark failed: 1 failure(s):\n' >"$work/none.txt"
"$srcdir/bench/chart" "$work/none.txt" "$work/none.svg" 2>/dev/null
check "a report with no rounds is refused" $? 1
check "and leaves no file" "$(ls "$work"/none.svg* 2>/dev/null)" ""

"$srcdir/bench/chart" "$work/missing.txt" "$work/missing.svg" 2>/dev/null
check "a missing report is refused" $? 2

shcheck_end
