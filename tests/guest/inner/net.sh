# Runs inside a Linux guest under ember with virtio NICs: reports the MACs,
# brings eth0 up on 169.254.0.2/16, then takes its cues from ember's stdin
# (the host test) for the transfers. With netsnap on the command line it
# sends one slow stream instead, across a snapshot and restore.
echo "inner guest: user space reached"
mkdir -p /tmp
# The bytes sent to the host: netbytes= on the command line, or 16 MiB.
bytes=16777216
for w in $(cat /proc/cmdline); do
	case $w in netbytes=*) bytes=${w#netbytes=} ;; esac
done
for i in 0 1; do
	echo "eth$i mac: $(cat /sys/class/net/eth$i/address 2>/dev/null)"
done
ip link set lo up
ip link set eth0 up
ip addr add 169.254.0.2/16 dev eth0
n=0
until ping -c 1 -W 1 169.254.0.1 >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -lt 120 ] || break
done
echo "network up"
if ping -c 3 -W 5 169.254.0.1 >/dev/null 2>&1; then echo "ping host: ok"; else echo "ping host: failed"; fi
# netsnap: a slow stream to the host that the host snapshots midway; a
# restored ember carries it to its end.
if grep -qw netsnap /proc/cmdline; then
	echo "sending through the snapshot"
	i=0
	while [ $i -lt 64 ]; do
		yes snapshot | head -c 1048576
		sleep 0.2
		i=$((i + 1))
	done | nc 169.254.0.1 5003
	echo "sent through the snapshot"
	if ping -c 3 -W 5 169.254.0.1 >/dev/null 2>&1; then
		echo "ping host after the restore: ok"
	else
		echo "ping host after the restore: failed"
	fi
	read -r _
	exit 0
fi
# busybox nc ends when its stdin does: a listener reads a FIFO that a
# sleeping writer keeps open (not a pipeline: "wait" would wait for the sleep).
mkfifo /tmp/hold
sleep 600 >/tmp/hold &
nc -l -p 5001 </tmp/hold >/tmp/in &
listener=$!
sleep 1
echo "listening"
wait $listener
echo "received: $(sha256sum </tmp/in | cut -d' ' -f1) $(wc -c </tmp/in)"
read -r _
yes guest-to-host | head -c "$bytes" | nc 169.254.0.1 5002
echo "sent"
read -r _
# The host deleted the tap: sending fails quietly, the guest and ember go on.
ping -c 2 -W 1 169.254.0.1 >/dev/null 2>&1
echo "after the tap went: still running"
