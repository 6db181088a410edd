# Sourced by tests and benchmarks that run Debian's passt ($DATA/passt, a
# "#@ exe /usr/bin/passt" header) in the harness's outer machine.
#
# passt isolates itself with a user namespace and pivot_root. The outer
# machine's root is the initramfs (rootfs), which pivot_root refuses, and a
# chroot may not make a user namespace; so passt runs in a mount namespace
# of its own whose root is a tmpfs moved over rootfs (as switch_root does),
# holding passt, its C library, /proc, /dev, /tmp, a user database naming nobody
# (whom passt becomes) and, bound from outside, the directory of its socket.
#
#   passt_start ARGS...   starts passt (with ARGS) in the background on the
#                         socket $passt_sock; its pid in $passt_pid; its
#                         messages appended to passt.log; 1 when the socket
#                         does not appear within 10 s
#   passt_stop            ends it
passt_dir=/passt-run
passt_sock=$passt_dir/passt.sock
passt_pid=

passt_start() {
	# passt becomes nobody before it binds its socket.
	mkdir -p "$passt_dir"
	chmod 1777 "$passt_dir"
	rm -f "$passt_sock"
	unshare -m sh -c '
		set -e
		r=/passt-root
		mkdir -p $r
		mount -t tmpfs passt $r
		mkdir -p $r/lib/x86_64-linux-gnu $r/lib64 $r/etc $r/run $r/proc $r/dev $r/tmp
		cp /lib/x86_64-linux-gnu/libc.so.6 $r/lib/x86_64-linux-gnu/
		cp /lib64/ld-linux-x86-64.so.2 $r/lib64/
		cp "$1" $r/passt
		echo "nobody:x:65534:65534:nobody:/nonexistent:/bin/false" >$r/etc/passwd
		echo "nogroup:x:65534:" >$r/etc/group
		mount -o bind "$2" $r/run
		mount -o bind /dev $r/dev
		mount -t proc proc $r/proc
		cd $r
		mount -o move . /
		shift 2
		exec chroot . /passt -f -q -e -s /run/passt.sock "$@"
	' passt "$DATA/passt" "$passt_dir" "$@" >>passt.log 2>&1 &
	passt_pid=$!
	n=0
	until [ -S "$passt_sock" ]; do
		[ $n -lt 100 ] || return 1
		sleep 0.1
		n=$((n + 1))
	done
}

passt_stop() {
	[ -n "$passt_pid" ] || return 0
	kill "$passt_pid" 2>/dev/null
	wait "$passt_pid" 2>/dev/null
	passt_pid=
}
