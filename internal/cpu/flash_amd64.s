//go:build amd64 && !purego

#include "textflag.h"

// Flash attention's value accumulation over a run of positions, one strip
// of a head's dimensions held in registers: for each position t, if
// ms[t] != 1 the accumulator is scaled by ms[t] (a new maximum score),
// then acc = fma(v_t, vs[t], acc). The F16 kernels keep the accumulator as
// ggml's F16C vector ops keep it in memory: every step widens the halves to
// float32, computes in float32 and rounds back to a half (to nearest even);
// here the rounding is a round trip through a half register. Arguments:
// acc (64 or 8 values: halves for F16, float32 for F32), v (the first
// position's strip), vStride (bytes from one position's strip to the
// next), n >= 1 positions, ms and vs (n float32 each).

// F16RT rounds the float32 lanes of Y to halves and widens them back.
#define F16RT(Y, X) \
	VCVTPS2PH $0, Y, X \
	VCVTPH2PS X, Y

// FLASH_ARGS loads the arguments, 1.0 into X13 and the position index into BX.
#define FLASH_ARGS \
	MOVQ         acc+0(FP), DI   \
	MOVQ         v+8(FP), SI     \
	MOVQ         vStride+16(FP), DX \
	MOVQ         n+24(FP), CX    \
	MOVQ         ms+32(FP), R8   \
	MOVQ         vs+40(FP), R9   \
	MOVL         $0x3f800000, AX \
	VMOVD        AX, X13         \
	XORQ         BX, BX

// FLASH_NEEDS_SCALE jumps to scale unless ms[BX] is 1 (a NaN scales),
// leaving ms[BX] broadcast in Y12 when it does.
#define FLASH_NEEDS_SCALE(scale) \
	VMOVSS       (R8)(BX*4), X12 \
	VUCOMISS     X13, X12        \
	JNE          scale           \
	JP           scale

// SCALE8 multiplies Y0-Y7 by ms[BX] (in X12).
#define SCALE8 \
	VBROADCASTSS X12, Y12   \
	VMULPS       Y12, Y0, Y0 \
	VMULPS       Y12, Y1, Y1 \
	VMULPS       Y12, Y2, Y2 \
	VMULPS       Y12, Y3, Y3 \
	VMULPS       Y12, Y4, Y4 \
	VMULPS       Y12, Y5, Y5 \
	VMULPS       Y12, Y6, Y6 \
	VMULPS       Y12, Y7, Y7

// FLASH_NEXT advances to the next position and loops to top while any are left.
#define FLASH_NEXT(top) \
	ADDQ DX, SI  \
	INCQ BX      \
	CMPQ BX, CX  \
	JLT  top

// func flashF16AVX2(acc, v *byte, vStride, n int, ms, vs *float32): a strip
// of 64 halves.
TEXT ·flashF16AVX2(SB), NOSPLIT, $0-48
	FLASH_ARGS
	VCVTPH2PS 0(DI), Y0
	VCVTPH2PS 16(DI), Y1
	VCVTPH2PS 32(DI), Y2
	VCVTPH2PS 48(DI), Y3
	VCVTPH2PS 64(DI), Y4
	VCVTPH2PS 80(DI), Y5
	VCVTPH2PS 96(DI), Y6
	VCVTPH2PS 112(DI), Y7

f16Pos:
	FLASH_NEEDS_SCALE(f16Scale)

f16Mad:
	VBROADCASTSS (R9)(BX*4), Y12
	VCVTPH2PS    0(SI), Y8
	VCVTPH2PS    16(SI), Y9
	VCVTPH2PS    32(SI), Y10
	VCVTPH2PS    48(SI), Y11
	VFMADD231PS  Y8, Y12, Y0
	VFMADD231PS  Y9, Y12, Y1
	VFMADD231PS  Y10, Y12, Y2
	VFMADD231PS  Y11, Y12, Y3
	F16RT(Y0, X0)
	F16RT(Y1, X1)
	F16RT(Y2, X2)
	F16RT(Y3, X3)
	VCVTPH2PS    64(SI), Y8
	VCVTPH2PS    80(SI), Y9
	VCVTPH2PS    96(SI), Y10
	VCVTPH2PS    112(SI), Y11
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VFMADD231PS  Y10, Y12, Y6
	VFMADD231PS  Y11, Y12, Y7
	F16RT(Y4, X4)
	F16RT(Y5, X5)
	F16RT(Y6, X6)
	F16RT(Y7, X7)
	FLASH_NEXT(f16Pos)
	VCVTPS2PH    $0, Y0, 0(DI)
	VCVTPS2PH    $0, Y1, 16(DI)
	VCVTPS2PH    $0, Y2, 32(DI)
	VCVTPS2PH    $0, Y3, 48(DI)
	VCVTPS2PH    $0, Y4, 64(DI)
	VCVTPS2PH    $0, Y5, 80(DI)
	VCVTPS2PH    $0, Y6, 96(DI)
	VCVTPS2PH    $0, Y7, 112(DI)
	VZEROUPPER
	RET

