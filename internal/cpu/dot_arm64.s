//go:build !purego

#include "textflag.h"
#include "dot_arm64.h"

// Advanced SIMD kernels for Dot and DotMatrix on arm64 (see dot_arm64.go),
// in two sets: with the dot-product extension's SDOT (the DotProd kernels,
// every Apple CPU) and with plain NEON multiplies (the NEON kernels, any
// arm64 CPU). Each computes
//
//	out[r] = Dot(t, n, w + r*wStride, a)    for r in [0, rows)
//
// for one weight type: a matrix-vector product, or a slice of one, with
// the activation row staying in L1 across weight rows.
//
//	func(w *byte, wStride int, a *byte, nb int, out *float32, rows int)
//
// nb is the number of blocks per row (values for the float types);
// nb >= 1, rows >= 1.
//
// Every kernel gives the amd64 AVX2 kernel's result bit for bit (the
// orders of llama.cpp's x86 kernels, and so its logits): the integer part
// of a block is exact, and what the float part sees is the same set of
// eight int32 lanes per block as there (lane k holding the products of
// values 4k..4k+3 of each 32, times their scales), converted to float and
// accumulated with the same fused multiply-adds into the same eight float
// lanes, which are added pairwise once per row. A 256-bit AVX2 register
// is a pair of NEON registers here, its low half first. SDOT yields
// exactly those int32 lanes; the NEON kernels get them from int16
// products (SMULL), summed in adjacent pairs (ADDP) and then either
// widened (SADALP) or, for the K-quants, summed again into int16 sums of
// four and multiplied by the scales with SMLAL. Each kernel notes the
// largest int16 sum it relies on.
//
// General registers:
//	R0 weight row   R1 wStride   R2 activation row   R3 nb
//	R4 next output  R5 rows left
//	R6 weight block R7 activation block   R8 blocks left
//	R9-R13 temporaries
// Vector registers V24, V25 hold a row's eight float lanes; V28 is 0x0f
// in every byte.

#define ARGS \
	MOVD w+0(FP), R0 \
	MOVD wStride+8(FP), R1 \
	MOVD a+16(FP), R2 \
	MOVD nb+24(FP), R3 \
	MOVD out+32(FP), R4 \
	MOVD rows+40(FP), R5

// ARGSX4 loads the arguments of the four-row (X4) kernels:
//
//	func(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// as ARGS does, with aStride in R14 and the bytes between output rows in
// R15.
#define ARGSX4 \
	MOVD w+0(FP), R0 \
	MOVD wStride+8(FP), R1 \
	MOVD rows+16(FP), R5 \
	MOVD a+24(FP), R2 \
	MOVD aStride+32(FP), R14 \
	MOVD nb+40(FP), R3 \
	MOVD out+48(FP), R4 \
	MOVD outStride+56(FP), R15 \
	LSL  $2, R15

// X4ROW_START and X4ROW_END bracket the X4 kernels' row loop: R7 and
// R19-R21 are the four activation rows' blocks.
#define X4ROW_START \
	MOVD R0, R6 \
	MOVD R2, R7 \
	ADD  R14, R7, R19 \
	ADD  R14, R19, R20 \
	ADD  R14, R20, R21 \
	MOVD R3, R8

#define X4ROW_END(label) \
	ADD  $4, R4 \
	ADD  R1, R0 \
	SUBS $1, R5 \
	BNE  label \
	RET

// X4BLOCK_END(blen, label) steps to the next weight block (blen bytes)
// and the four rows' next Q8_K blocks, and loops while blocks are left.
#define X4BLOCK_END(blen, label) \
	ADD  $blen, R6 \
	ADD  $292, R7 \
	ADD  $292, R19 \
	ADD  $292, R20 \
	ADD  $292, R21 \
	SUBS $1, R8 \
	BNE  label

#define ZERO(v) VEOR v.B16, v.B16, v.B16

// ROW_START and ROW_END bracket each kernel's row loop.
#define ROW_START \
	MOVD R0, R6 \
	MOVD R2, R7 \
	MOVD R3, R8

#define ROW_END(label) \
	FMOVS F24, (R4) \
	ADD   $4, R4 \
	ADD   R1, R0 \
	SUBS  $1, R5 \
	BNE   label \
	RET

// The integer products of 16 int8 weights (Vw) and activations (Va) of a
// 32-value block type, added to the int32 lanes of Vacc (lane k: bytes
// 4k..4k+3). The NEON form sums pairs of int16 products, at most
// 2*128*127 = 32512 in magnitude (Q8_0 weights may be -128; activations
// are within +-127), using V6 and V7.
#define IDOT_DP(acc, w, a) SDOT(acc, w, a)

#define IDOT_NEON(acc, w, a) \
	SMULL8H(6, w, a) \
	SMULL28H(7, w, a) \
	ADDP8H(6, 6, 7) \
	SADALP4S(acc, 6)

// ---------------------------------------------------------------------
// The 32-value block types against Q8_0 activations (34 bytes: fp16 d,
// 32 int8). LOADW loads a block's 32 int8 weights into V2, V3 and its
// fp16 scale into R10, and steps R6 to the next block; the two scales are
// converted together (dw, da in lanes 0 and 1 of V29). Per block, as in
// the AVX2 Q32BODY:
//	lanes = the int32 sums of w.a over each 4 values (V4, V5)
//	F += float(lanes) * (dw*da)    (fused, in V24, V25)

// Q32LANES(ra, IDOT): the float lanes (V4, V5) of the products of the
// weights in V2, V3 and the 32 activations at ra (stepped on), using V0,
// V1.
#define Q32LANES(ra, IDOT) \
	VLD1.P  32(ra), [V0.B16, V1.B16] \
	ZERO(V4) \
	ZERO(V5) \
	IDOT(4, 2, 0) \
	IDOT(5, 3, 1) \
	SCVTF4S(4, 4) \
	SCVTF4S(5, 5)

// Q32ROW(ra, lo, hi, IDOT) multiplies the weight block in V2, V3 (scale
// in R10) with the activation block at ra (stepped on) into the float
// lanes Vlo, Vhi, using V0, V1, V4, V5, V29, V31, R9 and R11.
#define Q32ROW(ra, lo, hi, IDOT) \
	MOVHU.P 2(ra), R9 \
	Q32LANES(ra, IDOT) \
	ORR     R9<<16, R10, R11 \
	FMOVS   R11, F29 \
	FCVTL4S(29, 29) \
	FMULSE(31, 29, 29, 1) \
	FMLAS(lo, 4, 31, 0) \
	FMLAS(hi, 5, 31, 0)

// Q32BODY(LOADW, IDOT) is the row and block loop of the one-row kernels.
#define Q32BODY(LOADW, IDOT) \
	ARGS \
	Q32CONST \
row: \
	ROW_START \
	ZERO(V24) \
	ZERO(V25) \
block: \
	LOADW \
	Q32ROW(R7, 24, 25, IDOT) \
	SUBS $1, R8 \
	BNE  block \
	HSUM8(24, 25, 26) \
	ROW_END(row)

