# Runs inside a Linux guest under ember with qcow2 disks, and does what
# test= on the kernel command line asks.
echo "inner guest: user space reached"
mkdir -p /tmp /mnt
pattern() { yes "$1" | head -c "$2"; }
md5() { md5sum | cut -d' ' -f1; }
arg() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" /proc/cmdline; }
case " $(cat /proc/cmdline) " in
*" test=write "*)
	# vda: over a raw backing file. Whole clusters, then a few bytes inside one.
	pattern ember-guest 1048576 >/tmp/p
	dd if=/tmp/p of=/dev/vda bs=1M seek=2 conv=fsync 2>/dev/null && echo "vda write: ok"
	pattern ember-small 3000 | dd of=/dev/vda bs=1000 seek=100 conv=fsync,notrunc 2>/dev/null &&
		echo "vda small write: ok"
	blkdiscard -o 4194304 -l 1048576 /dev/vda && echo "vda discard: ok"
	# vdb: compressed; a write into the middle of its clusters.
	pattern ember-packed 70000 | dd of=/dev/vdb bs=1 seek=131584 conv=fsync,notrunc 2>/dev/null &&
		echo "vdb write: ok"
	echo 3 >/proc/sys/vm/drop_caches
	echo "vda md5: $(md5 </dev/vda)"
	echo "vdb md5: $(md5 </dev/vdb)"
	# vdc: ext4, mounted with discard: a file written, the host's big file deleted.
	mount -t ext4 -o discard /dev/vdc /mnt && echo "mounted"
	echo "host file: $(cat /mnt/host.txt)"
	pattern ember-ext4 3000000 >/mnt/guest.bin
	rm /mnt/big.bin
	# ext4 sends its online discards from a work queue and drops those still
	# queued when the unmount begins; after a commit, fstrim sends them for sure.
	sync
	fstrim /mnt && echo "trimmed"
	umount /mnt && echo "unmounted"
	;;
*" test=loop "*)
	# Numbered 64 KiB blocks, each flushed before it is reported, until killed.
	round=$(arg round)
	i=0
	while :; do
		i=$((i + 1))
		blk=$((i * 7 % 256))
		pattern "r$round s$i" 65536 | dd of=/dev/vda bs=65536 seek=$blk conv=fsync,notrunc \
			2>/dev/null || echo "write $i failed"
		# The trailing dot tells a whole line from one cut short by the kill.
		echo "flushed $i at $blk ."
		[ $((i % 16)) -eq 0 ] && blkdiscard -o $((blk * 65536 + 65536)) -l 65536 /dev/vda
	done
	;;
esac
