// SPDX-License-Identifier: MIT
#include "config.h"

#include "x86boot.h"
#include "layout.h"
#include "core/gmem.h"

#include <errno.h>
#include <string.h>

#define PTE_PRESENT (1ULL << 0)
#define PTE_WRITE (1ULL << 1)
#define PTE_HUGE (1ULL << 7) /* 2 MiB page in a page directory */

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

/* Segment types (descriptor type field, S = 1). */
#define SEG_CODE_XR_ACCESSED 0xb
#define SEG_DATA_RW_ACCESSED 0x3
#define SEG_TSS_BUSY 0xb /* system segment (S = 0): busy 32/64-bit TSS */

/* A flat 4 GiB segment in the form KVM_SET_SREGS takes. */
static struct kvm_segment flat(uint16_t selector, uint8_t type, int long_mode)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = long_mode && type == SEG_CODE_XR_ACCESSED ? 0 : 1,
		.s = 1,
		.l = long_mode && type == SEG_CODE_XR_ACCESSED,
		.g = 1,
	};
}

/* The same segment as an 8-byte GDT descriptor. */
static uint64_t descriptor(const struct kvm_segment *s)
{
	uint64_t limit = s->g ? s->limit >> 12 : s->limit;

	return (limit & 0xffff) | ((s->base & 0xffffff) << 16) | ((uint64_t)s->type << 40) |
	       ((uint64_t)s->s << 44) | ((uint64_t)s->dpl << 45) | ((uint64_t)s->present << 47) |
	       (((limit >> 16) & 0xf) << 48) | ((uint64_t)s->l << 53) | ((uint64_t)s->db << 54) |
	       ((uint64_t)s->g << 55) | (((s->base >> 24) & 0xff) << 56);
}

int x86boot_write_tables(const struct gmem *mem)
{
	uint64_t *pml4 = gmem_translate(mem, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = gmem_translate(mem, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = gmem_translate(mem, BOOT_PD_ADDR, 4 * 4096);
	struct kvm_segment code = flat(BOOT_CS, SEG_CODE_XR_ACCESSED, 1);
	struct kvm_segment data = flat(BOOT_DS, SEG_DATA_RW_ACCESSED, 1);
	uint64_t gdt[4] = { 0, 0, descriptor(&code), descriptor(&data) };

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
	for (unsigned int i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096ULL) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
	return gmem_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

/* What both entries share: the GDT, a valid TR (VMX insists), no LDT, interrupts off. */
static void common(struct kvm_regs *regs, struct kvm_sregs *sregs, int long_mode)
{
	struct kvm_segment code = flat(BOOT_CS, SEG_CODE_XR_ACCESSED, long_mode);
	struct kvm_segment data = flat(BOOT_DS, SEG_DATA_RW_ACCESSED, long_mode);

	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = 4 * 8 - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->tr = (struct kvm_segment){ .limit = 0xffff, .type = SEG_TSS_BUSY, .present = 1 };
	sregs->ldt = (struct kvm_segment){ .type = 0x2, .unusable = 1 };
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2; /* bit 1 is reserved and set; IF clear */
}

void x86boot_long_mode(struct kvm_regs *regs, struct kvm_sregs *sregs, uint64_t entry,
		       uint64_t zero_page)
{
	common(regs, sregs, 1);
	sregs->cr3 = BOOT_PML4_ADDR;
	sregs->cr4 = CR4_PAE;
	sregs->cr0 = CR0_PE | CR0_ET | CR0_PG;
	sregs->efer = EFER_LME | EFER_LMA;
	regs->rip = entry;
	regs->rsi = zero_page;
	regs->rsp = BOOT_STACK_TOP;
}

void x86boot_pvh(struct kvm_regs *regs, struct kvm_sregs *sregs, uint64_t entry,
		 uint64_t start_info)
{
	common(regs, sregs, 0);
	sregs->cr0 = CR0_PE | CR0_ET;
	sregs->cr3 = 0;
	sregs->cr4 = 0;
	sregs->efer = 0;
	regs->rip = entry;
	regs->rbx = start_info;
}