// Q32X4BODY(LOADW, IDOT) is Q32BODY for four activation rows at once
// (the prompt's matrix products): each weight block is loaded (and its
// nibbles and fifth bits decoded) once for the four rows, whose lanes get
// exactly the operations Q32BODY would give them. The four rows' scales
// da go to halfwords 0-3 of V30 and dw to halfword 4, converted together;
// lane r of V31 is then dw*da of row r (one product, as FMULSE's).
//
//	func(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// out[r*outStride + i] gets the product of weight row i and activation
// row r. Registers besides Q32BODY's: see ARGSX4 and X4ROW_START; V8,
// V9, V10, V11, V12, V13, V22, V23 the rows' float lanes.
#define Q32X4BODY(LOADW, IDOT) \
	ARGSX4 \
	Q32CONST \
row: \
	X4ROW_START \
	ZERO(V8) \
	ZERO(V9) \
	ZERO(V10) \
	ZERO(V11) \
	ZERO(V12) \
	ZERO(V13) \
	ZERO(V22) \
	ZERO(V23) \
block: \
	LOADW \
	VLD1.P 2(R7), V30.H[0] \
	VLD1.P 2(R19), V30.H[1] \
	VLD1.P 2(R20), V30.H[2] \
	VLD1.P 2(R21), V30.H[3] \
	VMOV   R10, V30.H[4] \
	FCVTL4S(31, 30) \
	FCVTL24S(29, 30) \
	FMULE(31, 31, 29, 0) \
	Q32LANES(R7, IDOT) \
	FMLAS(8, 4, 31, 0) \
	FMLAS(9, 5, 31, 0) \
	Q32LANES(R19, IDOT) \
	FMLAS(10, 4, 31, 1) \
	FMLAS(11, 5, 31, 1) \
	Q32LANES(R20, IDOT) \
	FMLAS(12, 4, 31, 2) \
	FMLAS(13, 5, 31, 2) \
	Q32LANES(R21, IDOT) \
	FMLAS(22, 4, 31, 3) \
	FMLAS(23, 5, 31, 3) \
	SUBS $1, R8 \
	BNE  block \
	HSUM8(8, 9, 24) \
	HSUM8(10, 11, 24) \
	HSUM8(12, 13, 24) \
	HSUM8(22, 23, 24) \
	FMOVS F8, (R4) \
	ADD   R15, R4, R9 \
	FMOVS F10, (R9) \
	ADD   R15, R9, R9 \
	FMOVS F12, (R9) \
	ADD   R15, R9, R9 \
	FMOVS F22, (R9) \
	X4ROW_END(row)

// Q8_0 (34 bytes: fp16 d, 32 int8).
#define Q32CONST
#define LOADQ8_0 \
	MOVHU.P 2(R6), R10 \
	VLD1.P  32(R6), [V2.B16, V3.B16]

TEXT ·dotQ8_0DotProd(SB), NOSPLIT, $0-48
	Q32BODY(LOADQ8_0, IDOT_DP)

TEXT ·dotQ8_0X4DotProd(SB), NOSPLIT, $0-64
	Q32X4BODY(LOADQ8_0, IDOT_DP)

TEXT ·dotQ8_0NEON(SB), NOSPLIT, $0-48
	Q32BODY(LOADQ8_0, IDOT_NEON)

TEXT ·dotQ8_0X4NEON(SB), NOSPLIT, $0-64
	Q32X4BODY(LOADQ8_0, IDOT_NEON)

#undef Q32CONST

// Q4_0 (18 bytes: fp16 d, 16 bytes of nibbles; value j is the low nibble
// of byte j, value j+16 the high one; minus 8). V27 is 8 in every byte.
#define Q32CONST \
	VMOVI $15, V28.B16 \
	VMOVI $8, V27.B16

#define LOADQ4_0 \
	MOVHU.P 2(R6), R10 \
	VLD1.P  16(R6), [V2.B16] \
	VUSHR   $4, V2.B16, V3.B16 \
	VAND    V28.B16, V2.B16, V2.B16 \
	VSUB    V27.B16, V2.B16, V2.B16 \
	VSUB    V27.B16, V3.B16, V3.B16

TEXT ·dotQ4_0DotProd(SB), NOSPLIT, $0-48
	Q32BODY(LOADQ4_0, IDOT_DP)

TEXT ·dotQ4_0X4DotProd(SB), NOSPLIT, $0-64
	Q32X4BODY(LOADQ4_0, IDOT_DP)

TEXT ·dotQ4_0NEON(SB), NOSPLIT, $0-48
	Q32BODY(LOADQ4_0, IDOT_NEON)

TEXT ·dotQ4_0X4NEON(SB), NOSPLIT, $0-64
	Q32X4BODY(LOADQ4_0, IDOT_NEON)

#undef Q32CONST

// Q5_0 (22 bytes: fp16 d, 32 bits qh, 16 bytes of nibbles as Q4_0; bit j
// of qh is the fifth bit of value j; minus 16). TBL copies qh's byte j/8
// to byte j, CMTST with bit j%8 makes a byte mask m of the set bits; a
// value is then the nibble where the bit is set and nibble | 0xf0 (nibble
// - 16 as int8) where it is clear (BIF).
//	V27 0xf0 in every byte    V14, V15 temporaries
//	V16, V17 TBL indexes for values 0-15 and 16-31    V18 bit j%8 in byte j
DATA q5bits<>+0(SB)/8, $0x0000000000000000
DATA q5bits<>+8(SB)/8, $0x0101010101010101
DATA q5bits<>+16(SB)/8, $0x0202020202020202
DATA q5bits<>+24(SB)/8, $0x0303030303030303
DATA q5bits<>+32(SB)/8, $0x8040201008040201
DATA q5bits<>+40(SB)/8, $0x8040201008040201
GLOBL q5bits<>(SB), RODATA|NOPTR, $48

#define Q32CONST \
	VMOVI $15, V28.B16 \
	VMOVI $0xf0, V27.B16 \
	MOVD  $q5bits<>(SB), R9 \
	VLD1  (R9), [V16.B16, V17.B16, V18.B16]

#define LOADQ5_0 \
	MOVHU.P 2(R6), R10 \
	VLD1.P  4(R6), V21.S[0] \
	VLD1.P  16(R6), [V2.B16] \
	VUSHR   $4, V2.B16, V3.B16 \
	VAND    V28.B16, V2.B16, V2.B16 \
	VTBL    V16.B16, [V21.B16], V20.B16 \
	VTBL    V17.B16, [V21.B16], V19.B16 \
	VCMTST  V18.B16, V20.B16, V20.B16 \
	VCMTST  V18.B16, V19.B16, V19.B16 \
	VORR    V27.B16, V2.B16, V14.B16 \
	VORR    V27.B16, V3.B16, V15.B16 \
	VBIF    V20.B16, V14.B16, V2.B16 \
	VBIF    V19.B16, V15.B16, V3.B16

TEXT ·dotQ5_0DotProd(SB), NOSPLIT, $0-48
	Q32BODY(LOADQ5_0, IDOT_DP)

TEXT ·dotQ5_0X4DotProd(SB), NOSPLIT, $0-64
	Q32X4BODY(LOADQ5_0, IDOT_DP)

TEXT ·dotQ5_0NEON(SB), NOSPLIT, $0-48
	Q32BODY(LOADQ5_0, IDOT_NEON)

TEXT ·dotQ5_0X4NEON(SB), NOSPLIT, $0-64
	Q32X4BODY(LOADQ5_0, IDOT_NEON)

#undef Q32CONST

