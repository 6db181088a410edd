# Runs inside a Linux guest under ember with -nic user (or, with test=passt,
# -netdev stream to passt): takes its address by DHCP, then moves data as the
# host test's cues on the console say.
echo "inner guest: user space reached"
mkdir -p /tmp
cat >/tmp/dhcp.sh <<'SCRIPT'
#!/bin/sh
case $1 in
bound | renew)
	ip addr add "$ip/$mask" dev "$interface"
	# As any DHCP client does: passt offers 65520, and its TCP assumes it.
	[ -z "$mtu" ] || ip link set "$interface" mtu "$mtu"
	[ -z "$router" ] || ip route add default via "$router"
	echo "$router" >/tmp/router
	echo "dhcp: $ip router $router dns $dns mtu ${mtu:-none}"
	;;
esac
SCRIPT
chmod +x /tmp/dhcp.sh
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 20 -T 1 2>/dev/null || echo "dhcp: no lease"
echo "route: $(ip route | grep '^default')"
echo "network up"

gw=$(cat /tmp/router 2>/dev/null)

# test=small: a MiB to the host through the gateway, and no more.
if grep -qw test=small /proc/cmdline; then
	yes small | head -c 1048576 | nc "$gw" 5001
	echo "small sent"
	read -r _
	exit 0
fi

# -netdev stream to passt: a MiB to the host through the gateway, then again
# once the host has restarted passt (a connection or two may be refused
# while ember connects again).
if grep -qw test=passt /proc/cmdline; then
	read -r _
	yes before | head -c 1048576 | nc "$gw" 5001
	echo "sent before"
	read -r _
	i=0
	until yes after | head -c 1048576 | nc -w 5 "$gw" 5002 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 30 ] || break
		sleep 1
	done
	echo "sent after ($i retries)"
	read -r _
	exit 0
fi

# 16 MiB to a listener on the host's loopback, through the gateway.
read -r _
yes guest-to-host | head -c 16777216 | nc "$gw" 5001
echo "sent"

# A listener the host reaches through its hostfwd (busybox nc ends when its
# stdin does: it reads a FIFO that a sleeping writer holds open).
mkfifo /tmp/hold
sleep 600 >/tmp/hold &
nc -l -p 5000 </tmp/hold >/tmp/in &
listener=$!
sleep 1
echo "listening"
wait $listener
echo "received: $(sha256sum </tmp/in | cut -d' ' -f1) $(wc -c </tmp/in)"

# One datagram through the UDP forward.
socat -u UDP-RECVFROM:5353 STDOUT >/tmp/udp &
udp=$!
sleep 1
echo "udp listening"
wait $udp
echo "udp received: $(cat /tmp/udp)"

# A name the host's resolver knows, through the DNS forwarder.
echo "dns: $(nslookup ember-dns-test 10.0.2.3 2>&1 | grep -A1 'ember-dns-test' | grep -o '169\.254\.[0-9.]*' | head -n 1)"
read -r _
