# Runs inside a Linux guest under ember with sixteen virtio devices: ten
# disks, three NICs, two entropy sources and a virtio-serial device, and uses
# every one.
echo "inner guest: user space reached"
echo "virtio devices: $(ls /sys/bus/virtio/devices | wc -l)"
echo "virtio irqs: $(grep virtio /proc/interrupts | awk '{ print $1 }' | tr -d ':' | sort -n | tr '\n' ' ')"
i=0
for d in a b c d e f g h i j; do
	echo "vd$d: $(head -c 6 /dev/vd$d)"
	echo "guest-$i" | dd of=/dev/vd$d bs=512 seek=8 conv=fsync 2>/dev/null
	i=$((i + 1))
done
ip link set lo up
for n in 0 1 2; do
	ip link set eth$n up
	ip addr add 169.254.$((n + 1)).2/24 dev eth$n
done
for n in 0 1 2; do
	t=0
	until ping -c 1 -W 1 169.254.$((n + 1)).1 >/dev/null 2>&1 || [ $t -ge 60 ]; do
		t=$((t + 1))
	done
	if ping -c 2 -W 5 169.254.$((n + 1)).1 >/dev/null 2>&1; then echo "eth$n: ping ok"; fi
done
hw=/sys/class/misc/hw_random
for r in $(cat $hw/rng_available); do
	echo "$r" >$hw/rng_current
	echo "$r: $(head -c 32 /dev/hwrng | wc -c) bytes"
done
# The port named org.ember.many (no udev here to make /dev/virtio-ports/NAME).
i=0
while [ -z "$port" ] && [ $i -lt 100 ]; do
	for p in /sys/class/virtio-ports/vport*; do
		[ "$(cat "$p/name" 2>/dev/null)" = org.ember.many ] && port=/dev/${p##*/}
	done
	[ -n "$port" ] || sleep 0.1
	i=$((i + 1))
done
echo "hello over the port" >"$port" && echo "port: written"
