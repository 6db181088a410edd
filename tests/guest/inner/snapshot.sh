# The snapshot test's guest: it writes a mark on its disk, then counts once
# a second and answers cues on its console: "date" (its wall clock), "disk"
# (the mark, read from the disk itself), "write TEXT" (TEXT onto the disk's
# second block) and "off" (it powers off).
echo "snapshot guest: up"
printf 'written before the snapshot' | dd of=/dev/vda conv=fsync 2>/dev/null
i=0
while :; do
	i=$((i + 1))
	echo "count $i"
	cue=
	# shellcheck disable=SC3045 # busybox ash has read -t
	read -t 1 -r cue
	case "$cue" in
	date) echo "date $(date +%s)" ;;
	disk)
		echo 3 >/proc/sys/vm/drop_caches
		echo "disk $(head -c 27 /dev/vda)"
		;;
	"write "*)
		printf '%s' "${cue#write }" | dd of=/dev/vda bs=512 seek=1 conv=fsync 2>/dev/null
		echo "wrote ${cue#write }"
		;;
	off)
		echo "powering off"
		poweroff -f
		;;
	esac
done
