# shellcheck shell=sh
# Sourced by the shell tests in tests/unit: a scratch directory in $work,
# removed at exit, and check, which counts what fails; shcheck_end ends the
# test with its verdict.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

check() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1: got '$2', want '$3'"
		fails=$((fails + 1))
	fi
}

shcheck_end() {
	[ $fails -eq 0 ] || exit 1
	echo "all checks passed"
	exit 0
}
