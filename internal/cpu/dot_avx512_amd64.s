//go:build !purego

#include "textflag.h"
#include "dot_amd64.h"

// AVX-512 kernels (F, BW, VL and VNNI) for DotMatrix, with the arguments
// of their AVX2 counterparts in dot_amd64.s and the same results bit for
// bit: every row gets exactly the float operations, in the same order, as
// in the AVX2 kernel, and its integer lanes the same exact values.
//
// The gain is in the integer part. A 512-bit register holds two of the
// AVX2 kernel's 32-byte chunks (lanes 0-7 the first, lanes 8-15 the
// second), multiplied with one VPMADDUBSW and scaled and accumulated with
// one VPDPWSSD (VPMADDWD and VPADDD in one); at the end of a block the two
// halves are added, giving the AVX2 kernel's eight int32 lanes. The float
// part works on two rows at once, one per 256-bit half, each half's lanes
// getting what the AVX2 kernel's eight lanes get.
//
// Y15/Z15 and R14/R15 are left alone (Go's ABI wrappers rely on them).
// Z16-Z31 are free to use: they exist only with AVX-512, and VZEROUPPER
// leaves them alone without cost to later SSE code.

// bytes64 fills 64 bytes at sym+off with the 64-bit pattern v.
#define bytes64(sym, off, v) \
	DATA sym+(off+0)(SB)/8, $v \
	DATA sym+(off+8)(SB)/8, $v \
	DATA sym+(off+16)(SB)/8, $v \
	DATA sym+(off+24)(SB)/8, $v \
	DATA sym+(off+32)(SB)/8, $v \
	DATA sym+(off+40)(SB)/8, $v \
	DATA sym+(off+48)(SB)/8, $v \
	DATA sym+(off+56)(SB)/8, $v

// halves64 fills 64 bytes with lo in the low 32 bytes and hi in the high.
#define halves64(sym, off, lo, hi) \
	DATA sym+(off+0)(SB)/8, $lo \
	DATA sym+(off+8)(SB)/8, $lo \
	DATA sym+(off+16)(SB)/8, $lo \
	DATA sym+(off+24)(SB)/8, $lo \
	DATA sym+(off+32)(SB)/8, $hi \
	DATA sym+(off+40)(SB)/8, $hi \
	DATA sym+(off+48)(SB)/8, $hi \
	DATA sym+(off+56)(SB)/8, $hi

// nib512<> holds VPSRLVQ counts: 0 for the low half, 4 for the high half,
// so a 32-byte chunk broadcast to both halves becomes its low nibbles
// (low half) and high nibbles (high half) once masked with 0x0f.
halves64(nib512<>, 0, 0, 4)
GLOBL nib512<>(SB), RODATA|NOPTR, $64

// scalePerm<>+64j (VPERMW indices) copies int16 element 2j to the sixteen
// words of the low half and element 2j+1 to those of the high half: the
// scales of a Q4_K chunk's low and high nibbles.
halves64(scalePerm<>, 0, 0x0000000000000000, 0x0001000100010001)
halves64(scalePerm<>, 64, 0x0002000200020002, 0x0003000300030003)
halves64(scalePerm<>, 128, 0x0004000400040004, 0x0005000500050005)
halves64(scalePerm<>, 192, 0x0006000600060006, 0x0007000700070007)
GLOBL scalePerm<>(SB), RODATA|NOPTR, $256

// minPerm<> (VPERMW indices) copies int16 element k to words 2k and 2k+1
// of each half: each of eight mins next to itself, twice.
DATA minPerm<>+0(SB)/8, $0x0001000100000000
DATA minPerm<>+8(SB)/8, $0x0003000300020002
DATA minPerm<>+16(SB)/8, $0x0005000500040004
DATA minPerm<>+24(SB)/8, $0x0007000700060006
DATA minPerm<>+32(SB)/8, $0x0001000100000000
DATA minPerm<>+40(SB)/8, $0x0003000300020002
DATA minPerm<>+48(SB)/8, $0x0005000500040004
DATA minPerm<>+56(SB)/8, $0x0007000700060006
GLOBL minPerm<>(SB), RODATA|NOPTR, $64

// rowPerm<> (VPERMPS indices): +0 copies float 0 to the low half and float
// 1 to the high half, +64 floats 2 and 3; +128 copies float k to lanes
// 4k-4k+3.
halves64(rowPerm<>, 0, 0x0000000000000000, 0x0000000100000001)
halves64(rowPerm<>, 64, 0x0000000200000002, 0x0000000300000003)
DATA rowPerm<>+128(SB)/8, $0
DATA rowPerm<>+136(SB)/8, $0
DATA rowPerm<>+144(SB)/8, $0x0000000100000001
DATA rowPerm<>+152(SB)/8, $0x0000000100000001
DATA rowPerm<>+160(SB)/8, $0x0000000200000002
DATA rowPerm<>+168(SB)/8, $0x0000000200000002
DATA rowPerm<>+176(SB)/8, $0x0000000300000003
DATA rowPerm<>+184(SB)/8, $0x0000000300000003
GLOBL rowPerm<>(SB), RODATA|NOPTR, $192

// pairPerm<> (VPERMI2D indices over two registers, 32 dwords): +0 takes
// the even dwords, +64 the odd ones.
DATA pairPerm<>+0(SB)/8, $0x0000000200000000
DATA pairPerm<>+8(SB)/8, $0x0000000600000004
DATA pairPerm<>+16(SB)/8, $0x0000000a00000008
DATA pairPerm<>+24(SB)/8, $0x0000000e0000000c
DATA pairPerm<>+32(SB)/8, $0x0000001200000010
DATA pairPerm<>+40(SB)/8, $0x0000001600000014
DATA pairPerm<>+48(SB)/8, $0x0000001a00000018
DATA pairPerm<>+56(SB)/8, $0x0000001e0000001c
DATA pairPerm<>+64(SB)/8, $0x0000000300000001
DATA pairPerm<>+72(SB)/8, $0x0000000700000005
DATA pairPerm<>+80(SB)/8, $0x0000000b00000009
DATA pairPerm<>+88(SB)/8, $0x0000000f0000000d
DATA pairPerm<>+96(SB)/8, $0x0000001300000011
DATA pairPerm<>+104(SB)/8, $0x0000001700000015
DATA pairPerm<>+112(SB)/8, $0x0000001b00000019
DATA pairPerm<>+120(SB)/8, $0x0000001f0000001d
GLOBL pairPerm<>(SB), RODATA|NOPTR, $128

