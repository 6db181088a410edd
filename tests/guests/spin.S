/* Prints a line, then spins forever: a guest that only a signal can end. */
	.code16
	.section .text.start, "ax"
start:
	cli
	mov	$0xe9, %dx
	mov	$msg, %si
	call	puts
spin:	jmp	spin

	.section .rodata
msg:		.asciz "spinning\n"

#include "guest.inc"
