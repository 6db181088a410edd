#!/bin/sh
# bench/runstat, which times the benchmarks' runs: the line it appends, the
# moments it marks on a command's output, -u's early end, and its refusals.
set -u
srcdir=${EMBER_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
runstat=$(cd "${EMBER_BUILDDIR:-.}" && pwd)/bench/runstat
# shellcheck source=tests/unit/shcheck.sh
. "$srcdir/tests/unit/shcheck.sh"
[ -x "$runstat" ] || { echo "FAIL: no $runstat: build it first (make check does)"; exit 1; }
cd "$work" || exit 99

"$runstat" -o plain.txt -- sh -c 'sleep 0.2; exit 3' >out.txt
check "the command's status is runstat's" $? 3
check "one line: time, peak RSS, status" \
	"$(awk 'NF == 3 && $1 >= 200 && $1 < 5000 && $2 > 0 { print $3 }' plain.txt)" 3

"$runstat" -o marks.txt -m two -m never -m one -- \
	sh -c 'echo one; sleep 0.3; printf "tw"; sleep 0.1; echo "o three"' >out.txt
check "the output passes through" "$(cat out.txt)" "$(printf 'one\ntwo three')"
check "a mark per -m, then the line" "$(cut -d' ' -f1-2 marks.txt | tr '\n' /)" "mark 1/mark 2/mark 3/$(sed -n 4p marks.txt | cut -d' ' -f1-2)/"
check "a text split across reads is found when it completes" \
	"$(awk '$2 == 1 && $3 >= 400 && $3 < 5000 { print "yes" }' marks.txt)" yes
check "a text never printed" "$(sed -n 2p marks.txt)" "mark 2 -1"
check "marks keep the order of the -m, not of the output" \
	"$(awk '$2 == 3 && $3 >= 0 && $3 < 300 { print "yes" }' marks.txt)" yes
check "the time runs to the command's end" "$(awk 'NR == 4 && $1 >= 400 { print $3 }' marks.txt)" 0

"$runstat" -o until.txt -u ready -m start -- sh -c 'echo start; sleep 0.2; echo ready; sleep 30' >out.txt
check "-u ends the command with SIGTERM" $? 143
check "-u times the text" "$(awk 'NR == 2 && $1 >= 200 && $1 < 5000 { print $3 }' until.txt)" 143
check "-m beside -u" "$(awk 'NR == 1 && $3 >= 0 && $3 < 200 { print $1, $2 }' until.txt)" "mark 1"
"$runstat" -o split.txt -u end -m "a longer text to find" -- \
	sh -c 'printf "a longer te"; sleep 0.2; echo "xt to find"; sleep 0.2; echo end; sleep 30' >out.txt
check "a long -m split across reads beside a short -u" \
	"$(awk 'NR == 1 && $3 >= 200 && $3 < 400 { print "yes" }' split.txt)" yes

"$runstat" -o until.txt -u never -- true >out.txt
check "-u's text never printed" "$(tail -n 1 until.txt | cut -d' ' -f1)" -1.000

long=$(printf '%0257d' 0)
for bad in "-o" "-o f" "-o f --" "-u x -- true" "-o f -u '' -- true" "-o f -x y -- true" \
	"-o f -o g -- true" "-o f -u a -u b -- true" "-o f -m $long -- true" \
	"-o f -m 1 -m 2 -m 3 -m 4 -m 5 -m 6 -m 7 -m 8 -m 9 -- true"; do
	eval "\"\$runstat\" $bad" >/dev/null 2>err.txt
	check "usage error: runstat $bad" "$?/$(cut -c1-13 err.txt)" "2/usage: runsta"
done
"$runstat" -o f -- /nonexistent/program 2>err.txt
check "a command that cannot run" "$?/$(cat err.txt)" "127/runstat: /nonexistent/program: No such file or directory"

shcheck_end
