# Runs inside a Linux guest under ember with virtio disks, and does what
# test= on the kernel command line asks.
echo "inner guest: user space reached"
mkdir -p /tmp
pattern() { yes "$1" | head -c "$2"; }
md5() { md5sum | cut -d' ' -f1; }
case " $(cat /proc/cmdline) " in
*" test=rw "*)
	echo "vda sectors: $(cat /sys/block/vda/size)"
	echo "vda serial: $(cat /sys/block/vda/serial)"
	echo "vda head: $(dd if=/dev/vda bs=1M count=1 2>/dev/null | md5)"
	pattern ember-guest 1048576 >/tmp/p
	dd if=/tmp/p of=/dev/vda bs=1M seek=2 conv=fsync 2>/dev/null && echo "vda write: ok"
	# Read back past the page cache: what the device returns.
	echo 3 >/proc/sys/vm/drop_caches
	echo "vda readback: $(dd if=/dev/vda bs=1M skip=2 count=1 2>/dev/null | md5)"
	echo "vdb ro: $(cat /sys/block/vdb/ro)"
	if dd if=/tmp/p of=/dev/vdb bs=1M count=1 conv=fsync 2>/dev/null; then
		echo "vdb write: accepted"
	else
		echo "vdb write: refused"
	fi
	echo "vdb head: $(dd if=/dev/vdb bs=1M count=1 2>/dev/null | md5)"
	;;
*" test=ext4 "*)
	mkdir -p /mnt
	mount -t ext4 /dev/vda /mnt && echo "mounted"
	echo "host file: $(cat /mnt/host.txt)"
	pattern ember-ext4 3000000 >/mnt/guest.bin
	echo "guest file: $(md5 </mnt/guest.bin)"
	umount /mnt && echo "unmounted"
	;;
*" test=qcow2 "*)
	echo "vda md5: $(md5 </dev/vda)"
	echo "vdb md5: $(md5 </dev/vdb)"
	echo "vda ro: $(cat /sys/block/vda/ro)"
	;;
*" test=wait "*)
	echo "waiting for the host"
	read -r line
	echo "got: $line"
	;;
esac