// ---------------------------------------------------------------------
// The K-quants against Q8_K activations (292 bytes: fp32 d, 256 int8, 16
// int16 bsums). KSUB(acc0, acc1, w0, w1, a0, a1, s0, s1) adds the
// products of 32 weights (16 bytes in Vw0, 16 in Vw1) and activations
// (Va0, Va1), times scale s0 (the first 16) or s1 (the last 16), to the
// int32 lanes of Vacc0 (first 16) and Vacc1: lane k gets
// scale * (the products of bytes 4k..4k+3), as VPMADDUBSW and VPMADDWD
// give it in the AVX2 kernels. The DotProd form takes scale s from word
// s&3 of V(16 + s>>2) (int32) and uses V8, V9; the NEON form takes it
// from halfword s&7 of V(12 + s>>3) (int16) and uses V8-V11: its sums
// of four int16 products are at most 4*63*127 = 32004 (Q6_K) in
// magnitude.
#define KSUB_DP(acc0, acc1, w0, w1, a0, a1, s0, s1) \
	ZERO(V8) \
	ZERO(V9) \
	SDOT(8, w0, a0) \
	SDOT(9, w1, a1) \
	MLAS(acc0, 8, 16+((s0)>>2), (s0)&3) \
	MLAS(acc1, 9, 16+((s1)>>2), (s1)&3)

#define KSUB_NEON(acc0, acc1, w0, w1, a0, a1, s0, s1) \
	SMULL8H(8, w0, a0) \
	SMULL28H(9, w0, a0) \
	SMULL8H(10, w1, a1) \
	SMULL28H(11, w1, a1) \
	ADDP8H(8, 8, 9) \
	ADDP8H(10, 10, 11) \
	ADDP8H(8, 8, 10) \
	SMLALH(acc0, 8, 12+((s0)>>3), (s0)&7) \
	SMLAL2H(acc1, 8, 12+((s1)>>3), (s1)&7)

// SCALES_DP and SCALES_NEON put the eight unsigned scale bytes in R11
// where KSUB_DP and KSUB_NEON take them.
#define SCALES_DP \
	VMOV   R11, V16.D[0] \
	VUXTL  V16.B8, V16.H8 \
	VUXTL2 V16.H8, V17.S4 \
	VUXTL  V16.H4, V16.S4

#define SCALES_NEON \
	VMOV  R11, V12.D[0] \
	VUXTL V12.B8, V12.H8

// Q4_K x Q8_K. Weight block (144 bytes): fp16 d, fp16 dmin, 12 bytes of
// 6-bit scales and mins, 128 bytes of nibbles; byte l of the 32-byte chunk
// j holds value 64j+l (low nibble, sub-block 2j) and 64j+32+l (high
// nibble, sub-block 2j+1). Per block, as dotQ4KAVX2:
//	isum lanes (V18, V19) = sum_k scale_k * (q.a over 4 values of k)
//	msum lanes (V20) = min_2k*bp_2k + min_2k+1*bp_2k+1, bp_k = bsums[2k]+bsums[2k+1]
//	F += float(isum) * (d*yd)           (V24, V25)
//	M -= float(msum) * (dmin*yd)        (V26, four lanes)
// and the row's result is HSUM8(F) + HSUM4(M). Q5_K differs in its fifth
// bits (HIGH) and in its mins (MINS, ROWMINS; see below).
//
// Vector registers besides those of KSUB:
//	V0-V3 a chunk's 64 activations   V4, V5 its low nibbles, V6, V7 high
//	V13-V15, V27 Q5_K's qh, temporary and 0x10 mask
//	V20-V23 mins and bsums           V29-V31 d, dmin, yd and products

// Q4K_UNPACK sets R11 to the eight 6-bit scales and R13 to the eight mins
// of the block at R6, one per byte (ggml's utmp shuffle, as scalesQ4K).
#define Q4K_UNPACK \
	MOVWU 4(R6), R11 \
	MOVWU 8(R6), R13 \
	MOVWU 12(R6), R9 \
	ANDW  $0x0f0f0f0f, R9, R10 \
	LSRW  $2, R11, R12 \
	ANDW  $0x30303030, R12, R12 \
	ORRW  R12, R10, R10 \
	ANDW  $0x3f3f3f3f, R11, R11 \
	ORR   R10<<32, R11, R11 \
	LSRW  $4, R9, R10 \
	ANDW  $0x0f0f0f0f, R10, R10 \
	LSRW  $2, R13, R12 \
	ANDW  $0x30303030, R12, R12 \
	ORRW  R12, R10, R10 \
	ANDW  $0x3f3f3f3f, R13, R13 \
	ORR   R10<<32, R13, R13

// KNIBBLES(HIGH) loads a chunk's 32 nibble bytes at R10 (stepped on) as
// 64 values: V4, V5 the low nibbles, V6, V7 the high ones, and HIGH adds
// Q5_K's fifth bits.
#define KNIBBLES(HIGH) \
	VLD1.P 32(R10), [V4.B16, V5.B16] \
	VUSHR  $4, V4.B16, V6.B16 \
	VUSHR  $4, V5.B16, V7.B16 \
	VAND   V28.B16, V4.B16, V4.B16 \
	VAND   V28.B16, V5.B16, V5.B16 \
	HIGH

// KMSUM(ra, Va, Vb, a, b, c, mins, d): the msum lanes of the activation
// block at ra into Vd: min_2k*bp_2k + min_2k+1*bp_2k+1 for the eight
// int16 mins in Vmins, bp_k = bsums[2k]+bsums[2k+1], using Va, Vb (the
// same registers as a, b) and Vc.
#define KMSUM(ra, Va, Vb, a, b, c, mins, d) \
	ADD  $260, ra, R9 \
	VLD1 (R9), [Va.H8, Vb.H8] \
	ADDP8H(a, a, b) \
	SMULL4S(b, a, mins) \
	SMULL24S(c, a, mins) \
	ADDP4S(d, b, c)

// KCHUNK(j, HIGH, KSUB): chunk j's 32 nibble bytes at R10 and 64
// activations at R12 (both stepped on), sub-blocks 2j and 2j+1.
#define KCHUNK(j, HIGH, KSUB) \
	KNIBBLES(HIGH) \
	VLD1.P 64(R12), [V0.B16, V1.B16, V2.B16, V3.B16] \
	KSUB(18, 19, 4, 5, 0, 1, 2*(j), 2*(j)) \
	KSUB(18, 19, 6, 7, 2, 3, 2*(j)+1, 2*(j)+1)

// KBODY(SCALES, KSUB, qoff, HIGH, QH, MINS, ROWMINS, blen): the row and
// block loop of Q4_K and Q5_K, whose nibbles start at qoff.
#define KBODY(SCALES, KSUB, qoff, HIGH, QH, MINS, ROWMINS, blen) \
	ARGS \
	VMOVI $15, V28.B16 \
	VMOVI $0x10, V27.B16 \
row: \
	ROW_START \
	ZERO(V24) \
	ZERO(V25) \
	ZERO(V26) \
