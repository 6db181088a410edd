// SPDX-License-Identifier: MIT
/*
 * A vCPU's state for snapshots: everything KVM holds of it, read while the
 * vCPU is parked and written before it first runs in the restoring process.
 */
#include "config.h"

#include "log.h"
#include "vcpu.h"
#include "vm_internal.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0
/* KVM lists about a hundred; a file claiming many more is not ember's. */
#define VCPU_MAX_MSRS 1024
#define XSAVE_LEGACY 4096      /* struct kvm_xsave without KVM_CAP_XSAVE2 */
#define BLOB_MAGIC 0x55504376U /* "vCPU" */

/* The blob's fixed part; nr_msrs MSR entries and xsave_len bytes of XSAVE follow. */
struct blob_head {
	uint32_t magic;
	uint32_t nr_msrs;
	uint32_t xsave_len;
	uint32_t pad;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp;
	uint32_t pad2;
};

/* One ioctl of a save or restore: on failure, ret and what say which, and on to fail. */
#define KVM_STEP(req, arg, name)                                                                   \
	do {                                                                                       \
		if (ioctl(fd, req, arg) < 0) {                                                     \
			ret = -errno;                                                              \
			what = name;                                                               \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)

/* How many bytes KVM_GET_XSAVE(2) fills on this host. */
static size_t xsave_size(struct vcpu *v)
{
	struct vm *vm = vcpu_vm(v);
	int n = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return n > XSAVE_LEGACY ? (size_t)n : XSAVE_LEGACY;
}

/* KVM's list of the MSRs a VMM should save (malloc'd), or NULL with *err. */
static struct kvm_msr_list *msr_list(struct vcpu *v, int *err)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;
	struct vm *vm = vcpu_vm(v);

	/* The first call says how many (E2BIG), the second fills them in. */
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0 || errno != E2BIG) {
		*err = errno ? -errno : -EIO;
		return NULL;
	}
	if (probe.nmsrs == 0 || probe.nmsrs > VCPU_MAX_MSRS) {
		*err = -E2BIG;
		return NULL;
	}
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	l->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		*err = -errno;
		free(l);
		return NULL;
	}
	return l;
}

/* MSRs a KVM_GET_MSRS or KVM_SET_MSRS takes at once here. */
#define MSR_BATCH 64

/*
 * One KVM_GET_MSRS or KVM_SET_MSRS over e[0..n) (n at most MSR_BATCH),
 * the values read copied back into e. KVM stops at the first MSR it
 * refuses: returns how many it did, or -errno.
 */
static int msrs_ioctl(struct vcpu *v, unsigned long req, struct kvm_msr_entry *e, unsigned int n)
{
	/*
	 * struct kvm_msrs ends in a flexible array: room for a batch after it,
	 * without a structure that embeds it in the middle.
	 */
	union {
		struct kvm_msrs hdr;
		unsigned char
			room[sizeof(struct kvm_msrs) + MSR_BATCH * sizeof(struct kvm_msr_entry)];
	} part;
	int got;

	memset(&part, 0, sizeof(part));
	part.hdr.nmsrs = n;
	memcpy(part.hdr.entries, e, n * sizeof(e[0]));
	got = ioctl(vcpu_fd(v), req, &part);
	if (got < 0)
		return -errno;
	if ((unsigned int)got > n)
		return -EIO;
	memcpy(e, part.hdr.entries, (size_t)got * sizeof(e[0]));
	return got;
}

/*
 * Reads every listed MSR KVM will give: KVM_GET_MSRS stops at the first it
 * refuses (one for a feature this vCPU lacks), which is dropped and the
 * rest read again. Returns the count read into m->entries.
 */
static int read_msrs(struct vcpu *v, struct kvm_msrs *m, const struct kvm_msr_list *l)
{
	unsigned int n = 0, done = 0;

	for (unsigned int i = 0; i < l->nmsrs; i++)
		m->entries[n++] = (struct kvm_msr_entry){ .index = l->indices[i] };
	/* Each round either finishes a batch or drops one: at most n + n / 64 + 1 rounds. */
	while (done < n) {
		unsigned int want = n - done > MSR_BATCH ? MSR_BATCH : n - done;
		int got = msrs_ioctl(v, KVM_GET_MSRS, &m->entries[done], want);

		if (got < 0)
			return got;
		done += (unsigned int)got;
		if ((unsigned int)got < want) {
			/* Entry `done` was refused: drop it. */
			memmove(&m->entries[done], &m->entries[done + 1],
				(n - done - 1) * sizeof(m->entries[0]));
			n--;
		}
	}
	return (int)n;
}

