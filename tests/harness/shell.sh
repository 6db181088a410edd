# The demonstration guest's script: a few facts, then a shell for whoever is
# at the terminal. Without anyone (no key within 10 s) the guest reboots,
# which ends ember.
echo
echo "ember guest: Debian's kernel $(uname -r), $(nproc) vCPU(s)," \
	"$(sed -n 's/^MemTotal: *//p' /proc/meminfo) of RAM, the date is $(date -u)."
echo "Press Enter within 10 s for a shell ('exit' or Ctrl-D reboots; Ctrl-A x quits ember)."
if read -r -t 10 _; then
	setsid cttyhack sh
fi
