/*
 * Prints a line, then triple-faults: an interrupt with an empty IDT cannot be
 * delivered, nor can the double fault that follows. KVM reports
 * KVM_EXIT_SHUTDOWN; ember treats it as a guest reset and exits with 0.
 */
	.code16
	.section .text.start, "ax"
start:
	cli
	mov	$0xe9, %dx
	mov	$msg, %si
	call	puts
	lidtl	%cs:(empty_idt)
	int	$3
	hlt

	.section .rodata
msg:		.asciz "about to triple-fault\n"
empty_idt:	.word 0
		.long 0

#include "guest.inc"
