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

// Flash attention decodes each value row of a quantized cache to float32
// (ggml's to_float) before adding it: q·d per value, d a half widened
// exactly, so the results equal gguf's Go decoders bit for bit.

// SCALE_STORE_BLOCK converts the block's 32 integers in Y0, Y1, Y3, Y4 to
// float32, multiplies them by d (Y2) and stores them at DI.
#define SCALE_STORE_BLOCK \
	VCVTDQ2PS Y0, Y0     \
	VCVTDQ2PS Y1, Y1     \
	VCVTDQ2PS Y3, Y3     \
	VCVTDQ2PS Y4, Y4     \
	VMULPS    Y2, Y0, Y0 \
	VMULPS    Y2, Y1, Y1 \
	VMULPS    Y2, Y3, Y3 \
	VMULPS    Y2, Y4, Y4 \
	VMOVUPS   Y0, (DI)   \
	VMOVUPS   Y1, 32(DI) \
	VMOVUPS   Y3, 64(DI) \
	VMOVUPS   Y4, 96(DI)

// func decodeQ8_0AVX2(dst *float32, src *byte, blocks int): block_q8_0
// {d half; qs[32] int8} -> qs[j]*d.
TEXT ·decodeQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX

q8Block:
	VPBROADCASTW (SI), X2
	VCVTPH2PS    X2, Y2
	VPMOVSXBD    2(SI), Y0
	VPMOVSXBD    10(SI), Y1
	VPMOVSXBD    18(SI), Y3
	VPMOVSXBD    26(SI), Y4
	SCALE_STORE_BLOCK
	ADDQ         $34, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q8Block
	VZEROUPPER
	RET

DATA q4Const<>+0(SB)/4, $0x0f // low nibble
DATA q4Const<>+4(SB)/4, $8    // zero point
GLOBL q4Const<>(SB), RODATA|NOPTR, $8

// func decodeQ4_0AVX2(dst *float32, src *byte, blocks int): block_q4_0
// {d half; qs[16]} -> value j is (qs[j]&15 - 8)*d, value j+16 (qs[j]>>4 - 8)*d.
TEXT ·decodeQ4_0AVX2(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         blocks+16(FP), CX
	VPBROADCASTD q4Const<>+0(SB), Y5
	VPBROADCASTD q4Const<>+4(SB), Y6

q4Block:
	VPBROADCASTW (SI), X2
	VCVTPH2PS    X2, Y2
	VPMOVZXBD    2(SI), Y0  // qs[0:8]
	VPMOVZXBD    10(SI), Y1 // qs[8:16]
	VPSRLD       $4, Y0, Y3
	VPSRLD       $4, Y1, Y4
	VPAND        Y5, Y0, Y0
	VPAND        Y5, Y1, Y1
	VPSUBD       Y6, Y0, Y0
	VPSUBD       Y6, Y1, Y1
	VPSUBD       Y6, Y3, Y3
	VPSUBD       Y6, Y4, Y4
	SCALE_STORE_BLOCK
	ADDQ         $18, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q4Block
	VZEROUPPER
	RET