bytes64(low4<>, 0, 0x0f0f0f0f0f0f0f0f)
GLOBL low4<>(SB), RODATA|NOPTR, $64

// FOLD2(A, B, D, T) sets D to [A's lanes 0-7 + lanes 8-15 | B's likewise]
// (int32), using T: two rows' eight AVX2 lanes, one row per half.
#define FOLD2(A, B, D, T) \
	VSHUFI64X2 $0x44, B, A, D \
	VSHUFI64X2 $0xee, B, A, T \
	VPADDD     T, D, D

// YD4(X) loads the float32 scales of the four Q8_K activation blocks at
// BX, BX+R13, BX+2*R13 and BX+R10 into lanes 0-3 of X.
#define YD4(X) \
	VMOVSS    (BX), X \
	VINSERTPS $0x10, (BX)(R13*1), X, X \
	VINSERTPS $0x20, (BX)(R13*2), X, X \
	VINSERTPS $0x30, (BX)(R10*1), X, X

// X4_512_ARGS loads the four-row kernels' arguments:
//	func(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
// into SI (weight row), R12 (rows left), R13 (aStride), R10 (3*aStride)
// and R11 (next output).
#define X4_512_ARGS \
	MOVQ w+0(FP), SI \
	MOVQ rows+16(FP), R12 \
	MOVQ aStride+32(FP), R13 \
	LEAQ (R13)(R13*2), R10 \
	MOVQ out+48(FP), R11

// X4_512_ROW starts a weight row: DI its first block, BX the activation
// rows' first, CX the blocks left, Z8 and Z9 (the float lanes of rows 0-1
// and 2-3) zero.
#define X4_512_ROW \
	MOVQ   SI, DI \
	MOVQ   a+24(FP), BX \
	MOVQ   nb+40(FP), CX \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9

// X4_512_END(row, Y1, X1, Y3, X3) stores the four rows' sums of Z8 and Z9
// (rows 1 and 3 moved to Y1 and Y3, both free), steps to the next weight
// row and jumps to row while rows are left.
#define X4_512_END(row, Y1, X1, Y3, X3) \
	MOVQ          outStride+56(FP), R8 \
	SHLQ          $2, R8 \
	LEAQ          (R8)(R8*2), R9 \
	VEXTRACTF64X4 $1, Z8, Y1 \
	VEXTRACTF64X4 $1, Z9, Y3 \
	HSUMF(Y8, X8, X4) \
	VMOVSS        X8, (R11) \
	HSUMF(Y1, X1, X4) \
	VMOVSS        X1, (R11)(R8*1) \
	HSUMF(Y9, X9, X4) \
	VMOVSS        X9, (R11)(R8*2) \
	HSUMF(Y3, X3, X4) \
	VMOVSS        X3, (R11)(R9*1) \
	ADDQ          $4, R11 \
	ADDQ          wStride+8(FP), SI \
	DECQ          R12 \
	JNZ           row \
	VZEROUPPER \
	RET

// ---------------------------------------------------------------------
// Q4_K x Q8_K for four activation rows (dotQ4KX4AVX2's arithmetic).
//
//	func dotQ4KX4AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// Per chunk j (64 values, sub-blocks 2j and 2j+1), a register holds the
// low nibbles in its low half and the high nibbles in its high half, and
// the 64 activations of both sub-blocks are contiguous (4+64j in the Q8_K
// block), so one VPMADDUBSW and one VPDPWSSD per activation row take the
// whole chunk. The mins' int32 lanes (msum) of the four rows come from
// VPMADDWD of the bsums with each min paired with itself (min_k *
// (bsums[2k] + bsums[2k+1])) and an add of adjacent dwords, which are
// the AVX2 kernel's VPHADDW-then-VPMADDWD lanes; the four rows' four lanes
// fill one register.
//
// General registers as in dotQ4KX4AVX2 (R13 aStride, R10 3*aStride).
//
// Vector registers:
//	Z0-Z3   int32 lanes of isum of activation rows 0-3 (16 each, folded per block)
//	Z8, Z9  float lanes of rows 0-1 and 2-3 (one row per half)
//	Z10     float lanes of the mins' sums, four per row
//	Z4      a chunk's 64 values     Z5 products     Z6 their scales
//	X7      the 8 scales, int16     Z11, Z12, Z14, Z16-Z18, Z30, Z31 temporaries
//	Z13 0x0f bytes    Z19 nib512    Z20-Z23 scalePerm    Z24 minPerm
//	Z25-Z27 rowPerm   Z28, Z29 pairPerm
#define Q4KX4_512_ROW(j, A, base) \
	VPMADDUBSW (4+64*j) base, Z4, Z5 \
	VPDPWSSD   Z6, Z5, A

#define Q4KX4_512_CHUNK(j, P) \
	VBROADCASTI64X4 (16+32*j)(DI), Z4 \
	VPSRLVQ         Z19, Z4, Z4 \
	VPANDD          Z13, Z4, Z4 \
	VPERMW          Z7, P, Z6 \
	Q4KX4_512_ROW(j, Z0, (BX)) \
	Q4KX4_512_ROW(j, Z1, (BX)(R13*1)) \
	Q4KX4_512_ROW(j, Z2, (BX)(R13*2)) \
	Q4KX4_512_ROW(j, Z3, (BX)(R10*1))

// Q4KX4_512_STORE(F, XF, M, dst): the sum of float lanes F (a Y register)
// plus the sum of the four mins' lanes in M (an X register) to dst, as
// Q4KX4_STORE adds them.
#define Q4KX4_512_STORE(F, XF, M, dst) \
	HSUMF(F, XF, X4) \
	HSUM4F(M, X4) \
	VADDSS M, XF, XF \
	VMOVSS XF, dst

