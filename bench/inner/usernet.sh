# The user-mode network benchmark guest's script: eth0's address by DHCP
# (libslirp's or passt's), an iperf3 server and a tcplat echo server, then
# waits for the host's "end" on the console.
mkdir -p /tmp
cat >/tmp/dhcp.sh <<'SCRIPT'
#!/bin/sh
case $1 in
bound | renew)
	ip addr add "$ip/$mask" dev "$interface"
	# As any DHCP client does: passt offers 65520, and its TCP assumes it.
	[ -z "$mtu" ] || ip link set "$interface" mtu "$mtu"
	[ -z "$router" ] || ip route add default via "$router"
	;;
esac
SCRIPT
chmod +x /tmp/dhcp.sh
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 20 -T 1 >/dev/null 2>&1 || echo "bench: no lease"
iperf3 -s >/tmp/iperf3.log 2>&1 &
tcplat serve 5000 >/tmp/tcplat.log 2>&1 &
sleep 1
echo "bench: address $(ip -4 addr show eth0 | awk '/inet / { print $2 }')"
echo "bench: network up"
while read -r cue; do
	[ "$cue" = end ] && break
done
