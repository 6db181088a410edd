/*
 * The smoke guest: exercises port I/O (single and string), unclaimed ports,
 * a write to read-only firmware (an MMIO exit) and isa-debug-exit.
 * Expects -debugcon on port 0xe9 and isa-debug-exit at 0xf4; exits with
 * code 99 ((0x31 << 1) | 1).
 */
	.code16
	.section .text.start, "ax"
start:
	cli
	cld
	mov	$0xe9, %dx

	/* One OUT per byte. */
	mov	$hello, %si
	call	puts

	/* One rep outsb: a single exit carrying many bytes. */
	mov	$rep_msg, %si
	mov	$rep_len, %cx
	rep outsb %cs:(%si), (%dx)

	/* A port nobody claims reads as all-ones. */
	mov	$0x510, %dx
	in	(%dx), %ax
	mov	$0xe9, %dx
	mov	$unclaimed_ok, %si
	cmp	$0xffff, %ax
	je	1f
	mov	$unclaimed_bad, %si
1:	call	puts

	/* The debug console reads back its own port number. */
	in	(%dx), %al
	mov	$debugcon_ok, %si
	cmp	$0xe9, %al
	je	1f
	mov	$debugcon_bad, %si
1:	call	puts

	/* Firmware is read-only: the write exits to ember, which drops it. */
	movb	$0x55, %cs:(rom_byte)
	mov	$rom_ok, %si
	cmpb	$0xaa, %cs:(rom_byte)
	je	1f
	mov	$rom_bad, %si
1:	call	puts

	mov	$0xf4, %dx
	mov	$0x31, %al
	out	%al, %dx
halt:	hlt
	jmp	halt

	.section .rodata
hello:		.asciz "Hello from the ember smoke guest\n"
rep_msg:	.ascii "string I/O: sixteen bytes and more in one exit\n"
	.set rep_len, . - rep_msg
unclaimed_ok:	.asciz "unclaimed port: ffff\n"
unclaimed_bad:	.asciz "unclaimed port: WRONG\n"
debugcon_ok:	.asciz "debugcon readback: e9\n"
debugcon_bad:	.asciz "debugcon readback: WRONG\n"
rom_ok:		.asciz "firmware write: ignored\n"
rom_bad:	.asciz "firmware write: WRONG\n"
rom_byte:	.byte 0xaa

#include "guest.inc"