TEXT ·dotQ4KX4AVX512(SB), NOSPLIT, $0-64
	X4_512_ARGS
	VMOVDQU64 low4<>(SB), Z13
	VMOVDQU64 nib512<>(SB), Z19
	VMOVDQU64 scalePerm<>+0(SB), Z20
	VMOVDQU64 scalePerm<>+64(SB), Z21
	VMOVDQU64 scalePerm<>+128(SB), Z22
	VMOVDQU64 scalePerm<>+192(SB), Z23
	VMOVDQU64 minPerm<>(SB), Z24
	VMOVDQU64 rowPerm<>+0(SB), Z25
	VMOVDQU64 rowPerm<>+64(SB), Z26
	VMOVDQU64 rowPerm<>+128(SB), Z27
	VMOVDQU64 pairPerm<>+0(SB), Z28
	VMOVDQU64 pairPerm<>+64(SB), Z29

q4kx4Row:
	X4_512_ROW
	VPXORD Z10, Z10, Z10

q4kx4Block:
	Q4K_UNPACK
	VMOVQ     AX, X7
	VPMOVZXBW X7, X7
	VPXORD    Z0, Z0, Z0
	VPXORD    Z1, Z1, Z1
	VPXORD    Z2, Z2, Z2
	VPXORD    Z3, Z3, Z3
	Q4KX4_512_CHUNK(0, Z20)
	Q4KX4_512_CHUNK(1, Z21)
	Q4KX4_512_CHUNK(2, Z22)
	Q4KX4_512_CHUNK(3, Z23)

	// d*yd and dmin*yd of the four rows, as the AVX2 kernel rounds them.
	VMOVD        (DI), X11
	VCVTPH2PS    X11, X11        // d, dmin
	VBROADCASTSS X11, X12
	VMOVSHDUP    X11, X11
	VBROADCASTSS X11, X11
	YD4(X14)
	VMULPS       X14, X12, X12   // d*yd, rows 0-3
	VMULPS       X14, X11, X11   // dmin*yd, rows 0-3
	VPERMPS      Z12, Z25, Z16
	VPERMPS      Z12, Z26, Z17
	VPERMPS      Z11, Z27, Z18

	FOLD2(Z0, Z1, Z30, Z31)
	VCVTDQ2PS   Z30, Z30
	VFMADD231PS Z16, Z30, Z8
	FOLD2(Z2, Z3, Z30, Z31)
	VCVTDQ2PS   Z30, Z30
	VFMADD231PS Z17, Z30, Z9

	VMOVQ         DX, X11
	VPMOVZXBW     X11, X11
	VPERMW        Z11, Z24, Z11  // mins, each twice, in both halves
	VMOVDQU       260(BX), Y12
	VINSERTI64X4  $1, 260(BX)(R13*1), Z12, Z12
	VPMADDWD      Z11, Z12, Z12  // rows 0-1: min_k*(bsums[2k]+bsums[2k+1])
	VMOVDQU       260(BX)(R13*2), Y14
	VINSERTI64X4  $1, 260(BX)(R10*1), Z14, Z14
	VPMADDWD      Z11, Z14, Z14  // rows 2-3
	VMOVDQA64     Z28, Z30
	VPERMI2D      Z14, Z12, Z30
	VMOVDQA64     Z29, Z31
	VPERMI2D      Z14, Z12, Z31
	VPADDD        Z31, Z30, Z30  // msum: four lanes per row
	VCVTDQ2PS     Z30, Z30
	VFNMADD231PS  Z18, Z30, Z10

	ADDQ $144, DI
	ADDQ $292, BX
	DECQ CX
	JNZ  q4kx4Block

	MOVQ          outStride+56(FP), R8
	SHLQ          $2, R8
	LEAQ          (R8)(R8*2), R9
	VEXTRACTF64X4 $1, Z8, Y11
	VEXTRACTF64X4 $1, Z9, Y12
	VEXTRACTF32X4 $1, Z10, X1
	VEXTRACTF32X4 $2, Z10, X2
	VEXTRACTF32X4 $3, Z10, X3
	Q4KX4_512_STORE(Y8, X8, X10, (R11))
	Q4KX4_512_STORE(Y11, X11, X1, (R11)(R8*1))
	Q4KX4_512_STORE(Y9, X9, X2, (R11)(R8*2))
	Q4KX4_512_STORE(Y12, X12, X3, (R11)(R9*1))
	ADDQ          $4, R11
	ADDQ          wStride+8(FP), SI
	DECQ          R12
	JNZ           q4kx4Row
	VZEROUPPER
	RET

// ---------------------------------------------------------------------
// Q4_K x Q8_K for eight activation rows: dotQ4KX4AVX512 for rows 0-3 and
// again for rows 4-7, with each weight block's nibbles, scales and mins
// decoded once for all eight.
//
//	func dotQ4KX8AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// Every row gets dotQ4KX4AVX512's operations. Registers run short, so
// d*yd and dmin*yd are not permuted into place but broadcast there by
// masked loads (the same products: a float multiply is commutative), and
// the chunks' scale permutations are read from memory.
//
// General registers as in dotQ4KX4AVX512, plus R8 activation row 4's
// block (set after Q4K_UNPACK, which uses R8 and R9).
//
// Vector registers:
//	Z0-Z3, Z20-Z23  int32 lanes of isum of activation rows 0-3, 4-7
//	Z8, Z9, Z24, Z25  float lanes of rows 0-1, 2-3, 4-5, 6-7 (one row per half)
//	Z10, Z26        float lanes of the mins' sums of rows 0-3, 4-7, four per row
//	Z4 a chunk's values   Z5 products   Z6 their scales   X7 the 8 scales
//	Z11 dmin   Z12 d   Z18 the mins, each twice
//	Z13 0x0f bytes   Z27 nib512   Z19 minPerm   Z28, Z29 pairPerm
//	Z14, Z16, Z17, Z30, Z31 temporaries
//	K2 the high half's lanes   K3-K5 lanes 4-7, 8-11, 12-15
#define Q4KX8_512_CHUNK(j) \
	VBROADCASTI64X4 (16+32*j)(DI), Z4 \
	VPSRLVQ         Z27, Z4, Z4 \
	VPANDD          Z13, Z4, Z4 \
	VMOVDQU64       scalePerm<>+(64*j)(SB), Z6 \
	VPERMW          Z7, Z6, Z6 \
	Q4KX4_512_ROW(j, Z0, (BX)) \
	Q4KX4_512_ROW(j, Z1, (BX)(R13*1)) \
	Q4KX4_512_ROW(j, Z2, (BX)(R13*2)) \
	Q4KX4_512_ROW(j, Z3, (BX)(R10*1)) \
	Q4KX4_512_ROW(j, Z20, (R8)) \
	Q4KX4_512_ROW(j, Z21, (R8)(R13*1)) \
	Q4KX4_512_ROW(j, Z22, (R8)(R13*2)) \
	Q4KX4_512_ROW(j, Z23, (R8)(R10*1))

