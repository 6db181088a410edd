# Helpers shared by guest tests; sourced from "$EMBER_TESTLIB".
# POSIX sh: the tests run under busybox ash in the harness and sh on a host.

failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

# expect_exit WANT GOT WHAT
expect_exit() {
	if [ "$2" -eq "$1" ]; then pass "$3: exit $2"; else fail "$3: exit $2, expected $1"; fi
}

# expect_grep PATTERN FILE WHAT
expect_grep() {
	if grep -q -- "$1" "$2"; then pass "$3"; else fail "$3: '$1' not in $2:"; cat "$2"; fi
}

# expect_lines N FILE WHAT: FILE has exactly N lines
expect_lines() {
	n=$(wc -l <"$2" | tr -d ' ')
	if [ "$n" -eq "$1" ]; then pass "$3"; else fail "$3: $n lines in $2, expected $1:"; cat "$2"; fi
}

# wait_for_text TEXT FILE SECONDS
wait_for_text() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q -- "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# waited TEXT FILE SECONDS: wait_for_text, a failure (with FILE shown) when
# TEXT does not come; its status says whether it came
waited() {
	if wait_for_text "$1" "$2" "$3"; then
		pass "'$1' in $2"
		return 0
	fi
	fail "'$1' not in $2 after $3 s:"
	cat "$2"
	return 1
}

# host_end TAP [ADDR]: waits (30 s at most) for ember to create TAP, then
# gives the host's end of the link-local test network ADDR (by default
# 169.254.0.1/16) and brings it up
host_end() {
	n=0
	until ip link show "$1" >/dev/null 2>&1 || [ $n -ge 300 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	ip addr add "${2:-169.254.0.1/16}" dev "$1"
	ip link set "$1" up
}

# stuck_report PID [TAP]: for a test that waited in vain, what ember's
# threads (state, CPU ticks) and TAP's counters say, twice 10 s apart: a
# thread whose ticks stand still sleeps; counters that move mean traffic
stuck_report() {
	for look in 1 2; do
		echo "ember (pid $1), look $look:"
		for t in /proc/"$1"/task/*; do
			[ -r "$t/stat" ] || continue
			echo "  $(cat "$t/comm" 2>/dev/null): $(sed 's/^.*) //' "$t/stat" |
				awk '{ print "state " $1 ", CPU ticks " $12 + $13 }')"
		done
		if [ -n "$2" ] && [ -d "/sys/class/net/$2" ]; then
			c=/sys/class/net/$2/statistics
			echo "  $2: the host received $(cat "$c/rx_packets") frames, sent" \
				"$(cat "$c/tx_packets"), dropped $(cat "$c/tx_dropped") sending"
		fi
		[ "$look" = 2 ] || sleep 10
	done
}

finish() {
	if [ "$failures" -eq 0 ]; then echo "all checks passed"; exit 0; fi
	echo "$failures check(s) failed"
	exit 1
}