block: \
	Q4K_UNPACK \
	SCALES \
	VMOV     R13, V20.D[0] \
	VUXTL    V20.B8, V20.H8 \
	KMSUM(R7, V21, V22, 21, 22, 23, 20, 20) \
	ZERO(V18) \
	ZERO(V19) \
	QH \
	ADD      $qoff, R6, R10 \
	ADD      $4, R7, R12 \
	KCHUNK(0, HIGH, KSUB) \
	KCHUNK(1, HIGH, KSUB) \
	KCHUNK(2, HIGH, KSUB) \
	KCHUNK(3, HIGH, KSUB) \
	MOVWU    (R6), R9 \
	VMOV     R9, V29.S[0] \
	FCVTL4S(29, 29) \
	VDUP     V29.S[1], V21.S4 \
	FMOVS    (R7), F30 \
	FMULS    F30, F29, F31 \
	FMULS    F30, F21, F21 \
	SCVTF4S(18, 18) \
	SCVTF4S(19, 19) \
	FMLAS(24, 18, 31, 0) \
	FMLAS(25, 19, 31, 0) \
	MINS \
	ADD      $blen, R6 \
	ADD      $292, R7 \
	SUBS     $1, R8 \
	BNE      block \
	HSUM8(24, 25, 23) \
	ROWMINS \
	FADDS    F26, F24, F24 \
	ROW_END(row)

#define KNONE

// Q4_K's mins: four float lanes, M -= float(msum) * (dmin*yd) fused
// (VFNMADD231PS), reduced at the end of the row.
#define Q4K_MINS \
	SCVTF4S(20, 20) \
	FMLSS(26, 20, 21, 0)

#define Q4K_ROWMINS HSUM4(26, 23)

TEXT ·dotQ4KDotProd(SB), NOSPLIT, $0-48
	KBODY(SCALES_DP, KSUB_DP, 16, KNONE, KNONE, Q4K_MINS, Q4K_ROWMINS, 144)

TEXT ·dotQ4KNEON(SB), NOSPLIT, $0-48
	KBODY(SCALES_NEON, KSUB_NEON, 16, KNONE, KNONE, Q4K_MINS, Q4K_ROWMINS, 144)

// Q5_K x Q8_K. Weight block (176 bytes): fp16 d, fp16 dmin, 12 bytes of
// scales and mins as Q4_K, 32 bytes qh, 128 bytes of nibbles as Q4_K; the
// fifth bit of value 64j+l is bit 2j of qh[l] (low nibble) or bit 2j+1
// (high nibble). As in dotQ5KAVX2 the mins' term is one integer per
// block, subtracted times dmin*yd from a float32 sum (S26) in one rounding.
// qh (V13, V14) moves down two bits per chunk.
#define Q5K_QH \
	ADD  $16, R6, R9 \
	VLD1 (R9), [V13.B16, V14.B16]

// ORBIT(s, q, t, m, v) ORs (q << s) & m into v's bytes, using t.
#define ORBIT(s, q, t, m, v) \
	VSHL $s, q.B16, t.B16 \
	VAND m.B16, t.B16, t.B16 \
	VORR t.B16, v.B16, v.B16

// Q5K_HIGHR(qa, qb, t, m) ORs the chunk's fifth bits into V4-V7, with
// qh in qa, qb, the 0x10 mask in m and t a temporary.
#define Q5K_HIGHR(qa, qb, t, m) \
	ORBIT(4, qa, t, m, V4) \
	ORBIT(4, qb, t, m, V5) \
	ORBIT(3, qa, t, m, V6) \
	ORBIT(3, qb, t, m, V7) \
	VUSHR $2, qa.B16, qa.B16 \
	VUSHR $2, qb.B16, qb.B16

#define Q5K_HIGH Q5K_HIGHR(V13, V14, V15, V27)

#define Q5K_MINS \
	VADDV  V20.S4, V20 \
	SCVTF4S(20, 20) \
	FMSUBS F21, F26, F20, F26

TEXT ·dotQ5KDotProd(SB), NOSPLIT, $0-48
	KBODY(SCALES_DP, KSUB_DP, 48, Q5K_HIGH, Q5K_QH, Q5K_MINS, KNONE, 176)

TEXT ·dotQ5KNEON(SB), NOSPLIT, $0-48
	KBODY(SCALES_NEON, KSUB_NEON, 48, Q5K_HIGH, Q5K_QH, Q5K_MINS, KNONE, 176)

// Q4_K and Q5_K x Q8_K for four activation rows at once (the prompt's
// matrix products): each weight block's scales are unpacked and its
// nibbles (and fifth bits) decoded once, then multiplied with the four
// rows' activation blocks; each row's lanes get exactly the operations
// KBODY gives them.
//
//	func(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// out[r*outStride + i] gets the product of weight row i and activation
// row r.
//
// General registers besides KBODY's: R14 aStride, R15 the bytes between
// output rows, R7 and R19-R21 the four rows' activation blocks, R12 and
// R22-R24 their chunks (stepped on).
// Vector registers besides those of KSUB and KCHUNK (V0, V1 hold 32
// activations at a time):
//	V2, V3 / V13, V14 / V15, V26 / i3a, i3b  the rows' isum lanes (row
//	        3: V10, V11 for DotProd, V16, V17 for NEON)
//	V18-V25  the rows' float lanes (row r: V18+2r, V19+2r)
//	V27, V29-V31  Q4_K's four rows' mins lanes
//	V27      Q5_K's four rows' mins sums (lane r: row r)
//	V29, V30 Q5_K's qh; V31 0x10 in every byte
// Once a block's chunks are done, V0, V1, V4-V9 and V12 are temporaries
// (V4 d and dmin, V5 the mins, V6 yd then dmin*yd, V7 d*yd, V9 dmin).

// KX4ROW(ra, ia, ib, j, KSUB): chunk j of the activation block at ra
// (stepped on) times the chunk's values in V4-V7, into lanes Via, Vib.
#define KX4ROW(ra, ia, ib, j, KSUB) \
	VLD1.P 32(ra), [V0.B16, V1.B16] \
	KSUB(ia, ib, 4, 5, 0, 1, 2*(j), 2*(j)) \
	VLD1.P 32(ra), [V0.B16, V1.B16] \
	KSUB(ia, ib, 6, 7, 0, 1, 2*(j)+1, 2*(j)+1)

// KX4CHUNK(j, HIGH, KSUB, i3a, i3b): chunk j's nibbles at R10 (stepped
// on) for the four rows.
#define KX4CHUNK(j, HIGH, KSUB, i3a, i3b) \
	KNIBBLES(HIGH) \
	KX4ROW(R12, 2, 3, j, KSUB) \
	KX4ROW(R22, 13, 14, j, KSUB) \
	KX4ROW(R23, 15, 26, j, KSUB) \
	KX4ROW(R24, i3a, i3b, j, KSUB)

// KX4FINISH(ra, ia, ib, fa, fb, MINS): F += float(isum) * (d*yd) for the
// activation block at ra, then its msum lanes (V0) to MINS with dmin*yd
// in lane 0 of V6.
#define KX4FINISH(ra, ia, ib, fa, fb, MINS) \
	FMOVS (ra), F6 \
	FMULS F6, F4, F7 \
	SCVTF4S(ia, ia) \
	SCVTF4S(ib, ib) \
	FMLAS(fa, ia, 7, 0) \
	FMLAS(fb, ib, 7, 0) \
	KMSUM(ra, V0, V1, 0, 1, 0, 5, 0) \
	FMULS F6, F9, F6 \
	MINS

// KX4STORE(fa, fb, Ffa, ROWMINS, Fm, dst): the row's result, HSUM8 of
// its float lanes plus its mins' sum (which ROWMINS leaves in Fm), to dst.
#define KX4STORE(fa, fb, Ffa, ROWMINS, Fm, dst) \
	HSUM8(fa, fb, 0) \
	ROWMINS \
	FADDS Fm, Ffa, Ffa \
	FMOVS Ffa, dst

