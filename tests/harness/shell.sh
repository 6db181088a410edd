# The demonstration guest's script: a few facts, then a shell for whoever is
# at the terminal. Without anyone (no key within 10 s) the guest reboots,
# which ends ember.
echo
echo "ember guest: Debian's kernel $(uname -r), $(nproc) vCPU(s)," \
	"$(sed -n 's/^MemTotal: *//p' /proc/meminfo) of RAM, the date is $(date -u)."
if [ -b /dev/vda ]; then
	mkdir -p /mnt
	if mount -t ext4 /dev/vda /mnt 2>/dev/null; then
		echo "ember guest: /dev/vda ($(($(cat /sys/block/vda/size) / 2048)) MiB) is mounted" \
			"on /mnt; hello.txt there says: $(cat /mnt/hello.txt 2>/dev/null)"
	else
		echo "ember guest: /dev/vda ($(($(cat /sys/block/vda/size) / 2048)) MiB) holds no ext4"
	fi
fi
echo "Press Enter within 10 s for a shell ('exit' or Ctrl-D reboots; Ctrl-A x quits ember)."
if read -r -t 10 _; then
	setsid cttyhack sh
fi
# Written back before the reboot, as a shutdown would.
umount /mnt 2>/dev/null
sync