// Q4KX8_512_PAIR(A, B, F, base0, base1): F += d*yd * (isum lanes) for the
// rows whose isums are A and B (activation blocks base0 and base1).
#define Q4KX8_512_PAIR(A, B, F, base0, base1) \
	VBROADCASTSS base0, Z14 \
	VBROADCASTSS base1, K2, Z14 \
	VMULPS       Z12, Z14, Z14 \
	FOLD2(A, B, Z30, Z31) \
	VCVTDQ2PS    Z30, Z30 \
	VFMADD231PS  Z14, Z30, F

// Q4KX8_512_MINS(b0, b1, b2, b3, M): M -= dmin*yd * msum for four rows'
// activation blocks b0-b3, four lanes per row.
#define Q4KX8_512_MINS(b0, b1, b2, b3, M) \
	VBROADCASTSS  b0, Z14 \
	VBROADCASTSS  b1, K3, Z14 \
	VBROADCASTSS  b2, K4, Z14 \
	VBROADCASTSS  b3, K5, Z14 \
	VMULPS        Z11, Z14, Z14 \
	VMOVDQU32     260 b0, Y16 \
	VINSERTI64X4  $1, 260 b1, Z16, Z16 \
	VPMADDWD      Z18, Z16, Z16 \
	VMOVDQU32     260 b2, Y17 \
	VINSERTI64X4  $1, 260 b3, Z17, Z17 \
	VPMADDWD      Z18, Z17, Z17 \
	VMOVDQA64     Z28, Z30 \
	VPERMI2D      Z17, Z16, Z30 \
	VMOVDQA64     Z29, Z31 \
	VPERMI2D      Z17, Z16, Z31 \
	VPADDD        Z31, Z30, Z30 \
	VCVTDQ2PS     Z30, Z30 \
	VFNMADD231PS  Z14, Z30, M

// Q4KX8_512_STORE4(dst): the four rows whose lanes are in Z8, Z9 and Z10
// to dst, dst+R8, dst+2*R8 and dst+R9.
#define Q4KX8_512_STORE4(dst) \
	VEXTRACTF64X4 $1, Z8, Y11 \
	VEXTRACTF64X4 $1, Z9, Y12 \
	VEXTRACTF32X4 $1, Z10, X1 \
	VEXTRACTF32X4 $2, Z10, X2 \
	VEXTRACTF32X4 $3, Z10, X3 \
	Q4KX4_512_STORE(Y8, X8, X10, (dst)) \
	Q4KX4_512_STORE(Y11, X11, X1, (dst)(R8*1)) \
	Q4KX4_512_STORE(Y9, X9, X2, (dst)(R8*2)) \
	Q4KX4_512_STORE(Y12, X12, X3, (dst)(R9*1))

TEXT ·dotQ4KX8AVX512(SB), NOSPLIT, $0-64
	X4_512_ARGS
	VMOVDQU64 low4<>(SB), Z13
	VMOVDQU64 nib512<>(SB), Z27
	VMOVDQU64 minPerm<>(SB), Z19
	VMOVDQU64 pairPerm<>+0(SB), Z28
	VMOVDQU64 pairPerm<>+64(SB), Z29
	MOVL      $0xff00, AX
	KMOVW     AX, K2
	MOVL      $0x00f0, AX
	KMOVW     AX, K3
	MOVL      $0x0f00, AX
	KMOVW     AX, K4
	MOVL      $0xf000, AX
	KMOVW     AX, K5

q4kx8Row:
	X4_512_ROW
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z10, Z10, Z10
	VPXORD Z26, Z26, Z26

q4kx8Block:
	Q4K_UNPACK
	LEAQ      (BX)(R13*4), R8
	VMOVQ     AX, X7
	VPMOVZXBW X7, X7
	VPXORD    Z0, Z0, Z0
	VPXORD    Z1, Z1, Z1
	VPXORD    Z2, Z2, Z2
	VPXORD    Z3, Z3, Z3
	VPXORD    Z20, Z20, Z20
	VPXORD    Z21, Z21, Z21
	VPXORD    Z22, Z22, Z22
	VPXORD    Z23, Z23, Z23
	Q4KX8_512_CHUNK(0)
	Q4KX8_512_CHUNK(1)
	Q4KX8_512_CHUNK(2)
	Q4KX8_512_CHUNK(3)

	VMOVD        (DI), X11
	VCVTPH2PS    X11, X11        // d, dmin
	VBROADCASTSS X11, Z12
	VMOVSHDUP    X11, X11
	VBROADCASTSS X11, Z11
	Q4KX8_512_PAIR(Z0, Z1, Z8, (BX), (BX)(R13*1))
	Q4KX8_512_PAIR(Z2, Z3, Z9, (BX)(R13*2), (BX)(R10*1))
	Q4KX8_512_PAIR(Z20, Z21, Z24, (R8), (R8)(R13*1))
	Q4KX8_512_PAIR(Z22, Z23, Z25, (R8)(R13*2), (R8)(R10*1))

	VMOVQ     DX, X18
	VPMOVZXBW X18, X18
	VPERMW    Z18, Z19, Z18      // mins, each twice, in both halves
	Q4KX8_512_MINS((BX), (BX)(R13*1), (BX)(R13*2), (BX)(R10*1), Z10)
	Q4KX8_512_MINS((R8), (R8)(R13*1), (R8)(R13*2), (R8)(R10*1), Z26)

	ADDQ $144, DI
	ADDQ $292, BX
	DECQ CX
	JNZ  q4kx8Block

	MOVQ    outStride+56(FP), R8
	SHLQ    $2, R8
	LEAQ    (R8)(R8*2), R9
	Q4KX8_512_STORE4(R11)
	VMOVAPS Z24, Z8
	VMOVAPS Z25, Z9
	VMOVAPS Z26, Z10
	LEAQ    (R11)(R8*4), DX
	Q4KX8_512_STORE4(DX)
	ADDQ    $4, R11
	ADDQ    wStride+8(FP), SI
	DECQ    R12
	JNZ     q4kx8Row
	VZEROUPPER
	RET