#define KX4BODY(SCALES, KSUB, qoff, HIGH, QH, CONST, MINS0, MINS1, MINS2, MINS3, BLOCKMINS, ROWMINS0, ROWMINS1, ROWMINS2, ROWMINS3, FM0, FM1, FM2, FM3, ZEROMINS, blen, i3a, i3b) \
	ARGSX4 \
	VMOVI $15, V28.B16 \
	CONST \
row: \
	X4ROW_START \
	ZERO(V18) \
	ZERO(V19) \
	ZERO(V20) \
	ZERO(V21) \
	ZERO(V22) \
	ZERO(V23) \
	ZERO(V24) \
	ZERO(V25) \
	ZEROMINS \
block: \
	Q4K_UNPACK \
	SCALES \
	ZERO(V2) \
	ZERO(V3) \
	ZERO(V13) \
	ZERO(V14) \
	ZERO(V15) \
	ZERO(V26) \
	ZEROV(i3a) \
	ZEROV(i3b) \
	QH \
	ADD $qoff, R6, R10 \
	ADD $4, R7, R12 \
	ADD $4, R19, R22 \
	ADD $4, R20, R23 \
	ADD $4, R21, R24 \
	KX4CHUNK(0, HIGH, KSUB, i3a, i3b) \
	KX4CHUNK(1, HIGH, KSUB, i3a, i3b) \
	KX4CHUNK(2, HIGH, KSUB, i3a, i3b) \
	KX4CHUNK(3, HIGH, KSUB, i3a, i3b) \
	MOVWU (R6), R9 \
	VMOV  R9, V4.S[0] \
	FCVTL4S(4, 4) \
	VDUP  V4.S[1], V9.S4 \
	VMOV  R13, V5.D[0] \
	VUXTL V5.B8, V5.H8 \
	KX4FINISH(R7, 2, 3, 18, 19, MINS0) \
	KX4FINISH(R19, 13, 14, 20, 21, MINS1) \
	KX4FINISH(R20, 15, 26, 22, 23, MINS2) \
	KX4FINISH(R21, i3a, i3b, 24, 25, MINS3) \
	BLOCKMINS \
	X4BLOCK_END(blen, block) \
	KX4STORE(18, 19, F18, ROWMINS0, FM0, (R4)) \
	ADD  R15, R4, R9 \
	KX4STORE(20, 21, F20, ROWMINS1, FM1, (R9)) \
	ADD  R15, R9, R9 \
	KX4STORE(22, 23, F22, ROWMINS2, FM2, (R9)) \
	ADD  R15, R9, R9 \
	KX4STORE(24, 25, F24, ROWMINS3, FM3, (R9)) \
	X4ROW_END(row)

// Q4_K's mins: row r's four float lanes in V27, V29, V30, V31, as
// Q4K_MINS and Q4K_ROWMINS.
#define Q4KX4_MINS(m) \
	SCVTF4S(0, 0) \
	FMLSS(m, 0, 6, 0)

#define Q4KX4_ZEROMINS \
	ZERO(V27) \
	ZERO(V29) \
	ZERO(V30) \
	ZERO(V31)

#define Q4KX4(SCALES, KSUB, i3a, i3b) \
	KX4BODY(SCALES, KSUB, 16, KNONE, KNONE, KNONE, Q4KX4_MINS(27), Q4KX4_MINS(29), Q4KX4_MINS(30), Q4KX4_MINS(31), KNONE, HSUM4(27, 0), HSUM4(29, 0), HSUM4(30, 0), HSUM4(31, 0), F27, F29, F30, F31, Q4KX4_ZEROMINS, 144, i3a, i3b)

TEXT ·dotQ4KX4DotProd(SB), NOSPLIT, $0-64
	Q4KX4(SCALES_DP, KSUB_DP, 10, 11)

TEXT ·dotQ4KX4NEON(SB), NOSPLIT, $0-64
	Q4KX4(SCALES_NEON, KSUB_NEON, 16, 17)

// Q5_K's mins: each row's block integer (VADDV) and dmin*yd go to lane r
// of V12 and V8, and once per block V27 -= float(V12) * V8, fused lane by
// lane: Q5K_MINS's one rounding for each row.
#define Q5KX4_MINS(r) \
	VADDV V0.S4, V0 \
	VMOV  V0.S[0], V12.S[r] \
	VMOV  V6.S[0], V8.S[r]

#define Q5KX4_BLOCKMINS \
	SCVTF4S(12, 12) \
	VFMLS V12.S4, V8.S4, V27.S4

#define Q5KX4_ROWMINS(r) VDUP V27.S[r], V1.S4

#define Q5KX4_CONST VMOVI $0x10, V31.B16

#define Q5KX4_QH \
	ADD  $16, R6, R9 \
	VLD1 (R9), [V29.B16, V30.B16]

#define Q5KX4(SCALES, KSUB, i3a, i3b) \
	KX4BODY(SCALES, KSUB, 48, Q5K_HIGHR(V29, V30, V8, V31), Q5KX4_QH, Q5KX4_CONST, Q5KX4_MINS(0), Q5KX4_MINS(1), Q5KX4_MINS(2), Q5KX4_MINS(3), Q5KX4_BLOCKMINS, Q5KX4_ROWMINS(0), Q5KX4_ROWMINS(1), Q5KX4_ROWMINS(2), Q5KX4_ROWMINS(3), F1, F1, F1, F1, ZERO(V27), 176, i3a, i3b)

TEXT ·dotQ5KX4DotProd(SB), NOSPLIT, $0-64
	Q5KX4(SCALES_DP, KSUB_DP, 10, 11)

TEXT ·dotQ5KX4NEON(SB), NOSPLIT, $0-64
	Q5KX4(SCALES_NEON, KSUB_NEON, 16, 17)

// Q6_K x Q8_K. Weight block (210 bytes): 128 bytes of low nibbles (ql),
// 64 bytes of high 2-bit pairs (qh), 16 int8 scales, fp16 d. In half h
// (128 values), value 32g+l is nibble (g < 2 ? low : high) of
// ql[64h + l + 32*(g&1)], with bits 2g and 2g+1 of qh[32h + l] on top,
// minus 32; scale 8h + 2g + l/16. Per block, as dotQ6KAVX2:
//	isum lanes (V20, V21) = sum_k sc_k * (q.a over 4 values of k)
//	                        - 32 * (sc_2k*bsums_2k + sc_2k+1*bsums_2k+1)
//	F += float(isum) * (d*yd)
// with q the unsigned 6-bit value (the -32 goes through the bsums).
//
// Vector registers besides those of KSUB:
//	V0, V1 a group's activations    V2, V3 its 32 weights
//	V4-V7 the half's ql             V22, V23 its qh, then the bsums
//	V12, V13 the 16 scales, int16   V16-V19 the 16 scales, int32 (DotProd)
//	V27 0x30 in every byte          V14, V15, V29-V31 temporaries
#define SCALES6_DP \
	SXTL4S(16, 12) \
	SXTL24S(17, 12) \
	SXTL4S(18, 13) \
	SXTL24S(19, 13)