f16Scale:
	SCALE8
	F16RT(Y0, X0)
	F16RT(Y1, X1)
	F16RT(Y2, X2)
	F16RT(Y3, X3)
	F16RT(Y4, X4)
	F16RT(Y5, X5)
	F16RT(Y6, X6)
	F16RT(Y7, X7)
	JMP          f16Mad

// func flashF16x8AVX2(acc, v *byte, vStride, n int, ms, vs *float32): a
// strip of 8 halves.
TEXT ·flashF16x8AVX2(SB), NOSPLIT, $0-48
	FLASH_ARGS
	VCVTPH2PS (DI), Y0

f16x8Pos:
	FLASH_NEEDS_SCALE(f16x8Scale)

f16x8Mad:
	VBROADCASTSS (R9)(BX*4), Y12
	VCVTPH2PS    (SI), Y8
	VFMADD231PS  Y8, Y12, Y0
	F16RT(Y0, X0)
	FLASH_NEXT(f16x8Pos)
	VCVTPS2PH    $0, Y0, (DI)
	VZEROUPPER
	RET

f16x8Scale:
	VBROADCASTSS X12, Y12
	VMULPS       Y12, Y0, Y0
	F16RT(Y0, X0)
	JMP          f16x8Mad

// func flashF32AVX2(acc, v *float32, vStride, n int, ms, vs
// *float32): a strip of 64 float32 values.
TEXT ·flashF32AVX2(SB), NOSPLIT, $0-48
	FLASH_ARGS
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7

f32Pos:
	FLASH_NEEDS_SCALE(f32Scale)

f32Mad:
	VBROADCASTSS (R9)(BX*4), Y12
	VFMADD231PS  0(SI), Y12, Y0
	VFMADD231PS  32(SI), Y12, Y1
	VFMADD231PS  64(SI), Y12, Y2
	VFMADD231PS  96(SI), Y12, Y3
	VFMADD231PS  128(SI), Y12, Y4
	VFMADD231PS  160(SI), Y12, Y5
	VFMADD231PS  192(SI), Y12, Y6
	VFMADD231PS  224(SI), Y12, Y7
	FLASH_NEXT(f32Pos)
	VMOVUPS      Y0, 0(DI)
	VMOVUPS      Y1, 32(DI)
	VMOVUPS      Y2, 64(DI)
	VMOVUPS      Y3, 96(DI)
	VMOVUPS      Y4, 128(DI)
	VMOVUPS      Y5, 160(DI)
	VMOVUPS      Y6, 192(DI)
	VMOVUPS      Y7, 224(DI)
	VZEROUPPER
	RET

f32Scale:
	SCALE8
	JMP          f32Mad

// func flashF32x8AVX2(acc, v *float32, vStride, n int, ms, vs
// *float32): a strip of 8 float32 values.
TEXT ·flashF32x8AVX2(SB), NOSPLIT, $0-48
	FLASH_ARGS
	VMOVUPS (DI), Y0

f32x8Pos:
	FLASH_NEEDS_SCALE(f32x8Scale)

f32x8Mad:
	VBROADCASTSS (R9)(BX*4), Y12
	VFMADD231PS  (SI), Y12, Y0
	FLASH_NEXT(f32x8Pos)
	VMOVUPS      Y0, (DI)
	VZEROUPPER
	RET

f32x8Scale:
	VBROADCASTSS X12, Y12
	VMULPS       Y12, Y0, Y0
	JMP          f32x8Mad

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
