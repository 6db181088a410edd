# The restore benchmark's guest: says it is ready (its script has started),
# then answers its console: "touch N" fills a file of N MiB in the
# initramfs (RAM) with bytes that are not zero (what a snapshot must keep)
# and says "bench: touched N MiB"; "ping" gets "bench: pong". A restored
# guest is responsive when it answers the ping.
echo "bench: ready"
while read -r cue; do
	case "$cue" in
	"touch "*)
		mkdir -p /tmp
		yes ember | head -c "$((${cue#touch } * 1048576))" >/tmp/touched &&
			echo "bench: touched $(($(wc -c </tmp/touched) / 1048576)) MiB"
		;;
	ping) echo "bench: pong" ;;
	esac
done