int vcpu_save_state(struct vcpu *v, void **out, size_t *out_len)
{
	struct blob_head h;
	struct kvm_msr_list *l;
	struct kvm_msrs *m = NULL;
	size_t xlen = xsave_size(v), len;
	uint8_t *blob = NULL, *x = NULL;
	int fd = vcpu_fd(v), ret = 0, n;
	const char *what = "";

	memset(&h, 0, sizeof(h));
	l = msr_list(v, &ret);
	if (!l) {
		log_err("vCPU %u: KVM_GET_MSR_INDEX_LIST: %s", vcpu_index(v), strerror(-ret));
		return ret;
	}
	m = calloc(1, sizeof(*m) + l->nmsrs * sizeof(m->entries[0]));
	x = calloc(1, xlen);
	if (!m || !x) {
		ret = -ENOMEM;
		goto out;
	}
	KVM_STEP(KVM_GET_REGS, &h.regs, "KVM_GET_REGS");
	KVM_STEP(KVM_GET_SREGS, &h.sregs, "KVM_GET_SREGS");
	KVM_STEP(KVM_GET_XCRS, &h.xcrs, "KVM_GET_XCRS");
	KVM_STEP(KVM_GET_LAPIC, &h.lapic, "KVM_GET_LAPIC");
	KVM_STEP(KVM_GET_VCPU_EVENTS, &h.events, "KVM_GET_VCPU_EVENTS");
	KVM_STEP(KVM_GET_DEBUGREGS, &h.debugregs, "KVM_GET_DEBUGREGS");
	KVM_STEP(KVM_GET_MP_STATE, &h.mp, "KVM_GET_MP_STATE");
	if (xlen > XSAVE_LEGACY)
		KVM_STEP(KVM_GET_XSAVE2, x, "KVM_GET_XSAVE2");
	else
		KVM_STEP(KVM_GET_XSAVE, x, "KVM_GET_XSAVE");
	n = read_msrs(v, m, l);
	if (n < 0) {
		ret = n;
		what = "KVM_GET_MSRS";
		goto fail;
	}
	h.magic = BLOB_MAGIC;
	h.nr_msrs = (uint32_t)n;
	h.xsave_len = (uint32_t)xlen;
	len = sizeof(h) + (size_t)n * sizeof(m->entries[0]) + xlen;
	blob = malloc(len);
	if (!blob) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(blob, &h, sizeof(h));
	memcpy(blob + sizeof(h), m->entries, (size_t)n * sizeof(m->entries[0]));
	memcpy(blob + sizeof(h) + (size_t)n * sizeof(m->entries[0]), x, xlen);
	*out = blob;
	*out_len = len;
	goto out;
fail:
	log_err("vCPU %u: %s: %s", vcpu_index(v), what, strerror(-ret));
out:
	free(l);
	free(m);
	free(x);
	return ret;
}

/*
 * Writes MSRs; KVM stops at the first it refuses. One whose value this
 * vCPU already has (a feature MSR KVM set from CPUID) is passed over; any
 * other refusal fails the restore.
 */
static int write_msrs(struct vcpu *v, struct kvm_msr_entry *e, unsigned int n)
{
	unsigned int done = 0;

	while (done < n) {
		unsigned int want = n - done > MSR_BATCH ? MSR_BATCH : n - done;
		int got = msrs_ioctl(v, KVM_SET_MSRS, &e[done], want);

		if (got < 0)
			return got;
		done += (unsigned int)got;
		if ((unsigned int)got < want) {
			struct kvm_msr_entry now = { .index = e[done].index };

			if (msrs_ioctl(v, KVM_GET_MSRS, &now, 1) != 1 || now.data != e[done].data) {
				log_err("vCPU %u: KVM refused MSR 0x%x = 0x%llx", vcpu_index(v),
					e[done].index, (unsigned long long)e[done].data);
				return -EINVAL;
			}
			done++;
		}
	}
	return 0;
}