// ---------------------------------------------------------------------
// Q6_K x Q8_K for four activation rows (dotQ6KX4AVX2's arithmetic).
//
//	func dotQ6KX4AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// A register holds two of the AVX2 kernel's 32-value groups: g = 0 and 1
// of a half are the low nibbles of its 64 ql bytes, read in one load,
// with qh's bits 0-1 and 2-3 on top; g = 2 and 3 the high nibbles with
// bits 4-5 and 6-7. Their 64 activations are contiguous. The scale of
// each 16 values is spread over its eight words by VPERMW.
//
// Vector registers:
//	Z0-Z3   int32 lanes of sum sc*(q.a) of activation rows 0-3
//	Z8, Z9  float lanes of rows 0-1 and 2-3 (one row per half)
//	Z4      64 weights     Z5 products     Z6 their scales
//	Y7      the 16 scales, int16           Z11 qh of the half in both halves
//	Z13 0x0f bytes    Z12 0x30 bytes
//	Z18, Z19 VPSRLVQ/VPSLLVQ counts of qh for the two group pairs
//	Z20-Z23 q6Perm    Z25, Z26 rowPerm
//	Z10, Z14, Z16, Z17, Z30, Z31 temporaries

// q6Shift<>: VPSLLVQ counts 4 (low half) and 2 (high half), then VPSRLVQ
// counts 0 and 2: qh's bit pairs 0, 1 and 2, 3 moved to bits 4, 5.
halves64(q6Shift<>, 0, 4, 2)
halves64(q6Shift<>, 64, 0, 2)
GLOBL q6Shift<>(SB), RODATA|NOPTR, $128

// q6Perm<>+64(2h+k) (VPERMW indices) spreads scales 8h+4k ... 8h+4k+3
// over eight words each: the scales of group pair k of half h.
#define q6perm(off, s) \
	DATA q6Perm<>+(off+0)(SB)/8, $(s*0x0001000100010001) \
	DATA q6Perm<>+(off+8)(SB)/8, $(s*0x0001000100010001) \
	DATA q6Perm<>+(off+16)(SB)/8, $((s+1)*0x0001000100010001) \
	DATA q6Perm<>+(off+24)(SB)/8, $((s+1)*0x0001000100010001) \
	DATA q6Perm<>+(off+32)(SB)/8, $((s+2)*0x0001000100010001) \
	DATA q6Perm<>+(off+40)(SB)/8, $((s+2)*0x0001000100010001) \
	DATA q6Perm<>+(off+48)(SB)/8, $((s+3)*0x0001000100010001) \
	DATA q6Perm<>+(off+56)(SB)/8, $((s+3)*0x0001000100010001)
q6perm(0, 0)
q6perm(64, 4)
q6perm(128, 8)
q6perm(192, 12)
GLOBL q6Perm<>(SB), RODATA|NOPTR, $256

bytes64(bits30<>, 0, 0x3030303030303030)
GLOBL bits30<>(SB), RODATA|NOPTR, $64

#define Q6KX4_512_ROWS(yoff) \
	VPMADDUBSW yoff(BX), Z4, Z5 \
	VPDPWSSD   Z6, Z5, Z0 \
	VPMADDUBSW yoff(BX)(R13*1), Z4, Z5 \
	VPDPWSSD   Z6, Z5, Z1 \
	VPMADDUBSW yoff(BX)(R13*2), Z4, Z5 \
	VPDPWSSD   Z6, Z5, Z2 \
	VPMADDUBSW yoff(BX)(R10*1), Z4, Z5 \
	VPDPWSSD   Z6, Z5, Z3

// Q6KX4_512_HALF(h, P0, P1): the 128 values of half h, group pairs 0 and
// 1 scaled by the VPERMW indices P0 and P1.
#define Q6KX4_512_HALF(h, P0, P1) \
	VBROADCASTI64X4 (128+32*h)(DI), Z11 \
	VMOVDQU64       (64*h)(DI), Z4 \
	VPANDD          Z13, Z4, Z4 \
	VPSLLVQ         Z19, Z11, Z14 \
	VPANDD          Z12, Z14, Z14 \
	VPORD           Z14, Z4, Z4 \
	VPERMW          Z7, P0, Z6 \
	Q6KX4_512_ROWS(4+128*h) \
	VMOVDQU64       (64*h)(DI), Z4 \
	VPSRLW          $4, Z4, Z4 \
	VPANDD          Z13, Z4, Z4 \
	VPSRLVQ         Z18, Z11, Z14 \
	VPANDD          Z12, Z14, Z14 \
	VPORD           Z14, Z4, Z4 \
	VPERMW          Z7, P1, Z6 \
	Q6KX4_512_ROWS(68+128*h)

// Q6KX4_512_FINISH(A, B, F, base0, base1, D): F += d*yd * (isum lanes) for
// the rows whose sums are A and B (activation blocks base0, base1), with
// Z16 the 16 scales in both halves and D their d*yd.
#define Q6KX4_512_FINISH(A, B, F, base0, base1, D) \
	VMOVDQU      260 base0, Y14 \
	VINSERTI64X4 $1, 260 base1, Z14, Z14 \
	VPMADDWD     Z16, Z14, Z14 /* sc*bsum in pairs */ \
	VPSLLD       $5, Z14, Z14 \
	FOLD2(A, B, Z30, Z31) \
	VPSUBD       Z14, Z30, Z30 \
	VCVTDQ2PS    Z30, Z30 \
	VFMADD231PS  D, Z30, F