// The groups' weights: Q6K_GROUPn(la, lb, qa, qb, ta, tb) builds group
// n's 32 weights in V2, V3 from the ql bytes in Vla, Vlb (ql[0:32] of the
// half for groups 0 and 2, ql[32:64] for 1 and 3; la, lb may be V2, V3)
// and the half's qh in Vqa, Vqb, using Vta, Vtb.
#define Q6K_LOW(s, la, lb, qa, qb, ta, tb) \
	VAND V28.B16, la.B16, V2.B16 \
	VAND V28.B16, lb.B16, V3.B16 \
	VSHL $s, qa.B16, ta.B16 \
	VSHL $s, qb.B16, tb.B16 \
	VAND V27.B16, ta.B16, ta.B16 \
	VAND V27.B16, tb.B16, tb.B16 \
	VORR ta.B16, V2.B16, V2.B16 \
	VORR tb.B16, V3.B16, V3.B16

// Q6K_HIGHNIB(la, lb, ta, tb): the high nibbles of Vla, Vlb with the
// qh bits (at bits 4-5) of Vta, Vtb.
#define Q6K_HIGHNIB(la, lb, ta, tb) \
	VUSHR $4, la.B16, V2.B16 \
	VUSHR $4, lb.B16, V3.B16 \
	VORR  ta.B16, V2.B16, V2.B16 \
	VORR  tb.B16, V3.B16, V3.B16

#define Q6K_GROUP0(la, lb, qa, qb, ta, tb) Q6K_LOW(4, la, lb, qa, qb, ta, tb)
#define Q6K_GROUP1(la, lb, qa, qb, ta, tb) Q6K_LOW(2, la, lb, qa, qb, ta, tb)

#define Q6K_GROUP2(la, lb, qa, qb, ta, tb) \
	VAND V27.B16, qa.B16, ta.B16 \
	VAND V27.B16, qb.B16, tb.B16 \
	Q6K_HIGHNIB(la, lb, ta, tb)

#define Q6K_GROUP3(la, lb, qa, qb, ta, tb) \
	VUSHR $2, qa.B16, ta.B16 \
	VUSHR $2, qb.B16, tb.B16 \
	VAND  V27.B16, ta.B16, ta.B16 \
	VAND  V27.B16, tb.B16, tb.B16 \
	Q6K_HIGHNIB(la, lb, ta, tb)

// Q6K_MUL(ra, ia, ib, h, g, KSUB): group g of half h, its weights in V2,
// V3, times the 32 activations at ra (stepped on), into lanes Via, Vib.
#define Q6K_MUL(ra, ia, ib, h, g, KSUB) \
	VLD1.P 32(ra), [V0.B16, V1.B16] \
	KSUB(ia, ib, 2, 3, 0, 1, 8*(h)+2*(g), 8*(h)+2*(g)+1)

// Q6K_HALF(h, KSUB): the 128 values of half h; R10 and R11 step through
// ql and qh.
#define Q6K_HALF(h, KSUB) \
	VLD1.P 64(R10), [V4.B16, V5.B16, V6.B16, V7.B16] \
	VLD1.P 32(R11), [V22.B16, V23.B16] \
	Q6K_GROUP0(V4, V5, V22, V23, V14, V15) \
	Q6K_MUL(R12, 20, 21, h, 0, KSUB) \
	Q6K_GROUP1(V6, V7, V22, V23, V14, V15) \
	Q6K_MUL(R12, 20, 21, h, 1, KSUB) \
	Q6K_GROUP2(V4, V5, V22, V23, V14, V15) \
	Q6K_MUL(R12, 20, 21, h, 2, KSUB) \
	Q6K_GROUP3(V6, V7, V22, V23, V14, V15) \
	Q6K_MUL(R12, 20, 21, h, 3, KSUB)

// Q6K_BSUMS(ra, Va, Vb, a, b, sa, sb, t0, t1, t2): the products of the
// bsums of the activation block at ra (loaded into Va, Vb, the registers
// a, b) and the int16 scales in Vsa, Vsb, adjacent pairs summed: lanes
// 0-3 in Vt0, 4-7 in Vt1 (as the isum lanes), using Vt2.
#define Q6K_BSUMS(ra, Va, Vb, a, b, sa, sb, t0, t1, t2) \
	ADD  $260, ra, R9 \
	VLD1 (R9), [Va.H8, Vb.H8] \
	SMULL4S(t0, a, sa) \
	SMULL24S(t1, a, sa) \
	ADDP4S(t0, t0, t1) \
	SMULL4S(t1, b, sb) \
	SMULL24S(t2, b, sb) \
	ADDP4S(t1, t1, t2)

// Q6K_SCALES(SCALES) loads the block's 16 scales into V12, V13 (int16);
// SCALES widens them for KSUB_DP.
#define Q6K_SCALES(SCALES) \
	ADD  $192, R6, R9 \
	VLD1 (R9), [V12.B16] \
	SXTL28H(13, 12) \
	SXTL8H(12, 12) \
	SCALES

#define Q6KBODY(SCALES, KSUB) \
	ARGS \
	VMOVI $15, V28.B16 \
	VMOVI $0x30, V27.B16 \
row: \
	ROW_START \
	ZERO(V24) \
	ZERO(V25) \
block: \
	Q6K_SCALES(SCALES) \
	ZERO(V20) \
	ZERO(V21) \
	MOVD   R6, R10 \
	ADD    $128, R6, R11 \
	ADD    $4, R7, R12 \
	Q6K_HALF(0, KSUB) \
	Q6K_HALF(1, KSUB) \
	Q6K_BSUMS(R7, V22, V23, 22, 23, 12, 13, 14, 15, 22) \
	VSHL   $5, V14.S4, V14.S4 \
	VSHL   $5, V15.S4, V15.S4 \
	VSUB   V14.S4, V20.S4, V20.S4 \
	VSUB   V15.S4, V21.S4, V21.S4 \
	SCVTF4S(20, 20) \
	SCVTF4S(21, 21) \
	MOVHU  208(R6), R9 \
	FMOVS  R9, F29 \
	FCVTHS F29, F29 \
	FMOVS  (R7), F30 \
	FMULS  F30, F29, F31 \
	FMLAS(24, 20, 31, 0) \
	FMLAS(25, 21, 31, 0) \
	ADD    $210, R6 \
	ADD    $292, R7 \
	SUBS   $1, R8 \
	BNE    block \
	HSUM8(24, 25, 23) \
	ROW_END(row)

TEXT ·dotQ6KDotProd(SB), NOSPLIT, $0-48
	Q6KBODY(SCALES6_DP, KSUB_DP)

TEXT ·dotQ6KNEON(SB), NOSPLIT, $0-48
	Q6KBODY(KNONE, KSUB_NEON)

// Q6_K x Q8_K for four activation rows at once: each group's 32 weights
// are built once and multiplied with the four rows' activations; each
// row's lanes get Q6KBODY's operations, but for the bsums' term: the
// scales are multiplied by 32 before it (32*sc*bsum equals
// (sc*bsum) << 5 in int32, and 32*sc fits int16), once for the four rows.
// The group's ql bytes are loaded where they are needed (no register is
// left to keep the half's).
//
//	func(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// General registers as KX4BODY's. Vector registers besides those of KSUB
// (V12, V13 the int16 scales also for DotProd: it widens them first):
//	V0, V1 32 activations      V2, V3 a group's weights
//	V4, V5 the half's qh       V6, V7 temporaries
//	V14, V15 / V30, V31 / i2a, i2b / i3a, i3b  the rows' isum lanes (rows
//	        2 and 3: V10-V13 for DotProd, V16-V19 for NEON)
//	V20, V21 / V22, V23 / V24, V25 / V26, V29  the rows' float lanes
// Once the block's groups are done, V0-V9 are temporaries (V5 d, V6, V7
// the scales times 32).

