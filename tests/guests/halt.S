/*
 * Prints a line, then halts with interrupts off: the vCPU sleeps inside KVM
 * for good, as hardware would, until ember is signalled.
 */
	.code16
	.section .text.start, "ax"
start:
	cli
	mov	$0xe9, %dx
	mov	$msg, %si
	call	puts
halt:	hlt
	jmp	halt

	.section .rodata
msg:		.asciz "halting\n"

#include "guest.inc"