TEXT ·dotQ6KX4AVX512(SB), NOSPLIT, $0-64
	X4_512_ARGS
	VMOVDQU64 low4<>(SB), Z13
	VMOVDQU64 bits30<>(SB), Z12
	VMOVDQU64 q6Shift<>+0(SB), Z19
	VMOVDQU64 q6Shift<>+64(SB), Z18
	VMOVDQU64 q6Perm<>+0(SB), Z20
	VMOVDQU64 q6Perm<>+64(SB), Z21
	VMOVDQU64 q6Perm<>+128(SB), Z22
	VMOVDQU64 q6Perm<>+192(SB), Z23
	VMOVDQU64 rowPerm<>+0(SB), Z25
	VMOVDQU64 rowPerm<>+64(SB), Z26

q6kx4Row:
	X4_512_ROW

q6kx4Block:
	VPMOVSXBW 192(DI), Y7        // scales 0-15, int16
	VPXORD    Z0, Z0, Z0
	VPXORD    Z1, Z1, Z1
	VPXORD    Z2, Z2, Z2
	VPXORD    Z3, Z3, Z3
	Q6KX4_512_HALF(0, Z20, Z21)
	Q6KX4_512_HALF(1, Z22, Z23)

	MOVWLZX      208(DI), AX
	VMOVD        AX, X10
	VCVTPH2PS    X10, X10
	VBROADCASTSS X10, X10        // d
	YD4(X14)
	VMULPS       X14, X10, X10   // d*yd, rows 0-3
	VPERMPS      Z10, Z25, Z17
	VPERMPS      Z10, Z26, Z10
	VSHUFI64X2   $0x44, Z7, Z7, Z16
	Q6KX4_512_FINISH(Z0, Z1, Z8, (BX), (BX)(R13*1), Z17)
	Q6KX4_512_FINISH(Z2, Z3, Z9, (BX)(R13*2), (BX)(R10*1), Z10)

	ADDQ $210, DI
	ADDQ $292, BX
	DECQ CX
	JNZ  q6kx4Block
	X4_512_END(q6kx4Row, Y5, X5, Y6, X6)

// ---------------------------------------------------------------------
// The 32-value block types against Q8_0 activations for four activation
// rows (Q32X4BODY's arithmetic). A block's 32 weights w fill both halves
// of Z4; two activation rows' blocks fill the halves of another register.
// AVX-512 has no VPSIGNB: VPABSB gives |w| (128 for -128, unsigned), and
// the activations are negated under the mask of w's sign bits, so that
// VPDPBUSD sums |w| * sign(w)*a over each 4 values, the AVX2 kernel's
// VPMADDUBSW-VPMADDWD lanes. (Where w is 0 the AVX2 kernel zeroes a
// instead; the product is 0 either way.)
//
// Vector registers:
//	Z8, Z9  float lanes of rows 0-1 and 2-3 (one row per half)
//	Z4      the block's weights    Z5 |w|    K1 w < 0
//	Z0, Z1  int32 lanes            Z10, Z11 activations of two rows
//	Z16, Z17 dw*da of rows 0-1 and 2-3    Z25, Z26 q8Perm    Z31 zero
//	Z6, Z7  temporaries; LOADW may use Z12-Z14, Z18-Z21

// q8Perm<> (VPERMPS indices) copies float 1 to the low half and float 2
// to the high half (+0), floats 3 and 4 (+64): dw*da of rows 0-3 from
// lanes 1-4.
halves64(q8Perm<>, 0, 0x0000000100000001, 0x0000000200000002)
halves64(q8Perm<>, 64, 0x0000000300000003, 0x0000000400000004)
GLOBL q8Perm<>(SB), RODATA|NOPTR, $128

// Q32X4_512_PAIR(base0, base1, D, A, F): the block at DI times the
// activation blocks at base0 and base1 into the float lanes F.
#define Q32X4_512_PAIR(base0, base1, D, A, F) \
	VMOVDQU      2 base0, Y10 \
	VINSERTI64X4 $1, 2 base1, Z10, Z10 \
	VPSUBB       Z10, Z31, K1, Z10 \
	VPXORD       A, A, A \
	VPDPBUSD     Z10, Z5, A \
	VCVTDQ2PS    A, A \
	VFMADD231PS  D, A, F

// Q32X4_512BODY(wlen, LOADW): LOADW loads the block's 32 int8 weights at
// DI into both halves of Z4.
#define Q32X4_512BODY(wlen, LOADW) \
	VMOVDQU64 q8Perm<>+0(SB), Z25 \
	VMOVDQU64 q8Perm<>+64(SB), Z26 \
	VPXORD    Z31, Z31, Z31 \
row: \
	X4_512_ROW \
block: \
	LOADW \
	VPMOVB2M     Z4, K1 \
	VPABSB       Z4, Z5 \
	VPXOR        X6, X6, X6 \
	VPINSRW      $0, (DI), X6, X6 \
	VPINSRW      $1, (BX), X6, X6 \
	VPINSRW      $2, (BX)(R13*1), X6, X6 \
	VPINSRW      $3, (BX)(R13*2), X6, X6 \
	VPINSRW      $4, (BX)(R10*1), X6, X6 \
	VCVTPH2PS    X6, Y6 /* dw, da0-da3 */ \
	VBROADCASTSS X6, Y7 \
	VMULPS       Y6, Y7, Y7 /* dw*da of rows 0-3 in lanes 1-4 */ \
	VPERMPS      Z7, Z25, Z16 \
	VPERMPS      Z7, Z26, Z17 \
	Q32X4_512_PAIR((BX), (BX)(R13*1), Z16, Z0, Z8) \
	Q32X4_512_PAIR((BX)(R13*2), (BX)(R10*1), Z17, Z1, Z9) \
	ADDQ $wlen, DI \
	ADDQ $34, BX \
	DECQ CX \
	JNZ  block \
	X4_512_END(row, Y6, X6, Y7, X7)