// Q6KX4_GROUP(h, g, GROUP, off, KSUB, i2a, i2b, i3a, i3b): group g of
// half h, its ql bytes at off in the block.
#define Q6KX4_GROUP(h, g, GROUP, off, KSUB, i2a, i2b, i3a, i3b) \
	ADD    $(off), R6, R9 \
	VLD1   (R9), [V2.B16, V3.B16] \
	GROUP(V2, V3, V4, V5, V6, V7) \
	Q6K_MUL(R12, 14, 15, h, g, KSUB) \
	Q6K_MUL(R22, 30, 31, h, g, KSUB) \
	Q6K_MUL(R23, i2a, i2b, h, g, KSUB) \
	Q6K_MUL(R24, i3a, i3b, h, g, KSUB)

#define Q6KX4_HALF(h, KSUB, i2a, i2b, i3a, i3b) \
	ADD  $(128+32*(h)), R6, R9 \
	VLD1 (R9), [V4.B16, V5.B16] \
	Q6KX4_GROUP(h, 0, Q6K_GROUP0, 64*(h), KSUB, i2a, i2b, i3a, i3b) \
	Q6KX4_GROUP(h, 1, Q6K_GROUP1, 64*(h)+32, KSUB, i2a, i2b, i3a, i3b) \
	Q6KX4_GROUP(h, 2, Q6K_GROUP2, 64*(h), KSUB, i2a, i2b, i3a, i3b) \
	Q6KX4_GROUP(h, 3, Q6K_GROUP3, 64*(h)+32, KSUB, i2a, i2b, i3a, i3b)

// Q6KX4_FINISH(ra, ia, ib, fa, fb): isum -= sum 32*sc*bsums, then
// F += float(isum) * (d*yd) for the activation block at ra.
#define Q6KX4_FINISH(ra, ia, ib, fa, fb) \
	Q6K_BSUMS(ra, V0, V1, 0, 1, 6, 7, 2, 3, 4) \
	SUB4S(ia, ia, 2) \
	SUB4S(ib, ib, 3) \
	SCVTF4S(ia, ia) \
	SCVTF4S(ib, ib) \
	FMOVS (ra), F8 \
	FMULS F8, F5, F9 \
	FMLAS(fa, ia, 9, 0) \
	FMLAS(fb, ib, 9, 0)

#define Q6KX4(SCALES, KSUB, i2a, i2b, i3a, i3b) \
	ARGSX4 \
	VMOVI $15, V28.B16 \
	VMOVI $0x30, V27.B16 \
row: \
	X4ROW_START \
	ZERO(V20) \
	ZERO(V21) \
	ZERO(V22) \
	ZERO(V23) \
	ZERO(V24) \
	ZERO(V25) \
	ZERO(V26) \
	ZERO(V29) \
block: \
	Q6K_SCALES(SCALES) \
	ZERO(V14) \
	ZERO(V15) \
	ZERO(V30) \
	ZERO(V31) \
	ZEROV(i2a) \
	ZEROV(i2b) \
	ZEROV(i3a) \
	ZEROV(i3b) \
	ADD $4, R7, R12 \
	ADD $4, R19, R22 \
	ADD $4, R20, R23 \
	ADD $4, R21, R24 \
	Q6KX4_HALF(0, KSUB, i2a, i2b, i3a, i3b) \
	Q6KX4_HALF(1, KSUB, i2a, i2b, i3a, i3b) \
	ADD    $192, R6, R9 \
	VLD1   (R9), [V6.B16] \
	SXTL28H(7, 6) \
	SXTL8H(6, 6) \
	VSHL   $5, V6.H8, V6.H8 \
	VSHL   $5, V7.H8, V7.H8 \
	MOVHU  208(R6), R9 \
	FMOVS  R9, F5 \
	FCVTHS F5, F5 \
	Q6KX4_FINISH(R7, 14, 15, 20, 21) \
	Q6KX4_FINISH(R19, 30, 31, 22, 23) \
	Q6KX4_FINISH(R20, i2a, i2b, 24, 25) \
	Q6KX4_FINISH(R21, i3a, i3b, 26, 29) \
	X4BLOCK_END(210, block) \
	HSUM8(20, 21, 0) \
	FMOVS F20, (R4) \
	ADD   R15, R4, R9 \
	HSUM8(22, 23, 0) \
	FMOVS F22, (R9) \
	ADD   R15, R9, R9 \
	HSUM8(24, 25, 0) \
	FMOVS F24, (R9) \
	ADD   R15, R9, R9 \
	HSUM8(26, 29, 0) \
	FMOVS F26, (R9) \
	X4ROW_END(row)

TEXT ·dotQ6KX4DotProd(SB), NOSPLIT, $0-64
	Q6KX4(SCALES6_DP, KSUB_DP, 10, 11, 12, 13)

TEXT ·dotQ6KX4NEON(SB), NOSPLIT, $0-64
	Q6KX4(KNONE, KSUB_NEON, 16, 17, 18, 19)

// ---------------------------------------------------------------------
// F32, F16 and BF16: nb values, summed in the orders of SumOrder (see
// dot_float.go), with the AVX2 kernels' lanes: a product of two halves or
// two bfloat16 is exact in float32, so their FMAs round exactly as
// ggml's do; F32 products round inside the FMA, also as in ggml.
//
// Vec kernels: 64 lanes in V0-V15 (lane i of the 64 is lane i%4 of
// V(i/4)), summed pairwise: V0-7 += V8-15, V0-3 += V4-7, V0-1 += V2-3,
// then HSUM8. The nb%64 values left are added one by one to F10
// (float32 for F32, float64 for F16 and BF16).
// Gemm kernels: 16 lanes in V0-V3; nb is a multiple of 16 (32 for BF16).
// BF16 kernels: V31 holds the mask of the odd (high) halves of each
// 32-bit pair; each lane adds the odd product, then the even one.

// The LOAD macros load 8 values at R6 and at R7 into V16, V17 (weights)
// and V18, V19 (activations) as float32, stepping R6 and R7 on.
#define LOADF32 \
	VLD1.P 32(R6), [V16.S4, V17.S4] \
	VLD1.P 32(R7), [V18.S4, V19.S4]

#define LOADF16 \
	VLD1.P 16(R6), [V20.H8] \
	VLD1.P 16(R7), [V21.H8] \
	FCVTL4S(16, 20) \
	FCVTL24S(17, 20) \
	FCVTL4S(18, 21) \
	FCVTL24S(19, 21)

// FMA8(LOAD, A, B) adds the products of the next 8 values to the lanes of
// VA (values 0-3) and VB (4-7).
#define FMA8(LOAD, A, B) \
	LOAD \
	VFMLA V18.S4, V16.S4, A.S4 \
	VFMLA V19.S4, V17.S4, B.S4

#define ZERO16 \
	ZERO(V0) \
	ZERO(V1) \
	ZERO(V2) \
	ZERO(V3) \
	ZERO(V4) \
	ZERO(V5) \
	ZERO(V6) \
	ZERO(V7) \
	ZERO(V8) \
	ZERO(V9) \
	ZERO(V10) \
	ZERO(V11) \
	ZERO(V12) \
	ZERO(V13) \
	ZERO(V14) \
	ZERO(V15)

