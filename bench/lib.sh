# shellcheck shell=sh
# Shared by every bench/*.bench (sourced, busybox sh): the order of the VMMs
# in each round, recording values, medians, spreads, ratios and the report,
# and failing the benchmark when a round fails. A benchmark names it with
# "#@ file bench/lib.sh" and starts with ". "$DATA/lib.sh"; bench_start
# ROUNDS", counting its rounds in $round from 0.
#
# Values live in NAME.MEASURE.vals, a line "ROUND VALUE" each, unrounded. A
# round that fails is reported, shows as "-" among the rounds, and fails the
# benchmark at bench_end: it never moves a median.

# bench_start ROUNDS: a clean slate, and the seed of this run's orders
# (BENCH_SEED repeats a run's orders; by default the clock chooses).
bench_start() {
	bench_rounds=$1
	bench_dir=$(pwd)
	rm -f ./*.vals ./*.cmd "$bench_dir/bench-failed.txt"
	bench_seed=${BENCH_SEED:-$(date +%s)}
	case $bench_seed in
	'' | *[!0-9]*) echo "BENCH_SEED must be a number" >&2; exit 2 ;;
	esac
	echo "seed: $bench_seed (BENCH_SEED=$bench_seed repeats these orders)"
}

# bench_order ROUND NAME...: the names in this round's order, a shuffle
# seeded by the run's seed and the round, so no VMM always goes first.
bench_order() {
	round=$1
	shift
	printf '%s\n' "$@" | awk -v s="$((bench_seed + round))" '
		BEGIN { srand(s) } { k[NR] = rand(); v[NR] = $0 }
		END {
			for (i = 1; i <= NR; i++)
				for (j = i + 1; j <= NR; j++)
					if (k[j] < k[i]) { t = k[i]; k[i] = k[j]; k[j] = t; t = v[i]; v[i] = v[j]; v[j] = t }
			for (i = 1; i <= NR; i++) printf "%s%s", v[i], (i < NR ? " " : "\n")
		}'
}

# bench_fail MESSAGE: reports a failed round or step; the benchmark fails at its end.
bench_fail() {
	echo "FAILED: $*"
	echo "$*" >>"$bench_dir/bench-failed.txt"
}

# bench_record NAME MEASURE VALUE: this round's value, which must be a number.
bench_record() {
	case $3 in
	'' | *[!0-9.]* | *.*.* | .)
		bench_fail "$1, round $round: no figure for $2 (got '$3')"
		return 1
		;;
	esac
	echo "$round $3" >>"$1.$2.vals"
}

# bench_values NAME MEASURE: the recorded values, one a line, sorted.
bench_values() {
	cut -d' ' -f2 "$1.$2.vals" 2>/dev/null | sort -n
}

# bench_median NAME MEASURE: the median of the recorded values, or n/a.
bench_median() {
	bench_values "$1" "$2" | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_rounds_of NAME MEASURE: every round's value in round order, "-" for
# a round that gave none.
bench_rounds_of() {
	awk -v n="$bench_rounds" '{ v[$1] = $2 } END {
		for (r = 0; r < n; r++) printf "%s ", (r in v ? v[r] : "-") }' "$1.$2.vals" 2>/dev/null ||
		awk -v n="$bench_rounds" 'BEGIN { for (r = 0; r < n; r++) printf "- " }'
}

# bench_spread NAME MEASURE: lowest and highest, in percent of the median.
bench_spread() {
	bench_values "$1" "$2" | awk -v m="$(bench_median "$1" "$2")" '
		{ v[NR] = $1 } END {
		if (NR == 0 || m == "n/a" || m == 0) print "n/a";
		else printf "-%.1f%% +%.1f%%", (m - v[1]) * 100 / m, (v[NR] - m) * 100 / m }'
}

# bench_ratio A B: A / B to three places, from unrounded values.
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || b <= 0) print "n/a"; else printf "%.3f", a / b }'
}

# bench_report MEASURE UNIT FIRST OTHER...: the medians of each name, the
# ratios of FIRST's median to each other's, then every round ("-" where it
# failed) and the spread.
bench_report() {
	measure=$1 unit=$2 first=$3
	shift 2
	line=$(printf '%-10s %-5s' "$measure" "$unit")
	for n in "$@"; do
		line="$line $n $(bench_median "$n" "$measure")"
	done
	shift
	for n in "$@"; do
		line="$line  $first/$n $(bench_ratio "$(bench_median "$first" "$measure")" \
			"$(bench_median "$n" "$measure")")"
	done
	echo "$line"
	for n in "$first" "$@"; do
		printf '  %-12s %s(spread %s)\n' "$n:" "$(bench_rounds_of "$n" "$measure")" \
			"$(bench_spread "$n" "$measure")"
	done
}

# bench_command NAME WORD...: NAME's exact command line, printed by
# bench_end (the first one given for NAME).
bench_command() {
	bench_cmdfile=$bench_dir/$1.cmd
	shift
	[ -e "$bench_cmdfile" ] || echo "$*" >"$bench_cmdfile"
}

# bench_end: every command line given, then the exit status; 1, with the
# failures listed, when any round failed.
bench_end() {
	for bench_cmdfile in "$bench_dir"/*.cmd; do
		[ -e "$bench_cmdfile" ] &&
			echo "command $(basename "$bench_cmdfile" .cmd): $(cat "$bench_cmdfile")"
	done
	if [ -s "$bench_dir/bench-failed.txt" ]; then
		echo "the benchmark failed: $(wc -l <"$bench_dir/bench-failed.txt") failure(s):"
		sed 's/^/  /' "$bench_dir/bench-failed.txt"
		exit 1
	fi
	exit 0
}

# blkbench_value MODE FILE: the figure bench/inner/blkbench printed for MODE
# ("seqread", "qd16", ...) in the guest's output FILE; nothing if it printed none.
blkbench_value() {
	tr -d '\r' <"$2" | sed -n "s/^blkbench .*$1 .*: \([0-9.]*\) [A-Za-z\/]*$/\1/p" | head -n 1
}

# bench_outside_ram SMAPS FIELD MIB: the sum of FIELD (Rss, Pss; KiB) in the
# /proc/PID/smaps file SMAPS over every mapping smaller than MIB, that is
# every mapping but guest RAM of MIB.
bench_outside_ram() {
	awk -v ram=$(($3 * 1024)) -v f="$2:" '
		/^[0-9a-f]+-[0-9a-f]+ / { big = 0; next }
		/^Size:/ { big = ($2 >= ram); next }
		$1 == f { if (!big) sum += $2 }
		END { print sum + 0 }' "$1"
}