// Q8_0: the 32 bytes after the fp16 d.
#define LOADQ8_0_512 VBROADCASTI64X4 2(DI), Z4

TEXT ·dotQ8_0X4AVX512(SB), NOSPLIT, $0-64
	X4_512_ARGS
	Q32X4_512BODY(34, LOADQ8_0_512)

// Q4_0: the 16 nibble bytes in every 128-bit lane, shifted by 0 (low
// nibbles, values 0-15) or 4 (high nibbles, values 16-31), minus 8.
DATA nib4x<>+0(SB)/8, $0
DATA nib4x<>+8(SB)/8, $0
DATA nib4x<>+16(SB)/8, $0x0000000400000004
DATA nib4x<>+24(SB)/8, $0x0000000400000004
DATA nib4x<>+32(SB)/8, $0
DATA nib4x<>+40(SB)/8, $0
DATA nib4x<>+48(SB)/8, $0x0000000400000004
DATA nib4x<>+56(SB)/8, $0x0000000400000004
GLOBL nib4x<>(SB), RODATA|NOPTR, $64

bytes64(eights<>, 0, 0x0808080808080808)
GLOBL eights<>(SB), RODATA|NOPTR, $64

#define LOADQ4_0_512 \
	VBROADCASTI32X4 2(DI), Z4 \
	VPSRLVD         Z18, Z4, Z4 \
	VPANDD          Z13, Z4, Z4 \
	VPSUBB          Z12, Z4, Z4

TEXT ·dotQ4_0X4AVX512(SB), NOSPLIT, $0-64
	X4_512_ARGS
	VMOVDQU64 low4<>(SB), Z13
	VMOVDQU64 eights<>(SB), Z12
	VMOVDQU64 nib4x<>(SB), Z18
	Q32X4_512BODY(18, LOADQ4_0_512)

// Q5_0: Q4_0's nibbles (at 6(DI)), then 16 subtracted from each value
// whose bit in qh (at 2(DI)) is clear, under a mask of qh's complement
// in both halves: nibble - 16 where the fifth bit is clear, the nibble
// where it is set (nibble + 16 - 16), as in LOADQ5_0.
bytes64(sixteens<>, 0, 0x1010101010101010)
GLOBL sixteens<>(SB), RODATA|NOPTR, $64

#define LOADQ5_0_512 \
	VBROADCASTI32X4 6(DI), Z4 \
	VPSRLVD         Z18, Z4, Z4 \
	VPANDD          Z13, Z4, Z4 \
	KMOVD           2(DI), K2 \
	KNOTD           K2, K2 \
	KUNPCKDQ        K2, K2, K2 \
	VPSUBB          Z12, Z4, K2, Z4

TEXT ·dotQ5_0X4AVX512(SB), NOSPLIT, $0-64
	X4_512_ARGS
	VMOVDQU64 low4<>(SB), Z13
	VMOVDQU64 sixteens<>(SB), Z12
	VMOVDQU64 nib4x<>(SB), Z18
	Q32X4_512BODY(22, LOADQ5_0_512)

// ---------------------------------------------------------------------
// The 32-value block types against Q8_0 activations for two weight rows
// times four activation rows (a 2x4 register tile of the prompt's matrix
// products), for even rows >= 2: each activation block is loaded once for
// two weight rows and each weight block once for four activation rows.
// Per pair of rows the arithmetic is Q32X4BODY's.
//
//	func dotQ8_0X8AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// (and likewise Q4_0 and Q5_0). A register holds weight rows i and i+1's
// blocks, one per half; each activation row's block is broadcast to both
// halves, negated under the mask of the weights' signs, and multiplied in
// with VPDPBUSD. The float lanes of activation row r are Z20+r (weight
// row i in the low half, i+1 in the high half), scaled by dw_k*da_r in
// Z16+r.
//
// General registers: DI and DX the two weight rows' current blocks; the
// rest as in the four-row kernels.
//
// Vector registers:
//	Z4  the two rows' weights    Z5 |w|    K1 w < 0    Z31 zero
//	Y6  dw0, dw1, da0-da3, then the da's paired   Y7 the dw's paired, then the eight dw*da
//	Z0  int32 lanes    Z10 activations    Y12, Y13 q8x8Perm    Z24-Z27 pairRows
//	Z28-Z30 LOADW2's constants, Z11 its temporary, K2 and K3 its masks

// q8x8Perm<> (VPERMPS indices): +0 lays lanes 0, 1 (dw0, dw1) four times
// over, +32 pairs lanes 2-5 (da0-da3), so that their product has dw_k*da_r
// in lane 2r+k.
DATA q8x8Perm<>+0(SB)/8, $0x0000000100000000
DATA q8x8Perm<>+8(SB)/8, $0x0000000100000000
DATA q8x8Perm<>+16(SB)/8, $0x0000000100000000
DATA q8x8Perm<>+24(SB)/8, $0x0000000100000000
DATA q8x8Perm<>+32(SB)/8, $0x0000000200000002
DATA q8x8Perm<>+40(SB)/8, $0x0000000300000003
DATA q8x8Perm<>+48(SB)/8, $0x0000000400000004
DATA q8x8Perm<>+56(SB)/8, $0x0000000500000005
GLOBL q8x8Perm<>(SB), RODATA|NOPTR, $64

// pairRows<>+64r (VPERMPS indices) copies float 2r to the low half and
// float 2r+1 to the high half.
halves64(pairRows<>, 0, 0x0000000000000000, 0x0000000100000001)
halves64(pairRows<>, 64, 0x0000000200000002, 0x0000000300000003)
halves64(pairRows<>, 128, 0x0000000400000004, 0x0000000500000005)
halves64(pairRows<>, 192, 0x0000000600000006, 0x0000000700000007)
GLOBL pairRows<>(SB), RODATA|NOPTR, $256

