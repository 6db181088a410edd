# Runs inside the inner guest: shows it reached user space with its modules.
echo "inner guest: user space reached"
echo "inner guest: kernel $(uname -r)"
echo "inner guest: modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
