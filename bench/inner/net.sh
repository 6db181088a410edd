# The network benchmark guest's script: eth0 on 169.254.1.2/16, then the
# host's cues on the console: "recv" (listen for a transfer), "send" (send
# one), "end".
mkdir -p /tmp
ip link set lo up
ip link set eth0 up
ip addr add 169.254.1.2/16 dev eth0
n=0
until ping -c 1 -W 1 169.254.1.1 >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -lt 120 ] || break
done
echo "bench: network up"
# counts: the virtio interrupts so far, and eth0's frames received and sent
counts() {
	irq=$(awk '/virtio/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) t += $i }
		END { print t + 0 }' /proc/interrupts)
	pk=$(awk -F'[: ]+' '$2 == "eth0" { print $4, $12 }' /proc/net/dev)
	echo "$irq ${pk:-0 0}"
}
while read -r cue; do
	case $cue in
	recv)
		# busybox nc ends when its stdin does: the listener reads a FIFO a
		# sleeping writer holds open (a pipeline would make "wait" wait for it).
		[ -p /tmp/hold ] || mkfifo /tmp/hold
		sleep 600 >/tmp/hold &
		holder=$!
		nc -l -p 5001 </tmp/hold >/dev/null &
		listener=$!
		sleep 1
		set -- $(counts)
		echo "bench: listening"
		wait $listener
		echo "bench: received"
		kill $holder
		set -- $(counts) "$@"
		echo "bench: interrupts $(($1 - $4)) frames in $(($2 - $5)) out $(($3 - $6))"
		;;
	send)
		set -- $(counts)
		dd if=/dev/zero bs=65536 count=256 2>/dev/null | nc 169.254.1.1 5002
		set -- $(counts) "$@"
		echo "bench: sent; interrupts $(($1 - $4)) frames in $(($2 - $5)) out $(($3 - $6))"
		;;
	end) break ;;
	esac
done