// Q8X8_ROW(base, D, F): the two weight blocks times the activation block
// at base into the float lanes F, scaled by D.
#define Q8X8_ROW(base, D, F) \
	VBROADCASTI64X4 2 base, Z10 \
	VPSUBB          Z10, Z31, K1, Z10 \
	VPXORD          Z0, Z0, Z0 \
	VPDPBUSD        Z10, Z5, Z0 \
	VCVTDQ2PS       Z0, Z0 \
	VFMADD231PS     D, Z0, F

// Q8X8_STORE(F, lo, hi): activation row F's two sums to lo and hi.
#define Q8X8_STORE(F, lo, hi) \
	VMOVAPS       F, Z1 \
	VEXTRACTF64X4 $1, Z1, Y2 \
	HSUMF(Y1, X1, X3) \
	HSUMF(Y2, X2, X3) \
	VMOVSS        X1, lo \
	VMOVSS        X2, hi

// Q32X8_512BODY(wlen, LOADW2): LOADW2 loads the 32 int8 weights of the
// blocks at DI and DX into the low and high halves of Z4.
#define Q32X8_512BODY(wlen, LOADW2) \
	X4_512_ARGS \
	VMOVDQU   q8x8Perm<>+0(SB), Y12 \
	VMOVDQU   q8x8Perm<>+32(SB), Y13 \
	VMOVDQU64 pairRows<>+0(SB), Z24 \
	VMOVDQU64 pairRows<>+64(SB), Z25 \
	VMOVDQU64 pairRows<>+128(SB), Z26 \
	VMOVDQU64 pairRows<>+192(SB), Z27 \
	VPXORD    Z31, Z31, Z31 \
row: \
	MOVQ   SI, DI \
	MOVQ   SI, DX \
	ADDQ   wStride+8(FP), DX \
	MOVQ   a+24(FP), BX \
	MOVQ   nb+40(FP), CX \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23 \
block: \
	LOADW2 \
	VPMOVB2M     Z4, K1 \
	VPABSB       Z4, Z5 \
	VPXOR        X6, X6, X6 \
	VPINSRW      $0, (DI), X6, X6 \
	VPINSRW      $1, (DX), X6, X6 \
	VPINSRW      $2, (BX), X6, X6 \
	VPINSRW      $3, (BX)(R13*1), X6, X6 \
	VPINSRW      $4, (BX)(R13*2), X6, X6 \
	VPINSRW      $5, (BX)(R10*1), X6, X6 \
	VCVTPH2PS    X6, Y6 \
	VPERMPS      Y6, Y12, Y7 \
	VPERMPS      Y6, Y13, Y6 \
	VMULPS       Y6, Y7, Y7 /* dw_k*da_r in lane 2r+k */ \
	VPERMPS      Z7, Z24, Z16 \
	VPERMPS      Z7, Z25, Z17 \
	VPERMPS      Z7, Z26, Z18 \
	VPERMPS      Z7, Z27, Z19 \
	Q8X8_ROW((BX), Z16, Z20) \
	Q8X8_ROW((BX)(R13*1), Z17, Z21) \
	Q8X8_ROW((BX)(R13*2), Z18, Z22) \
	Q8X8_ROW((BX)(R10*1), Z19, Z23) \
	ADDQ         $wlen, DI \
	ADDQ         $wlen, DX \
	ADDQ         $34, BX \
	DECQ         CX \
	JNZ          block \
	MOVQ outStride+56(FP), R8 \
	SHLQ $2, R8 \
	LEAQ (R8)(R8*2), R9 \
	Q8X8_STORE(Z20, (R11), 4(R11)) \
	Q8X8_STORE(Z21, (R11)(R8*1), 4(R11)(R8*1)) \
	Q8X8_STORE(Z22, (R11)(R8*2), 4(R11)(R8*2)) \
	Q8X8_STORE(Z23, (R11)(R9*1), 4(R11)(R9*1)) \
	ADDQ $8, R11 \
	MOVQ wStride+8(FP), AX \
	LEAQ (SI)(AX*2), SI \
	SUBQ $2, R12 \
	JNZ  row \
	VZEROUPPER \
	RET

#define LOADQ8_0X8 \
	VMOVDQU      2(DI), Y4 \
	VINSERTI64X4 $1, 2(DX), Z4, Z4

TEXT ·dotQ8_0X8AVX512(SB), NOSPLIT, $0-64
	Q32X8_512BODY(34, LOADQ8_0X8)

// NIBBLESX8(off): the 16 nibble bytes at off(DI) and off(DX) as 32 values
// each (LOADQ4_0_512's low and high nibbles), DI's in the low half.
#define NIBBLESX8(off) \
	VBROADCASTI32X4 off(DI), Y4 \
	VBROADCASTI32X4 off(DX), Y11 \
	VINSERTI64X4    $1, Y11, Z4, Z4 \
	VPSRLVD         Z29, Z4, Z4 \
	VPANDD          Z28, Z4, Z4

#define LOADQ4_0X8 \
	NIBBLESX8(2) \
	VPSUBB Z30, Z4, Z4

TEXT ·dotQ4_0X8AVX512(SB), NOSPLIT, $0-64
	VMOVDQU64 low4<>(SB), Z28
	VMOVDQU64 nib4x<>(SB), Z29
	VMOVDQU64 eights<>(SB), Z30
	Q32X8_512BODY(18, LOADQ4_0X8)

// LOADQ5_0X8: as LOADQ5_0_512, with DI's qh for the low half and DX's for
// the high half of the mask.
#define LOADQ5_0X8 \
	NIBBLESX8(6) \
	KMOVD    2(DI), K2 \
	KMOVD    2(DX), K3 \
	KUNPCKDQ K2, K3, K2 \
	KNOTQ    K2, K2 \
	VPSUBB   Z30, Z4, K2, Z4

TEXT ·dotQ5_0X8AVX512(SB), NOSPLIT, $0-64
	VMOVDQU64 low4<>(SB), Z28
	VMOVDQU64 nib4x<>(SB), Z29
	VMOVDQU64 sixteens<>(SB), Z30
	Q32X8_512BODY(22, LOADQ5_0X8)
