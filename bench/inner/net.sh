# The network benchmark guest's script: eth0 on 169.254.1.2/16 and an iperf3
# server, then the host's cues on the console: "mark N" (note the counters),
# "count N" (print what they moved since mark N), "end".
mkdir -p /tmp
ip link set lo up
ip link set eth0 up
ip addr add 169.254.1.2/16 dev eth0
n=0
until ping -c 1 -W 1 169.254.1.1 >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -lt 120 ] || break
done
iperf3 -s >/tmp/iperf3.log 2>&1 &
# The virtio features the driver and device agreed on (offloads among them), bit 0 first.
echo "bench: features $(cat /sys/class/net/eth0/device/features 2>/dev/null)"
echo "bench: network up"
# counts: the virtio interrupts so far, and eth0's frames received and sent
counts() {
	irq=$(awk '/virtio/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) t += $i }
		END { print t + 0 }' /proc/interrupts)
	pk=$(awk -F'[: ]+' '$2 == "eth0" { print $4, $12 }' /proc/net/dev)
	echo "$irq ${pk:-0 0}"
}
while read -r cue n; do
	case $cue in
	mark)
		marked=$(counts)
		echo "bench: marked $n"
		;;
	count)
		# shellcheck disable=SC2086 # three numbers now, three then
		set -- $(counts) $marked
		echo "bench: counts $n interrupts $(($1 - $4)) frames in $(($2 - $5)) out $(($3 - $6))"
		;;
	end) break ;;
	esac
done