int vcpu_restore_state(struct vcpu *v, const void *blob, size_t len, uint64_t tsc_advance)
{
	struct blob_head h;
	struct kvm_msr_entry *msrs = NULL, deadline = { .index = 0 };
	uint8_t *x = NULL;
	size_t xlen = xsave_size(v);
	unsigned int n = 0;
	bool have_deadline = false;
	int fd = vcpu_fd(v), ret = 0;
	const char *what = "";

	/* A private copy, checked before any of it is used. */
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, blob, sizeof(h));
	if (h.magic != BLOB_MAGIC || h.nr_msrs > VCPU_MAX_MSRS ||
	    len != sizeof(h) + (size_t)h.nr_msrs * sizeof(*msrs) + h.xsave_len) {
		log_err("vCPU %u: its saved state is malformed", vcpu_index(v));
		return -EINVAL;
	}
	if (h.xsave_len != xlen) {
		log_err("vCPU %u: saved on a host whose XSAVE area is %u bytes; here it is %zu",
			vcpu_index(v), h.xsave_len, xlen);
		return -EINVAL;
	}
	msrs = malloc(h.nr_msrs * sizeof(*msrs) + 1);
	x = malloc(xlen);
	if (!msrs || !x) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(x, (const uint8_t *)blob + sizeof(h) + h.nr_msrs * sizeof(*msrs), xlen);
	/*
	 * The TSC moves on by the time the snapshot lay in its file; the
	 * deadline waits until the LAPIC is back, as KVM arms it there.
	 */
	for (unsigned int i = 0; i < h.nr_msrs; i++) {
		struct kvm_msr_entry e;

		memcpy(&e, (const uint8_t *)blob + sizeof(h) + i * sizeof(e), sizeof(e));
		if (e.index == MSR_IA32_TSC)
			e.data += tsc_advance;
		if (e.index == MSR_IA32_TSC_DEADLINE) {
			deadline = e;
			have_deadline = true;
			continue;
		}
		msrs[n++] = e;
	}
	/* In the order KVM's state depends on itself: the APIC base before the LAPIC, and so on. */
	KVM_STEP(KVM_SET_REGS, &h.regs, "KVM_SET_REGS");
	KVM_STEP(KVM_SET_XSAVE, x, "KVM_SET_XSAVE");
	KVM_STEP(KVM_SET_XCRS, &h.xcrs, "KVM_SET_XCRS");
	KVM_STEP(KVM_SET_SREGS, &h.sregs, "KVM_SET_SREGS");
	ret = write_msrs(v, msrs, n);
	if (ret < 0) {
		what = "KVM_SET_MSRS";
		goto fail;
	}
	KVM_STEP(KVM_SET_LAPIC, &h.lapic, "KVM_SET_LAPIC");
	if (have_deadline) {
		ret = write_msrs(v, &deadline, 1);
		if (ret < 0) {
			what = "KVM_SET_MSRS (TSC deadline)";
			goto fail;
		}
	}
	/* NMI and SIPI state are set too, not only what KVM_GET_VCPU_EVENTS flags. */
	h.events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	KVM_STEP(KVM_SET_VCPU_EVENTS, &h.events, "KVM_SET_VCPU_EVENTS");
	KVM_STEP(KVM_SET_MP_STATE, &h.mp, "KVM_SET_MP_STATE");
	KVM_STEP(KVM_SET_DEBUGREGS, &h.debugregs, "KVM_SET_DEBUGREGS");
	goto out;
fail:
	log_err("vCPU %u: restoring its state: %s: %s", vcpu_index(v), what, strerror(-ret));
out:
	free(msrs);
	free(x);
	return ret;
}

void vcpu_clock_stopped(struct vcpu *v)
{
	/* EINVAL: the guest has not turned kvmclock on; nothing to tell it. */
	ioctl(vcpu_fd(v), KVM_KVMCLOCK_CTRL, 0);
}
