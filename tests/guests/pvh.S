/*
 * The PVH guest: a 32-bit ELF that ember loads at 1 MiB and enters through
 * its Xen PVH note, in protected mode with paging off, flat segments and
 * %ebx = the hvm_start_info. It prints what it finds on the debug console
 * (port 0xe9) and leaves through isa-debug-exit at 0xf4: with 0x31 (exit
 * status 99) after all lines, with 0x01 (status 3) when the magic is wrong.
 * Offsets are those of Xen's arch-x86/hvm/start_info.h, version 1.
 */
	.code32

/* The note ember looks for: name "Xen", type XEN_ELFNOTE_PHYS32_ENTRY, the 32-bit entry. */
	.section .note.Xen, "a", @note
	.balign 4
	.long	4		/* namesz */
	.long	4		/* descsz */
	.long	18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.long	start

/* say MSG, VALUE: prints the string MSG, VALUE as 8 hex digits and a newline. */
.macro say msg, value
	mov	$\msg, %esi
	call	puts
	mov	\value, %eax
	call	puthex
	call	newline
.endm

	.section .text.start, "ax"
	.globl	start
start:
	cld
	mov	$stack_top, %esp	/* PVH leaves %esp undefined */

	/* Paging off, protected mode: PE and ET only. */
	mov	%cr0, %ebp
	say	msg_cr0, %ebp

	say	msg_magic, (%ebx)
	cmpl	$0x336ec578, (%ebx)
	mov	$0x01, %al
	jne	exit
	say	msg_version, 4(%ebx)

	/* The command line, between quotes so trailing spaces would show. */
	mov	$msg_cmdline, %esi
	call	puts
	mov	24(%ebx), %esi		/* cmdline_paddr (low half: paging is off) */
	test	%esi, %esi
	jz	1f
	call	puts
1:	mov	$msg_quote_nl, %esi
	call	puts

	/* The initrd is the first module: its size and first four bytes. */
	say	msg_modules, 12(%ebx)
	cmpl	$0, 12(%ebx)
	je	1f
	mov	16(%ebx), %edi		/* modlist_paddr */
	say	msg_modsize, 8(%edi)
	mov	(%edi), %edi		/* the module's paddr */
	say	msg_modhead, (%edi)

	/* The memory map: its length, and that it starts with RAM at 0. */
1:	say	msg_entries, 48(%ebx)
	cmpl	$0, 48(%ebx)
	je	1f
	mov	40(%ebx), %edi		/* memmap_paddr */
	mov	$msg_map_addr, %esi
	call	puts
	mov	4(%edi), %eax		/* addr, high half first */
	call	puthex
	mov	(%edi), %eax
	call	puthex
	call	newline
	say	msg_map_size, 8(%edi)	/* low half: it is the RAM below 640K */
	say	msg_map_type, 16(%edi)

1:	mov	$0x31, %al
exit:	mov	$0xf4, %dx
	out	%al, %dx
2:	hlt
	jmp	2b

/* Writes the NUL-terminated string at %esi to the debug console. */
puts:
	mov	$0xe9, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	out	%al, %dx
	jmp	1b
2:	ret

newline:
	mov	$nl, %esi
	jmp	puts

/* Writes %eax as 8 hex digits; keeps %ebx, %edi and %ebp. */
puthex:
	mov	%eax, %esi
	mov	$8, %ecx
	mov	$0xe9, %dx
1:	rol	$4, %esi
	mov	%esi, %eax
	and	$0xf, %eax
	mov	hexdigits(%eax), %al
	out	%al, %dx
	loop	1b
	ret

	.section .rodata
hexdigits:	.ascii "0123456789abcdef"
nl:		.asciz "\n"
msg_cr0:	.asciz "pvh: cr0 "
msg_magic:	.asciz "pvh: start_info magic "
msg_version:	.asciz "pvh: start_info version "
msg_cmdline:	.asciz "pvh: cmdline \""
msg_quote_nl:	.asciz "\"\n"
msg_modules:	.asciz "pvh: modules "
msg_modsize:	.asciz "pvh: module size "
msg_modhead:	.asciz "pvh: module head "
msg_entries:	.asciz "pvh: memmap entries "
msg_map_addr:	.asciz "pvh: memmap[0] addr "
msg_map_size:	.asciz "pvh: memmap[0] size "
msg_map_type:	.asciz "pvh: memmap[0] type "

	.section .bss
	.balign	16
	.skip	4096
stack_top:

	.section .note.GNU-stack, "", @progbits