// SUM64 reduces V0-V15 pairwise into lane 0 of V0.
#define SUM64 \
	FADD4S(0, 0, 8) \
	FADD4S(1, 1, 9) \
	FADD4S(2, 2, 10) \
	FADD4S(3, 3, 11) \
	FADD4S(4, 4, 12) \
	FADD4S(5, 5, 13) \
	FADD4S(6, 6, 14) \
	FADD4S(7, 7, 15) \
	FADD4S(0, 0, 4) \
	FADD4S(1, 1, 5) \
	FADD4S(2, 2, 6) \
	FADD4S(3, 3, 7) \
	FADD4S(0, 0, 2) \
	FADD4S(1, 1, 3) \
	HSUM8(0, 1, 4)

// VEC64(LOAD) adds the products of the next 64 values to V0-V15.
#define VEC64(LOAD) \
	FMA8(LOAD, V0, V1) \
	FMA8(LOAD, V2, V3) \
	FMA8(LOAD, V4, V5) \
	FMA8(LOAD, V6, V7) \
	FMA8(LOAD, V8, V9) \
	FMA8(LOAD, V10, V11) \
	FMA8(LOAD, V12, V13) \
	FMA8(LOAD, V14, V15)

// FLOAT_END stores lane 0 of V0 and steps to the next row.
#define FLOAT_END(label) \
	FMOVS F0, (R4) \
	ADD   $4, R4 \
	ADD   R1, R0 \
	SUBS  $1, R5 \
	BNE   label \
	RET

// WIDE_TERM(loop) adds the product of the float32 values in F16 and F17
// to the float64 sum in F10 and jumps to loop.
#define WIDE_TERM(loop) \
	FMULS  F17, F16, F16 \
	FCVTSD F16, F16 \
	FADDD  F16, F10, F10 \
	SUBS   $1, R8 \
	B      loop

TEXT ·dotF32VecNEON(SB), NOSPLIT, $0-48
	ARGS
f32vRow:
	ROW_START
	ZERO16
f32v64:
	CMP $64, R8
	BLO f32vTail
	VEC64(LOADF32)
	SUB $64, R8
	B   f32v64
f32vTail:
	SUM64
f32vOne:
	CBZ     R8, f32vDone
	FMOVS.P 4(R6), F16
	FMOVS.P 4(R7), F17
	FMULS   F17, F16, F16
	FADDS   F16, F0, F0
	SUB     $1, R8
	B       f32vOne
f32vDone:
	FLOAT_END(f32vRow)

TEXT ·dotF16VecNEON(SB), NOSPLIT, $0-48
	ARGS
f16vRow:
	ROW_START
	ZERO16
f16v64:
	CMP $64, R8
	BLO f16vTail
	VEC64(LOADF16)
	SUB $64, R8
	B   f16v64
f16vTail:
	SUM64
	FCVTSD F0, F10
f16vOne:
	CBZ     R8, f16vDone
	MOVHU.P 2(R6), R9
	FMOVS   R9, F16
	FCVTHS  F16, F16
	MOVHU.P 2(R7), R9
	FMOVS   R9, F17
	FCVTHS  F17, F17
	WIDE_TERM(f16vOne)
f16vDone:
	FCVTDS F10, F0
	FLOAT_END(f16vRow)

// GEMM16(LOAD) adds the products of the next 16 values to V0-V3.
#define GEMM16(LOAD) \
	FMA8(LOAD, V0, V1) \
	FMA8(LOAD, V2, V3)

// GEMM_END reduces the 16 lanes of V0-V3 pairwise (V0-1 += V2-3, then
// HSUM8), using V8.
#define GEMM_END \
	FADD4S(0, 0, 2) \
	FADD4S(1, 1, 3) \
	HSUM8(0, 1, 8)

#define ZERO4 \
	ZERO(V0) \
	ZERO(V1) \
	ZERO(V2) \
	ZERO(V3)

TEXT ·dotF32GemmNEON(SB), NOSPLIT, $0-48
	ARGS
f32gRow:
	ROW_START
	ZERO4
f32g16:
	GEMM16(LOADF32)
	SUBS $16, R8
	BNE  f32g16
	GEMM_END
	FLOAT_END(f32gRow)

TEXT ·dotF16GemmNEON(SB), NOSPLIT, $0-48
	ARGS
f16gRow:
	ROW_START
	ZERO4
f16g16:
	GEMM16(LOADF16)
	SUBS $16, R8
	BNE  f16g16
	GEMM_END
	FLOAT_END(f16gRow)

// BF16PAIRS(A) adds the 8 bfloat16 products of the next 8 values to the
// 4 lanes of VA, odd value first.
#define BF16PAIRS(A) \
	VLD1.P 16(R6), [V16.S4] \
	VLD1.P 16(R7), [V17.S4] \
	VAND   V31.B16, V16.B16, V18.B16 \
	VAND   V31.B16, V17.B16, V19.B16 \
	VFMLA  V19.S4, V18.S4, A.S4 \
	VSHL   $16, V16.S4, V16.S4 \
	VSHL   $16, V17.S4, V17.S4 \
	VFMLA  V17.S4, V16.S4, A.S4

#define BF16MASK \
	MOVW $0xffff0000, R9 \
	VDUP R9, V31.S4

// Vec: 16 lanes (V0-V3) for values 0-31 of each 64 and 16 (V4-V7) for
// 32-63, each reduced and the two added in float64.
TEXT ·dotBF16VecNEON(SB), NOSPLIT, $0-48
	ARGS
	BF16MASK
bf16vRow:
	ROW_START
	ZERO4
	ZERO(V4)
	ZERO(V5)
	ZERO(V6)
	ZERO(V7)
bf16v64:
	CMP $64, R8
	BLO bf16vTail
	BF16PAIRS(V0)
	BF16PAIRS(V1)
	BF16PAIRS(V2)
	BF16PAIRS(V3)
	BF16PAIRS(V4)
	BF16PAIRS(V5)
	BF16PAIRS(V6)
	BF16PAIRS(V7)
	SUB $64, R8
	B   bf16v64
bf16vTail:
	GEMM_END
	FADD4S(4, 4, 6)
	FADD4S(5, 5, 7)
	HSUM8(4, 5, 6)
	FCVTSD F0, F10
	FCVTSD F4, F11
	FADDD  F11, F10, F10
bf16vOne:
	CBZ     R8, bf16vDone
	MOVHU.P 2(R6), R9
	LSLW    $16, R9
	FMOVS   R9, F16
	MOVHU.P 2(R7), R9
	LSLW    $16, R9
	FMOVS   R9, F17
	WIDE_TERM(bf16vOne)
bf16vDone:
	FCVTDS F10, F0
	FLOAT_END(bf16vRow)

// Gemm: 16 lanes (V0-V3) per 32 values; nb is a multiple of 32.
TEXT ·dotBF16GemmNEON(SB), NOSPLIT, $0-48
	ARGS
	BF16MASK
bf16gRow:
	ROW_START
	ZERO4
bf16g32:
	BF16PAIRS(V0)
	BF16PAIRS(V1)
	BF16PAIRS(V2)
	BF16PAIRS(V3)
	SUBS $32, R8
	BNE  bf16g32
	GEMM_END
	FLOAT_END(bf16gRow)
