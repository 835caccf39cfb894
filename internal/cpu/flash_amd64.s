//go:build amd64 && !purego

#include "textflag.h"

// Flash attention's F16 accumulator, as ggml's F16C vector ops keep it:
// each step widens the halves to float32, computes in float32 and rounds
// back to a half (to nearest even).

// func madF16AVX2(y, x *byte, n int, a float32): y[i] = half(fma(x[i], a,
// y[i])) over n (a positive multiple of 8) halves.
TEXT ·madF16AVX2(SB), NOSPLIT, $0-28
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS a+24(FP), Y2

madF16Loop:
	VCVTPH2PS   (DI), Y0
	VCVTPH2PS   (SI), Y1
	VFMADD231PS Y1, Y2, Y0
	VCVTPS2PH   $0, Y0, (DI)
	ADDQ        $16, DI
	ADDQ        $16, SI
	SUBQ        $8, CX
	JNZ         madF16Loop
	VZEROUPPER
	RET

// func scaleF16AVX2(y *byte, n int, s float32): y[i] = half(y[i]*s) over
// n (a positive multiple of 8) halves.
TEXT ·scaleF16AVX2(SB), NOSPLIT, $0-20
	MOVQ         y+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS s+16(FP), Y2

scaleF16Loop:
	VCVTPH2PS (DI), Y0
	VMULPS    Y2, Y0, Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ      $16, DI
	SUBQ      $8, CX
	JNZ       scaleF16Loop
	VZEROUPPER
	RET
