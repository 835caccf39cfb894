//go:build !purego

#include "textflag.h"
#include "dot_amd64.h"

// AVX2 kernels for Dot, DotRows and DotMatrix (see dot_amd64.go). Each
// computes
//
//	out[r] = Dot(t, n, w + r*wStride, a)    for r in [0, rows)
//
// for one weight type, so one call covers a whole matrix-vector product
// (or a slice of one) and the activation row stays in L1 across rows. The
// X4 kernels (the quantized types) do the same for four activation rows at once,
// decoding each weight block once; their results equal the one-row
// kernels' bit for bit.
//
// The integer part of every block is exact, as in the pure-Go kernels:
// VPMADDUBSW multiplies unsigned weight bytes by signed activation bytes
// and adds adjacent pairs into int16 lanes, VPMADDWD multiplies those by
// int16 scales (or by 1) and adds adjacent pairs into int32 lanes. The
// int16 lanes never saturate: each kernel notes its largest pair sum.
//
// The float part differs by kernel:
//   - F32, F16 and BF16 follow ggml's summation orders (SumOrder), as the
//     pure-Go kernels do with explicit FMAs: bit-identical to them.
//   - The quantized types, like ggml's AVX2 kernels, keep the block's
//     int32 lanes, convert them to float and accumulate d*yd times them
//     into eight float lanes with FMA, summing the lanes once per row.
//     Reducing every block to one integer first (as the pure-Go kernels
//     do) costs a fifth of the kernel's time or more; the results differ
//     from the pure-Go ones by float32 rounding only.
//
// Register conventions shared by the kernels:
//	SI   weight row start          R11  next output float
//	DI   current weight block      R12  rows left
//	BX   current activation block  CX   blocks left in the row
//	X8   the row's float32 sum (lane 0) or Y8 its float lanes
// Y15 and R14/R15 are left alone (Go's ABI wrappers rely on them).

// Arguments of the one-row kernels:
//	func(w *byte, wStride int, a *byte, nb int, out *float32, rows int)
// nb is the number of blocks per row (values for F16); nb >= 1, rows >= 1.

// splat32 fills 32 bytes at sym+off with the 64-bit pattern v.
#define splat32(sym, off, v) \
	DATA sym+(off+0)(SB)/8, $v \
	DATA sym+(off+8)(SB)/8, $v \
	DATA sym+(off+16)(SB)/8, $v \
	DATA sym+(off+24)(SB)/8, $v

// splat16x2 fills 32 bytes with lo in the low 16 bytes and hi in the high.
#define splat16x2(sym, off, lo, hi) \
	DATA sym+(off+0)(SB)/8, $lo \
	DATA sym+(off+8)(SB)/8, $lo \
	DATA sym+(off+16)(SB)/8, $hi \
	DATA sym+(off+24)(SB)/8, $hi

// wordShuf<>+32k is a VPSHUFB mask that copies int16 element k of each
// 128-bit lane to all eight elements of that lane.
splat32(wordShuf<>, 0, 0x0100010001000100)
splat32(wordShuf<>, 32, 0x0302030203020302)
splat32(wordShuf<>, 64, 0x0504050405040504)
splat32(wordShuf<>, 96, 0x0706070607060706)
splat32(wordShuf<>, 128, 0x0908090809080908)
splat32(wordShuf<>, 160, 0x0b0a0b0a0b0a0b0a)
splat32(wordShuf<>, 192, 0x0d0c0d0c0d0c0d0c)
splat32(wordShuf<>, 224, 0x0f0e0f0e0f0e0f0e)
GLOBL wordShuf<>(SB), RODATA|NOPTR, $256

// pairShuf<>+32g copies int16 element 2g to the low lane's eight elements
// and element 2g+1 to the high lane's (both lanes holding the same eight
// int16 values): the scales of 16 values each for one 32-value VPMADDUBSW.
splat16x2(pairShuf<>, 0, 0x0100010001000100, 0x0302030203020302)
splat16x2(pairShuf<>, 32, 0x0504050405040504, 0x0706070607060706)
splat16x2(pairShuf<>, 64, 0x0908090809080908, 0x0b0a0b0a0b0a0b0a)
splat16x2(pairShuf<>, 96, 0x0d0c0d0c0d0c0d0c, 0x0f0e0f0e0f0e0f0e)
GLOBL pairShuf<>(SB), RODATA|NOPTR, $128

// bitBytes<> (VPSHUFB mask) gives byte k a copy of byte k/8 of a dword;
// bitBytes<>+32 has bit k%8 set in byte k. AND-ing the two and comparing
// with the second expands 32 bits into 32 bytes of 0x00/0xff.
DATA bitBytes<>+0(SB)/8, $0x0000000000000000
DATA bitBytes<>+8(SB)/8, $0x0101010101010101
DATA bitBytes<>+16(SB)/8, $0x0202020202020202
DATA bitBytes<>+24(SB)/8, $0x0303030303030303
splat32(bitBytes<>, 32, 0x8040201008040201)
GLOBL bitBytes<>(SB), RODATA|NOPTR, $64

// nibShift<> holds VPSRLVD counts: 0 for the low 128-bit lane's dwords, 4
// for the high lane's, so 16 bytes of nibbles broadcast to both lanes
// become the low nibbles (low lane) and the high nibbles (high lane).
DATA nibShift<>+0(SB)/8, $0
DATA nibShift<>+8(SB)/8, $0
DATA nibShift<>+16(SB)/8, $0x0000000400000004
DATA nibShift<>+24(SB)/8, $0x0000000400000004
GLOBL nibShift<>(SB), RODATA|NOPTR, $32

// BYTES(v, Y) sets every byte of Y to v, using AX.
#define BYTES(v, Y) \
	MOVL $v, AX \
	VMOVD AX, X0 \
	VPBROADCASTD X0, Y

// HSUM32(Y, X, T) adds the eight int32 lanes of Y into lane 0 of X (the
// low half of Y), using XT.
#define HSUM32(Y, X, T) \
	VEXTRACTI128 $1, Y, T \
	VPADDD T, X, X \
	VPSHUFD $0x4e, X, T \
	VPADDD T, X, X \
	VPSHUFD $0xb1, X, T \
	VPADDD T, X, X

// KX4BODY is the row and block loop of the four-row K-quant kernels:
// CHUNK(j) multiplies chunk j of the weight block at DI with the four
// activation rows, FINISH(A, F, base, M) scales a row's integer lanes A
// into its float lanes F and mins' slot M, STORE(F, XF, M, dst) writes the
// row's result, ZERO clears the slots, and blen is the block length. The
// slots are m0-m3 on the stack.
#define KX4BODY(CHUNK, FINISH, STORE, ZERO, blen, m0, m1, m2, m3) \
	MOVQ w+0(FP), SI \
	MOVQ rows+16(FP), R12 \
	MOVQ aStride+32(FP), R13 \
	LEAQ (R13)(R13*2), R10 \
	MOVQ out+48(FP), R11 \
	BYTES(0x0f0f0f0f, Y13) \
row: \
	MOVQ   SI, DI \
	MOVQ   a+24(FP), BX \
	MOVQ   nb+40(FP), CX \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11 \
	VXORPS X4, X4, X4 \
	ZERO \
block: \
	Q4K_UNPACK \
	VMOVQ     AX, X1 \
	VPMOVZXBW X1, X1 \
	VPERMQ    $0x44, Y1, Y1 /* scales in both 128-bit lanes */ \
	VPXOR     Y0, Y0, Y0 \
	VPXOR     Y2, Y2, Y2 \
	VPXOR     Y3, Y3, Y3 \
	VPXOR     Y12, Y12, Y12 \
	CHUNK(0) \
	CHUNK(1) \
	CHUNK(2) \
	CHUNK(3) \
	VMOVD        (DI), X4 \
	VCVTPH2PS    X4, X4 /* d, dmin */ \
	VBROADCASTSS X4, Y6 \
	VMOVSHDUP    X4, X4 \
	VBROADCASTSS X4, Y7 \
	VMOVQ        DX, X1 \
	VPMOVZXBW    X1, X1 /* mins, int16 */ \
	FINISH(Y0, Y8, (BX), m0) \
	FINISH(Y2, Y9, (BX)(R13*1), m1) \
	FINISH(Y3, Y10, (BX)(R13*2), m2) \
	FINISH(Y12, Y11, (BX)(R10*1), m3) \
	ADDQ $blen, DI \
	ADDQ $292, BX \
	DECQ CX \
	JNZ  block \
	MOVQ outStride+56(FP), R8 \
	SHLQ $2, R8 /* bytes between output rows */ \
	LEAQ (R8)(R8*2), R9 \
	STORE(Y8, X8, m0, (R11)) \
	STORE(Y9, X9, m1, (R11)(R8*1)) \
	STORE(Y10, X10, m2, (R11)(R8*2)) \
	STORE(Y11, X11, m3, (R11)(R9*1)) \
	ADDQ   $4, R11 \
	ADDQ   wStride+8(FP), SI \
	DECQ   R12 \
	JNZ    row \
	VZEROUPPER \
	RET

// ---------------------------------------------------------------------
// Q4_K x Q8_K. Weight block (144 bytes): fp16 d, fp16 dmin, 12 bytes of
// 6-bit scales and mins, 128 bytes of nibbles; byte l of the 32-byte chunk
// j holds value 64j+l (low nibble, sub-block 2j) and 64j+32+l (high
// nibble, sub-block 2j+1). Activation block (292 bytes): fp32 d, 256 int8,
// 16 int16 bsums. Per block:
//	isum = sum_k scale_k * (q . a over sub-block k)
//	msum = sum_k min_k * (bsums[2k] + bsums[2k+1])
//	sum += d*yd*isum - dmin*yd*msum
// with isum and msum kept as int32 lanes (Y0, X2) and, as in ggml's AVX2
// kernel, their float products accumulated in separate float lanes (Y8
// and X9), added at the end of the row. VPMADDUBSW pair sums are at most
// 2*15*127 = 3810.
//
// Vector registers:
//	Y0  int32 lanes of isum          Y1  the 8 scales, int16, in both lanes
//	X2  int32 lanes of msum          Y13 0x0f in every byte
//	Y6, Y7 a chunk's two scale vectors, then d and dmin (broadcast)
//	Y8  float lanes of the sum       X9  float lanes of the mins' sum
//	Y3-Y5 temporaries

// Q4K_CHUNK(j): sub-blocks 2j (low nibbles) and 2j+1 (high nibbles).
#define Q4K_CHUNK(j) \
	VMOVDQU    (16+32*j)(DI), Y4 \
	VPSRLW     $4, Y4, Y5 \
	VPAND      Y13, Y4, Y4 \
	VPAND      Y13, Y5, Y5 \
	KCHUNK_MUL(j)

// KCHUNK_MUL(j) adds to Y0 the products of chunk j's low and high values
// (bytes in Y4 and Y5) with the activations, scaled by their sub-blocks'
// scales (Y1).
#define KCHUNK_MUL(j) \
	VPMADDUBSW (4+64*j)(BX), Y4, Y4 \
	VPMADDUBSW (36+64*j)(BX), Y5, Y5 \
	VPSHUFB    wordShuf<>+(64*j)(SB), Y1, Y6 \
	VPSHUFB    wordShuf<>+(64*j+32)(SB), Y1, Y7 \
	VPMADDWD   Y6, Y4, Y4 \
	VPMADDWD   Y7, Y5, Y5 \
	VPADDD     Y4, Y0, Y0 \
	VPADDD     Y5, Y0, Y0

// KBODY is the row and block loop of the one-row K-quant kernels (Q4_K,
// Q5_K): SETUP loads the kernel's constants, BLOCK and MSUM prepare a
// block (Q5_K's high bits, its single-integer msum), CHUNK(j) adds chunk
// j's products to Y0, MINS subtracts dmin*yd*msum (X5 times X2) from the
// mins' sum X9, ROWMINS reduces X9 to lane 0, and blen is the block length.
#define KBODY(SETUP, BLOCK, MSUM, CHUNK, MINS, ROWMINS, blen) \
	MOVQ w+0(FP), SI \
	MOVQ out+32(FP), R11 \
	MOVQ rows+40(FP), R12 \
	BYTES(0x0f0f0f0f, Y13) \
	SETUP \
row: \
	MOVQ   SI, DI \
	MOVQ   a+16(FP), BX \
	MOVQ   nb+24(FP), CX \
	VXORPS Y8, Y8, Y8 \
	VXORPS X9, X9, X9 \
block: \
	Q4K_UNPACK \
	VMOVQ     DX, X2 \
	VPMOVZXBW X2, X2 /* 8 mins, int16 */ \
	VMOVDQU   260(BX), X3 /* bsums 0-7, int16 (each |.| <= 16*127) */ \
	VPHADDW   276(BX), X3, X3 /* bsums[2k] + bsums[2k+1], k = 0..7 */ \
	VPMADDWD  X3, X2, X2 /* 4 int32 lanes of msum */ \
	MSUM \
	VMOVQ     AX, X1 \
	VPMOVZXBW X1, X1 \
	VPERMQ    $0x44, Y1, Y1 /* scales in both 128-bit lanes */ \
	VPXOR     Y0, Y0, Y0 \
	BLOCK \
	CHUNK(0) \
	CHUNK(1) \
	CHUNK(2) \
	CHUNK(3) \
	VMOVD        (DI), X3 \
	VCVTPH2PS    X3, X3 /* d, dmin */ \
	VBROADCASTSS X3, Y6 \
	VMOVSHDUP    X3, X3 \
	VBROADCASTSS X3, Y7 \
	VCVTDQ2PS    Y0, Y0 \
	VBROADCASTSS (BX), Y4 /* yd */ \
	VMULPS       Y4, Y6, Y5 /* d*yd */ \
	VFMADD231PS  Y5, Y0, Y8 \
	VCVTDQ2PS    X2, X2 \
	VMULPS       X4, X7, X5 /* dmin*yd */ \
	MINS \
	ADDQ $blen, DI \
	ADDQ $292, BX \
	DECQ CX \
	JNZ  block \
	HSUMF(Y8, X8, X3) \
	ROWMINS \
	VADDSS X9, X8, X8 \
	VMOVSS X8, (R11) \
	ADDQ   $4, R11 \
	ADDQ   wStride+8(FP), SI \
	DECQ   R12 \
	JNZ    row \
	VZEROUPPER \
	RET

#define KNONE

// Q4_K's mins: four float lanes, reduced at the end of the row with the
// same float operations, in the same order, as Q4KX4_FINISH and _STORE.
#define Q4K_MINS VFNMADD231PS X5, X2, X9
#define Q4K_ROWMINS HSUM4F(X9, X3)

TEXT ·dotQ4KAVX2(SB), NOSPLIT, $0-48
	KBODY(KNONE, KNONE, KNONE, Q4K_CHUNK, Q4K_MINS, Q4K_ROWMINS, 144)

// ---------------------------------------------------------------------
// Q5_K x Q8_K. Weight block (176 bytes): fp16 d, fp16 dmin, 12 bytes of
// scales and mins as Q4_K, 32 bytes qh, 128 bytes of nibbles as Q4_K;
// the fifth bit of value 64j+l is bit 2j of qh[l] (low nibble) or bit
// 2j+1 (high nibble). The integer lanes and d*yd*isum are as for Q4_K;
// as in ggml's AVX2 kernel, the mins' term is one integer per block,
// added to a float32 sum (X9) that joins the lanes at the end of the row.
// VPMADDUBSW pair sums are at most 2*31*127 = 7874.
//
// Vector registers: as dotQ4KAVX2, plus
//	Y10 qh    Y11 0x10 in every byte    Y12 temporary

// Q5K_MINS(D, M, S) subtracts D*M from S (lane 0) in one rounding:
// ggml's summs += -(yd*dmin) * msum, which compilers contract to an FMA.
#define Q5K_MINS(D, M, S) \
	VFNMADD231SS D, M, S

// Q5K_HIGH(s, Y) ORs bit s of each qh byte into bit 4 of the bytes of Y.
// (VPSRLW moves bits across bytes too, but only bit 0 of each byte
// survives the shift left and the mask.)
#define Q5K_HIGH(s, Y) \
	VPSRLW $s, Y10, Y12 \
	VPSLLW $4, Y12, Y12 \
	VPAND  Y11, Y12, Y12 \
	VPOR   Y12, Y, Y

// Q5K_NIBBLES(j) loads chunk j's 32 low values into Y4 and 32 high
// values into Y5, as bytes in [0, 31].
#define Q5K_NIBBLES(j) \
	VMOVDQU (48+32*j)(DI), Y4 \
	VPSRLW  $4, Y4, Y5 \
	VPAND   Y13, Y4, Y4 \
	VPAND   Y13, Y5, Y5 \
	Q5K_HIGH(2*j, Y4) \
	Q5K_HIGH(2*j+1, Y5)

#define Q5K_CHUNK(j) \
	Q5K_NIBBLES(j) \
	KCHUNK_MUL(j)

#define Q5K_SETUP BYTES(0x10101010, Y11)
#define Q5K_BLOCK VMOVDQU 16(DI), Y10

// Q5K_MSUM adds msum's four lanes into every lane.
#define Q5K_MSUM \
	VPSHUFD $0x4e, X2, X3 \
	VPADDD  X3, X2, X2 \
	VPSHUFD $0xb1, X2, X3 \
	VPADDD  X3, X2, X2

TEXT ·dotQ5KAVX2(SB), NOSPLIT, $0-48
	KBODY(Q5K_SETUP, Q5K_BLOCK, Q5K_MSUM, Q5K_CHUNK, Q5K_MINS(X5, X2, X9), KNONE, 176)

// Q4_K x Q8_K for four activation rows at once (the prompt's matrix
// products): each weight block is loaded, its nibbles split and its
// scales unpacked once, then multiplied with the four activation rows'
// blocks, which lie aStride bytes apart. Per row the arithmetic is that
// of dotQ4KAVX2.
//
//	func dotQ4KX4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// out[r*outStride + i] gets the product of weight row i and activation
// row r.
//
// General registers, besides the shared ones (BX is activation row 0's
// current block):
//	R13 aStride     R10 3*aStride
//
// Vector registers:
//	Y0, Y2, Y3, Y12  int32 lanes of isum of activation rows 0-3
//	Y8-Y11           float lanes of the sums of activation rows 0-3
//	m0-m3 (stack)    float lanes of the mins' sums of activation rows 0-3
//	Y1   the 8 scales, int16, in both lanes; then the 8 mins, int16
//	Y4   low nibbles of a chunk, then temporaries
//	Y5   high nibbles of a chunk, then temporaries
//	Y6   scale of the low nibbles, then d (broadcast)
//	Y7   scale of the high nibbles, then dmin (broadcast)
//	Y13  0x0f in every byte          Y14 temporary

// Q4KX4_ROW(j, A, base): chunk j of the activation block at base (an
// address without displacement) into A.
#define Q4KX4_ROW(j, A, base) \
	VPMADDUBSW (4+64*j) base, Y4, Y14 \
	VPMADDWD   Y6, Y14, Y14 \
	VPADDD     Y14, A, A \
	VPMADDUBSW (36+64*j) base, Y5, Y14 \
	VPMADDWD   Y7, Y14, Y14 \
	VPADDD     Y14, A, A

#define Q4KX4_CHUNK(j) \
	VMOVDQU (16+32*j)(DI), Y4 \
	VPSRLW  $4, Y4, Y5 \
	VPAND   Y13, Y4, Y4 \
	VPAND   Y13, Y5, Y5 \
	KX4_ROWS(j)

// KX4_ROWS(j) multiplies chunk j's values (Y4, Y5) with the four
// activation rows' blocks into their integer lanes.
#define KX4_ROWS(j) \
	VPSHUFB wordShuf<>+(64*j)(SB), Y1, Y6 \
	VPSHUFB wordShuf<>+(64*j+32)(SB), Y1, Y7 \
	Q4KX4_ROW(j, Y0, (BX)) \
	Q4KX4_ROW(j, Y2, (BX)(R13*1)) \
	Q4KX4_ROW(j, Y3, (BX)(R13*2)) \
	Q4KX4_ROW(j, Y12, (BX)(R10*1))

// Q4KX4_FINISH(A, F, base, M): F += d*yd*isum and M -= dmin*yd*msum for
// the activation block at base, with isum's lanes in A, d in Y6, dmin in
// Y7 and the mins in X1; M is the row's stack slot.
#define Q4KX4_FINISH(A, F, base, M) \
	VCVTDQ2PS    A, A \
	VBROADCASTSS base, Y14 \
	VMULPS       Y14, Y6, Y5 \
	VFMADD231PS  Y5, A, F \
	VMOVDQU      260 base, X4 \
	VPHADDW      276 base, X4, X4 \
	VPMADDWD     X1, X4, X4 \
	VCVTDQ2PS    X4, X4 \
	VMULPS       X14, X7, X5 \
	VMOVUPS      M, X14 \
	VFNMADD231PS X5, X4, X14 \
	VMOVUPS      X14, M

// Q4KX4_STORE(F, XF, M, dst) stores the sum of row F's lanes and its mins'
// lanes M to dst.
#define Q4KX4_STORE(F, XF, M, dst) \
	HSUMF(F, XF, X4) \
	VMOVUPS M, X5 \
	HSUM4F(X5, X4) \
	VADDSS  X5, XF, XF \
	VMOVSS  XF, dst

#define Q4KX4_ZERO \
	VMOVUPS X4, m0-64(SP) \
	VMOVUPS X4, m1-48(SP) \
	VMOVUPS X4, m2-32(SP) \
	VMOVUPS X4, m3-16(SP)

TEXT ·dotQ4KX4AVX2(SB), NOSPLIT, $64-64
	KX4BODY(Q4KX4_CHUNK, Q4KX4_FINISH, Q4KX4_STORE, Q4KX4_ZERO, 144, m0-64(SP), m1-48(SP), m2-32(SP), m3-16(SP))

// Q5_K x Q8_K for four activation rows at once: dotQ4KX4AVX2's structure
// with Q5_K's fifth bits (qh is read from memory: every register is in
// use) and, per row, the mins' float32 sum in a stack slot.
DATA bits10<>+0(SB)/8, $0x1010101010101010
DATA bits10<>+8(SB)/8, $0x1010101010101010
DATA bits10<>+16(SB)/8, $0x1010101010101010
DATA bits10<>+24(SB)/8, $0x1010101010101010
GLOBL bits10<>(SB), RODATA|NOPTR, $32

// Q5KX4_HIGH(s, Y) is Q5K_HIGH with qh loaded into Y14.
#define Q5KX4_HIGH(s, Y) \
	VMOVDQU 16(DI), Y14 \
	VPSRLW  $s, Y14, Y14 \
	VPSLLW  $4, Y14, Y14 \
	VPAND   bits10<>(SB), Y14, Y14 \
	VPOR    Y14, Y, Y

#define Q5KX4_CHUNK(j) \
	VMOVDQU (48+32*j)(DI), Y4 \
	VPSRLW  $4, Y4, Y5 \
	VPAND   Y13, Y4, Y4 \
	VPAND   Y13, Y5, Y5 \
	Q5KX4_HIGH(2*j, Y4) \
	Q5KX4_HIGH(2*j+1, Y5) \
	KX4_ROWS(j)

// Q5KX4_FINISH(A, F, base, M): F += d*yd*isum and, in one rounding,
// M -= dmin*yd*msum (msum one integer) for the activation block at base.
#define Q5KX4_FINISH(A, F, base, M) \
	VCVTDQ2PS    A, A \
	VBROADCASTSS base, Y14 \
	VMULPS       Y14, Y6, Y5 \
	VFMADD231PS  Y5, A, F \
	VMOVDQU      260 base, X4 \
	VPHADDW      276 base, X4, X4 \
	VPMADDWD     X1, X4, X4 \
	VPSHUFD      $0x4e, X4, X5 \
	VPADDD       X5, X4, X4 \
	VPSHUFD      $0xb1, X4, X5 \
	VPADDD       X5, X4, X4 \
	VCVTDQ2PS    X4, X4 \
	VMULSS       X14, X7, X5 \
	VMOVSS       M, X14 \
	VFNMADD231SS X5, X4, X14 \
	VMOVSS       X14, M

#define Q5KX4_STORE(F, XF, M, dst) \
	HSUMF(F, XF, X4) \
	VADDSS M, XF, XF \
	VMOVSS XF, dst

#define Q5KX4_ZERO \
	VMOVSS X4, m0-16(SP) \
	VMOVSS X4, m1-12(SP) \
	VMOVSS X4, m2-8(SP) \
	VMOVSS X4, m3-4(SP)

TEXT ·dotQ5KX4AVX2(SB), NOSPLIT, $16-64
	KX4BODY(Q5KX4_CHUNK, Q5KX4_FINISH, Q5KX4_STORE, Q5KX4_ZERO, 176, m0-16(SP), m1-12(SP), m2-8(SP), m3-4(SP))

// ---------------------------------------------------------------------
// Q6_K x Q8_K. Weight block (210 bytes): 128 bytes of low nibbles (ql),
// 64 bytes of high 2-bit pairs (qh), 16 int8 scales, fp16 d. In half h
// (128 values), value 32g+l is nibble (g < 2 ? low : high) of
// ql[64h + l + 32*(g&1)], with bits 2g and 2g+1 of qh[32h + l] on top,
// minus 32; scale 8h + 2g + l/16. Per block:
//	isum = sum_k sc_k * (q . a over the 16 values of k) - 32 * sum_k sc_k*bsums[k]
//	sum += d*yd*isum
// where q is the unsigned 6-bit value: the -32 offset goes through the
// bsums, which cover exactly one scale's 16 values. isum is kept as int32
// lanes, d*yd*isum accumulated in float lanes (Y8). VPMADDUBSW pair sums
// are at most 2*63*127 = 16002.
//
// Vector registers:
//	Y0  int32 lanes of sum sc*(q.a)   Y1  16 scales, int16
//	Y2  int32 lanes of sum sc*bsum    Y3  one half's 8 scales in both lanes
//	Y13 0x0f in every byte            Y12 0x30 in every byte
//	Y8  float lanes of d*yd*isum      Y4-Y7, Y9-Y11 temporaries

// Q6K_PRODUCT(q, g, yoff): q holds the 32 unsigned 6-bit values of group
// g of the current half, yoff their activations' offset in the block.
// Adds sum over 16-value groups of scale * (q . a) to Y0.
#define Q6K_PRODUCT(q, g, yoff) \
	VPMADDUBSW yoff(BX), q, q \
	VPSHUFB    pairShuf<>+(32*g)(SB), Y3, Y11 \
	VPMADDWD   Y11, q, q \
	VPADDD     q, Y0, Y0

// Q6K_HALF(h): the 128 values of half h.
#define Q6K_HALF(h) \
	VMOVDQU (64*h)(DI), Y4 /* ql[0:32] of the half */ \
	VMOVDQU (64*h+32)(DI), Y5 /* ql[32:64] */ \
	VMOVDQU (128+32*h)(DI), Y6 /* qh */ \
	VPAND   Y13, Y4, Y7 /* g=0: low nibbles of ql[0:32] */ \
	VPSLLW  $4, Y6, Y9 \
	VPAND   Y12, Y9, Y9 /* qh bits 0-1 at bits 4-5 */ \
	VPOR    Y9, Y7, Y7 \
	Q6K_PRODUCT(Y7, 0, 4+128*h) \
	VPAND   Y13, Y5, Y7 /* g=1: low nibbles of ql[32:64] */ \
	VPSLLW  $2, Y6, Y9 \
	VPAND   Y12, Y9, Y9 /* qh bits 2-3 */ \
	VPOR    Y9, Y7, Y7 \
	Q6K_PRODUCT(Y7, 1, 36+128*h) \
	VPSRLW  $4, Y4, Y7 /* g=2: high nibbles of ql[0:32] */ \
	VPAND   Y13, Y7, Y7 \
	VPAND   Y12, Y6, Y9 /* qh bits 4-5 */ \
	VPOR    Y9, Y7, Y7 \
	Q6K_PRODUCT(Y7, 2, 68+128*h) \
	VPSRLW  $4, Y5, Y7 /* g=3: high nibbles of ql[32:64] */ \
	VPAND   Y13, Y7, Y7 \
	VPSRLW  $2, Y6, Y9 \
	VPAND   Y12, Y9, Y9 /* qh bits 6-7 */ \
	VPOR    Y9, Y7, Y7 \
	Q6K_PRODUCT(Y7, 3, 100+128*h)

TEXT ·dotQ6KAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ out+32(FP), R11
	MOVQ rows+40(FP), R12
	BYTES(0x0f0f0f0f, Y13)
	BYTES(0x30303030, Y12)

q6kRow:
	MOVQ   SI, DI
	MOVQ   a+16(FP), BX
	MOVQ   nb+24(FP), CX
	VXORPS Y8, Y8, Y8

q6kBlock:
	VPMOVSXBW 192(DI), Y1        // scales 0-15, int16
	VPMADDWD  260(BX), Y1, Y2    // sc*bsum in pairs
	VPXOR     Y0, Y0, Y0

	VPERMQ $0x44, Y1, Y3         // scales of half 0 in both lanes
	Q6K_HALF(0)
	VPERMQ $0xee, Y1, Y3         // scales of half 1
	Q6K_HALF(1)

	VPSLLD       $5, Y2, Y2
	VPSUBD       Y2, Y0, Y0      // subtract 32 * sum sc*bsum
	VCVTDQ2PS    Y0, Y0
	MOVWLZX      208(DI), AX
	VMOVD        AX, X3
	VCVTPH2PS    X3, X3          // d
	VMULSS       (BX), X3, X3    // d*yd
	VBROADCASTSS X3, Y3
	VFMADD231PS  Y3, Y0, Y8

	ADDQ $210, DI
	ADDQ $292, BX
	DECQ CX
	JNZ  q6kBlock

	HSUMF(Y8, X8, X3)
	VMOVSS X8, (R11)
	ADDQ   $4, R11
	ADDQ   wStride+8(FP), SI
	DECQ   R12
	JNZ    q6kRow
	VZEROUPPER
	RET

// Q6_K x Q8_K for four activation rows at once, as dotQ4KX4AVX2 for Q4_K:
// each group of 32 weights is assembled from ql and qh once and
// multiplied with the four activation rows' blocks, aStride bytes apart.
// Per row the arithmetic is that of dotQ6KAVX2, in the same order.
//
//	func dotQ6KX4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
//
// General registers as in dotQ4KX4AVX2 (R13 aStride, R10 3*aStride).
//
// Vector registers:
//	Y0, Y2, Y3, Y9    int32 lanes of sum sc*(q.a) of activation rows 0-3
//	Y8, Y10, Y11, Y14 float lanes of the sums of activation rows 0-3
//	Y1   one half's 8 scales, int16, in both lanes
//	Y4   a group's 32 weights    Y5  their scales; then all 16 scales
//	Y6   qh of the half; then d (broadcast)
//	Y7   temporary
//	Y13  0x0f in every byte      Y12 0x30 in every byte

// Q6KX4_ROWS(g, yoff): the group in Y4 (scales from Y1 by pairShuf g)
// times the four activation rows' values at yoff.
#define Q6KX4_ROWS(g, yoff) \
	VPSHUFB    pairShuf<>+(32*g)(SB), Y1, Y5 \
	VPMADDUBSW yoff(BX), Y4, Y7 \
	VPMADDWD   Y5, Y7, Y7 \
	VPADDD     Y7, Y0, Y0 \
	VPMADDUBSW yoff(BX)(R13*1), Y4, Y7 \
	VPMADDWD   Y5, Y7, Y7 \
	VPADDD     Y7, Y2, Y2 \
	VPMADDUBSW yoff(BX)(R13*2), Y4, Y7 \
	VPMADDWD   Y5, Y7, Y7 \
	VPADDD     Y7, Y3, Y3 \
	VPMADDUBSW yoff(BX)(R10*1), Y4, Y7 \
	VPMADDWD   Y5, Y7, Y7 \
	VPADDD     Y7, Y9, Y9

// Q6KX4_HALF(h): the 128 values of half h, as in Q6K_HALF.
#define Q6KX4_HALF(h) \
	VPMOVSXBW   (192+8*h)(DI), X1 \
	VPERMQ      $0x44, Y1, Y1 \
	VMOVDQU     (128+32*h)(DI), Y6 \
	VPAND       (64*h)(DI), Y13, Y4 \
	VPSLLW      $4, Y6, Y7 \
	VPAND       Y12, Y7, Y7 \
	VPOR        Y7, Y4, Y4 \
	Q6KX4_ROWS(0, (4+128*h)) \
	VPAND       (64*h+32)(DI), Y13, Y4 \
	VPSLLW      $2, Y6, Y7 \
	VPAND       Y12, Y7, Y7 \
	VPOR        Y7, Y4, Y4 \
	Q6KX4_ROWS(1, (36+128*h)) \
	VMOVDQU     (64*h)(DI), Y4 \
	VPSRLW      $4, Y4, Y4 \
	VPAND       Y13, Y4, Y4 \
	VPAND       Y12, Y6, Y7 \
	VPOR        Y7, Y4, Y4 \
	Q6KX4_ROWS(2, (68+128*h)) \
	VMOVDQU     (64*h+32)(DI), Y4 \
	VPSRLW      $4, Y4, Y4 \
	VPAND       Y13, Y4, Y4 \
	VPSRLW      $2, Y6, Y7 \
	VPAND       Y12, Y7, Y7 \
	VPOR        Y7, Y4, Y4 \
	Q6KX4_ROWS(3, (100+128*h))

// Q6KX4_FINISH(A, F, base): F += d*yd*isum for the activation block at
// base, with A holding the lanes of sum sc*(q.a), Y5 the 16 scales and
// Y6 d.
#define Q6KX4_FINISH(A, F, base) \
	VPMADDWD     260 base, Y5, Y7 \
	VPSLLD       $5, Y7, Y7 \
	VPSUBD       Y7, A, A \
	VCVTDQ2PS    A, A \
	VBROADCASTSS base, Y7 \
	VMULPS       Y7, Y6, Y7 \
	VFMADD231PS  Y7, A, F

TEXT ·dotQ6KX4AVX2(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), R12
	MOVQ aStride+32(FP), R13
	LEAQ (R13)(R13*2), R10
	MOVQ out+48(FP), R11
	BYTES(0x0f0f0f0f, Y13)
	BYTES(0x30303030, Y12)

q6kx4Row:
	MOVQ   SI, DI
	MOVQ   a+24(FP), BX
	MOVQ   nb+40(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y14, Y14, Y14

q6kx4Block:
	VPXOR Y0, Y0, Y0
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y9, Y9, Y9
	Q6KX4_HALF(0)
	Q6KX4_HALF(1)

	VPMOVSXBW    192(DI), Y5     // scales 0-15, int16
	MOVWLZX      208(DI), AX
	VMOVD        AX, X6
	VCVTPH2PS    X6, X6
	VBROADCASTSS X6, Y6          // d
	Q6KX4_FINISH(Y0, Y8, (BX))
	Q6KX4_FINISH(Y2, Y10, (BX)(R13*1))
	Q6KX4_FINISH(Y3, Y11, (BX)(R13*2))
	Q6KX4_FINISH(Y9, Y14, (BX)(R10*1))

	ADDQ $210, DI
	ADDQ $292, BX
	DECQ CX
	JNZ  q6kx4Block

	MOVQ outStride+56(FP), R8
	SHLQ $2, R8                  // bytes between output rows
	LEAQ (R8)(R8*2), R9
	HSUMF(Y8, X8, X4)
	VMOVSS X8, (R11)
	HSUMF(Y10, X10, X4)
	VMOVSS X10, (R11)(R8*1)
	HSUMF(Y11, X11, X4)
	VMOVSS X11, (R11)(R8*2)
	HSUMF(Y14, X14, X4)
	VMOVSS X14, (R11)(R9*1)
	ADDQ   $4, R11
	ADDQ   wStride+8(FP), SI
	DECQ   R12
	JNZ    q6kx4Row
	VZEROUPPER
	RET

// ---------------------------------------------------------------------
// The 32-value block types against Q8_0 activations (34 bytes: fp16 d,
// 32 int8). Each block's weights are brought to 32 int8 values w, and
//	isum = w . a     (VPSIGNB makes |w| unsigned and moves w's sign to a)
//	sum += dw*da*float32(isum)   (in eight lanes, see below)
// VPMADDUBSW pair sums are at most 2*128*127 = 32512 (|w| <= 128 for
// Q8_0, whose weight bytes may be -128; activations are within +-127).
//
// As in ggml's AVX2 kernels (ggml_vec_dot_q8_0_q8_0 and the others, and
// llamafile's tinyBLAS_Q0_AVX for batches), each block's eight int32 lane
// sums (values 4m..4m+3 in lane m) are converted to float and multiplied
// by dw*da into eight float lanes with FMA, and the lanes are added
// pairwise once per row; the pure-Go kernels add one block sum at a time,
// so the two differ by float32 rounding only.
//
// Vector registers:
//	Y0 int32 lanes of the block       Y8 the row's float lanes
//	Y4-Y7 temporaries                 Y11 0x0001 in every int16
//	Y9, Y10, Y12, Y13 per-type constants

// Q8DOT(W, A, D) sets D to the int32 sums of w . a over each 4 values for
// the 32 int8 weights in W and the activation block at A (address
// operand), using Y7. W is destroyed.
#define Q8DOT(W, A, D) \
	VMOVDQU    A, Y7 \
	VPSIGNB    W, Y7, Y7 \
	VPSIGNB    W, W, W \
	VPMADDUBSW Y7, W, W \
	VPMADDWD   Y11, W, D

// Q8SCALE(WD, AD, Y) sets every lane of Y to the float32 product of the
// fp16 scales at WD and AD (address operands), using X6.
#define Q8SCALE(WD, AD, Y) \
	VPXOR        X6, X6, X6 \
	VPINSRW      $0, WD, X6, X6 \
	VPINSRW      $1, AD, X6, X6 \
	VCVTPH2PS    X6, X6 \
	VMOVSHDUP    X6, X7 \
	VMULSS       X7, X6, X6 \
	VBROADCASTSS X6, Y

// Q32BODY(wlen, LOADW) is the row and block loop of a 32-value type with
// wlen-byte blocks: LOADW(off, Y) loads the 32 int8 weights of the block
// at off(DI) into Y (it may use Y6 and Y7). The kernel's arguments must be
// in registers and its constants loaded before it:
//	R13 a    R9 nb    R10 wStride
#define Q32BODY(wlen, LOADW) \
	MOVL $0x00010001, AX \
	VMOVD AX, X0 \
	VPBROADCASTD X0, Y11 \
row: \
	MOVQ   SI, DI \
	MOVQ   R13, BX \
	MOVQ   R9, CX \
	VXORPS Y8, Y8, Y8 \
block: \
	LOADW(0, Y4) \
	Q8DOT(Y4, 2(BX), Y0) \
	VCVTDQ2PS Y0, Y0 \
	Q8SCALE((DI), (BX), Y5) \
	VFMADD231PS Y5, Y0, Y8 \
	ADDQ $wlen, DI \
	ADDQ $34, BX \
	DECQ CX \
	JNZ  block \
	HSUMF(Y8, X8, X1) \
	VMOVSS X8, (R11) \
	ADDQ   $4, R11 \
	ADDQ   R10, SI \
	DECQ   R12 \
	JNZ    row \
	VZEROUPPER \
	RET

// Q32X4_ROW(base, F, D) adds the block at DI times the activation block
// at base (an address operand) to the float lanes F, as Q8DOT would: the
// weights are in Y4, their absolute values in Y5, the block's dw*da at D.
#define Q32X4_ROW(base, F, D) \
	VMOVDQU      2 base, Y7 \
	VPSIGNB      Y4, Y7, Y7 \
	VPMADDUBSW   Y7, Y5, Y0 \
	VPMADDWD     Y11, Y0, Y0 \
	VCVTDQ2PS    Y0, Y0 \
	VBROADCASTSS D, Y14 \
	VFMADD231PS  Y14, Y0, F

// Q32X4BODY(wlen, LOADW) is Q32BODY for four activation rows (aStride
// bytes apart) at once: each weight block is loaded once, and each row's
// lanes (Y1, Y2, Y3, Y8) get exactly the operations Q32BODY would give
// them. Registers: R13 aStride, R10 3*aStride; the four scales of a
// block go through 32 bytes of stack.
#define Q32X4BODY(wlen, LOADW) \
	MOVL $0x00010001, AX \
	VMOVD AX, X0 \
	VPBROADCASTD X0, Y11 \
row: \
	MOVQ   SI, DI \
	MOVQ   a+24(FP), BX \
	MOVQ   nb+40(FP), CX \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y8, Y8, Y8 \
block: \
	LOADW(0, Y4) \
	VPXOR        X6, X6, X6 \
	VPINSRW      $0, (DI), X6, X6 \
	VPINSRW      $1, (BX), X6, X6 \
	VPINSRW      $2, (BX)(R13*1), X6, X6 \
	VPINSRW      $3, (BX)(R13*2), X6, X6 \
	VPINSRW      $4, (BX)(R10*1), X6, X6 \
	VCVTPH2PS    X6, Y6 /* dw, da0-da3 */ \
	VBROADCASTSS X6, Y7 \
	VMULPS       Y6, Y7, Y7 \
	VMOVUPS      Y7, d-32(SP) /* dw*da of rows 0-3 at d+4 ... d+16 */ \
	VPSIGNB      Y4, Y4, Y5 \
	Q32X4_ROW((BX), Y1, d0-28(SP)) \
	Q32X4_ROW((BX)(R13*1), Y2, d1-24(SP)) \
	Q32X4_ROW((BX)(R13*2), Y3, d2-20(SP)) \
	Q32X4_ROW((BX)(R10*1), Y8, d3-16(SP)) \
	ADDQ $wlen, DI \
	ADDQ $34, BX \
	DECQ CX \
	JNZ  block \
	MOVQ outStride+56(FP), R8 \
	SHLQ $2, R8 \
	LEAQ (R8)(R8*2), R9 \
	HSUMF(Y1, X1, X4) \
	VMOVSS X1, (R11) \
	HSUMF(Y2, X2, X4) \
	VMOVSS X2, (R11)(R8*1) \
	HSUMF(Y3, X3, X4) \
	VMOVSS X3, (R11)(R8*2) \
	HSUMF(Y8, X8, X4) \
	VMOVSS X8, (R11)(R9*1) \
	ADDQ   $4, R11 \
	ADDQ   wStride+8(FP), SI \
	DECQ   R12 \
	JNZ    row \
	VZEROUPPER \
	RET

// Q32X4ARGS loads the four-row kernels' arguments:
//	func(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)
#define Q32X4ARGS \
	MOVQ w+0(FP), SI \
	MOVQ rows+16(FP), R12 \
	MOVQ aStride+32(FP), R13 \
	LEAQ (R13)(R13*2), R10 \
	MOVQ out+48(FP), R11

// Q8_0 (34 bytes: fp16 d, 32 int8).
#define LOADQ8_0(off, Y) VMOVDQU (off+2)(DI), Y

TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ wStride+8(FP), R10
	MOVQ a+16(FP), R13
	MOVQ nb+24(FP), R9
	MOVQ out+32(FP), R11
	MOVQ rows+40(FP), R12
	Q32BODY(34, LOADQ8_0)

TEXT ·dotQ8_0X4AVX2(SB), NOSPLIT, $32-64
	Q32X4ARGS
	Q32X4BODY(34, LOADQ8_0)

// Q4_0 (18 bytes: fp16 d, 16 bytes of nibbles; value j is the low nibble
// of byte j, value j+16 the high one; minus 8). Y13 = 0x0f, Y12 = 0x08.
#define LOADQ4_0(off, Y) \
	VBROADCASTI128 (off+2)(DI), Y \
	VPSRLVD        nibShift<>(SB), Y, Y \
	VPAND          Y13, Y, Y \
	VPSUBB         Y12, Y, Y

TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ wStride+8(FP), R10
	MOVQ a+16(FP), R13
	MOVQ nb+24(FP), R9
	MOVQ out+32(FP), R11
	MOVQ rows+40(FP), R12
	BYTES(0x0f0f0f0f, Y13)
	BYTES(0x08080808, Y12)
	Q32BODY(18, LOADQ4_0)

TEXT ·dotQ4_0X4AVX2(SB), NOSPLIT, $32-64
	Q32X4ARGS
	BYTES(0x0f0f0f0f, Y13)
	BYTES(0x08080808, Y12)
	Q32X4BODY(18, LOADQ4_0)

// Q5_0 (22 bytes: fp16 d, 32 bits qh, 16 bytes of nibbles as Q4_0; bit j
// of qh is the fifth bit of value j; minus 16). A value whose fifth bit is
// clear gets 0xf0 OR-ed in, which as int8 is nibble - 16; one whose bit is
// set is the nibble itself (nibble + 16 - 16).
//	Y13 0x0f    Y12 0xf0
//	Y10 bitBytes shuffle    Y9 bitBytes bit mask
#define LOADQ5_0(off, Y) \
	VBROADCASTI128 (off+6)(DI), Y \
	VPSRLVD        nibShift<>(SB), Y, Y \
	VPAND          Y13, Y, Y /* nibbles of values 0-31 */ \
	VPBROADCASTD   (off+2)(DI), Y6 \
	VPSHUFB        Y10, Y6, Y6 /* byte j: qh byte j/8 */ \
	VPAND          Y9, Y6, Y6 \
	VPCMPEQB       Y9, Y6, Y6 /* byte j: 0xff if bit j of qh is set */ \
	VPANDN         Y12, Y6, Y6 /* 0xf0 where it is clear */ \
	VPOR           Y6, Y, Y

TEXT ·dotQ5_0X4AVX2(SB), NOSPLIT, $32-64
	Q32X4ARGS
	BYTES(0x0f0f0f0f, Y13)
	BYTES(0xf0f0f0f0, Y12)
	VMOVDQU bitBytes<>(SB), Y10
	VMOVDQU bitBytes<>+32(SB), Y9
	Q32X4BODY(22, LOADQ5_0)

TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ wStride+8(FP), R10
	MOVQ a+16(FP), R13
	MOVQ nb+24(FP), R9
	MOVQ out+32(FP), R11
	MOVQ rows+40(FP), R12
	BYTES(0x0f0f0f0f, Y13)
	BYTES(0xf0f0f0f0, Y12)
	VMOVDQU  bitBytes<>(SB), Y10
	VMOVDQU  bitBytes<>+32(SB), Y9
	Q32BODY(22, LOADQ5_0)

// ---------------------------------------------------------------------
// F32, F16 and BF16: nb values, summed in the orders of SumOrder (see
// dot_float.go). A product of two halves or two bfloat16 is exact in
// float32, so their FMAs round exactly as ggml's do; F32 products round
// inside the FMA, also as in ggml. An AVX-512 register of 16 lanes is a
// pair of Y registers here.
//
// Vec kernels: 64 lanes in Y0-Y7 (lane i of the 64 is lane i%8 of
// Y(i/8)), summed pairwise: Y0-3 += Y4-7, Y0-1 += Y2-3, Y0 += Y1, then
// HSUMF. The n%64 values left are added one by one to X10 (float32 for
// F32, float64 for F16).
// Gemm kernels: 16 lanes in Y0-Y1; nb is a multiple of 16.
// BF16 kernels: Y14 holds the mask of the odd (high) halves of each
// 32-bit pair; each lane adds the odd product, then the even one.

// FMA8(LOAD, off, Y) adds the products of the 8 values at off(DI) and
// off(BX) to the lanes of Y.
#define FMA8(LOAD, off, Y) \
	LOAD(off, DI, Y8) \
	LOAD(off, BX, Y9) \
	VFMADD231PS Y9, Y8, Y

// VEC64(LOAD, size) accumulates the 64 values at DI and BX (size bytes
// per 8 values) into Y0-Y7.
#define VEC64(LOAD, size) \
	FMA8(LOAD, 0*size, Y0) \
	FMA8(LOAD, 1*size, Y1) \
	FMA8(LOAD, 2*size, Y2) \
	FMA8(LOAD, 3*size, Y3) \
	FMA8(LOAD, 4*size, Y4) \
	FMA8(LOAD, 5*size, Y5) \
	FMA8(LOAD, 6*size, Y6) \
	FMA8(LOAD, 7*size, Y7)

// SUM64 reduces Y0-Y7 pairwise into lane 0 of X0.
#define SUM64 \
	VADDPS Y4, Y0, Y0 \
	VADDPS Y5, Y1, Y1 \
	VADDPS Y6, Y2, Y2 \
	VADDPS Y7, Y3, Y3 \
	VADDPS Y2, Y0, Y0 \
	VADDPS Y3, Y1, Y1 \
	VADDPS Y1, Y0, Y0 \
	HSUMF(Y0, X0, X1)

#define ZERO8 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7

// WIDE_TERM(loop) adds the product of the float32 values in X8 and X9 to
// the float64 sum in X10, steps to the next pair and jumps to loop.
#define WIDE_TERM(loop) \
	VMULSS    X9, X8, X8   \
	VCVTSS2SD X8, X8, X8   \
	VADDSD    X8, X10, X10 \
	ADDQ      $2, DI       \
	ADDQ      $2, BX       \
	DECQ      CX           \
	JMP       loop

#define LOADF32(off, R, Y) VMOVUPS off(R), Y
#define LOADF16(off, R, Y) VCVTPH2PS off(R), Y

// ROW_START and ROW_END bracket each kernel's per-row loop.
#define ROW_START \
	MOVQ SI, DI \
	MOVQ a+16(FP), BX \
	MOVQ nb+24(FP), CX

#define ROW_END(label) \
	VMOVSS X0, (R11) \
	ADDQ   $4, R11 \
	ADDQ   wStride+8(FP), SI \
	DECQ   R12 \
	JNZ    label \
	VZEROUPPER \
	RET

#define ARGS \
	MOVQ w+0(FP), SI \
	MOVQ out+32(FP), R11 \
	MOVQ rows+40(FP), R12

TEXT ·dotF32VecAVX2(SB), NOSPLIT, $0-48
	ARGS
f32vRow:
	ROW_START
	ZERO8
f32v64:
	CMPQ CX, $64
	JB   f32vTail
	VEC64(LOADF32, 32)
	ADDQ $256, DI
	ADDQ $256, BX
	SUBQ $64, CX
	JMP  f32v64
f32vTail:
	SUM64
f32vOne:
	TESTQ  CX, CX
	JZ     f32vDone
	VMOVSS (DI), X8
	VMULSS (BX), X8, X8
	VADDSS X8, X0, X0
	ADDQ   $4, DI
	ADDQ   $4, BX
	DECQ   CX
	JMP    f32vOne
f32vDone:
	ROW_END(f32vRow)

TEXT ·dotF16VecAVX2(SB), NOSPLIT, $0-48
	ARGS
f16vRow:
	ROW_START
	ZERO8
f16v64:
	CMPQ CX, $64
	JB   f16vTail
	VEC64(LOADF16, 16)
	ADDQ $128, DI
	ADDQ $128, BX
	SUBQ $64, CX
	JMP  f16v64
f16vTail:
	SUM64
	VCVTSS2SD X0, X0, X10
f16vOne:
	TESTQ     CX, CX
	JZ        f16vDone
	MOVWLZX   (DI), AX
	VMOVD     AX, X8
	VCVTPH2PS X8, X8
	MOVWLZX   (BX), AX
	VMOVD     AX, X9
	VCVTPH2PS X9, X9
	WIDE_TERM(f16vOne)
f16vDone:
	VCVTSD2SS X10, X10, X0
	ROW_END(f16vRow)

// GEMM16(LOAD, size) accumulates the 16 values at DI and BX (size bytes
// per 8 values) into Y0:Y1 and advances DI and BX past them.
#define GEMM16(LOAD, size) \
	FMA8(LOAD, 0, Y0)    \
	FMA8(LOAD, size, Y1) \
	ADDQ $(2*size), DI   \
	ADDQ $(2*size), BX

TEXT ·dotF32GemmAVX2(SB), NOSPLIT, $0-48
	ARGS
f32gRow:
	ROW_START
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
f32g16:
	GEMM16(LOADF32, 32)
	SUBQ   $16, CX
	JNZ    f32g16
	VADDPS Y1, Y0, Y0
	HSUMF(Y0, X0, X1)
	ROW_END(f32gRow)

TEXT ·dotF16GemmAVX2(SB), NOSPLIT, $0-48
	ARGS
f16gRow:
	ROW_START
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
f16g16:
	GEMM16(LOADF16, 16)
	SUBQ   $16, CX
	JNZ    f16g16
	VADDPS Y1, Y0, Y0
	HSUMF(Y0, X0, X1)
	ROW_END(f16gRow)

// BF16PAIRS(off, Y) adds the 16 bfloat16 products at off(DI), off(BX) to
// the 8 lanes of Y, odd value first.
#define BF16PAIRS(off, Y) \
	VMOVDQU     off(DI), Y8  \
	VMOVDQU     off(BX), Y9  \
	VPAND       Y14, Y8, Y10 \
	VPAND       Y14, Y9, Y11 \
	VFMADD231PS Y11, Y10, Y  \
	VPSLLD      $16, Y8, Y8  \
	VPSLLD      $16, Y9, Y9  \
	VFMADD231PS Y9, Y8, Y

#define BF16MASK \
	VPCMPEQD Y14, Y14, Y14 \
	VPSLLD   $16, Y14, Y14

// Vec: two 16-lane registers per 64 values, Y0:Y1 for values 0-31 and
// Y2:Y3 for 32-63, each reduced and the two added in float64.
TEXT ·dotBF16VecAVX2(SB), NOSPLIT, $0-48
	ARGS
	BF16MASK
bf16vRow:
	ROW_START
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
bf16v64:
	CMPQ CX, $64
	JB   bf16vTail
	BF16PAIRS(0, Y0)
	BF16PAIRS(32, Y1)
	BF16PAIRS(64, Y2)
	BF16PAIRS(96, Y3)
	ADDQ $128, DI
	ADDQ $128, BX
	SUBQ $64, CX
	JMP  bf16v64
bf16vTail:
	VADDPS    Y1, Y0, Y0
	VADDPS    Y3, Y2, Y2
	HSUMF(Y2, X2, X1)
	HSUMF(Y0, X0, X1)
	VCVTSS2SD X0, X0, X10
	VCVTSS2SD X2, X2, X2
	VADDSD    X2, X10, X10
bf16vOne:
	TESTQ     CX, CX
	JZ        bf16vDone
	MOVWLZX   (DI), AX
	SHLL      $16, AX
	VMOVD     AX, X8
	MOVWLZX   (BX), AX
	SHLL      $16, AX
	VMOVD     AX, X9
	WIDE_TERM(bf16vOne)
bf16vDone:
	VCVTSD2SS X10, X10, X0
	ROW_END(bf16vRow)

// Gemm: one 16-lane register (Y0:Y1) per 32 values; nb is a multiple of 32.
TEXT ·dotBF16GemmAVX2(SB), NOSPLIT, $0-48
	ARGS
	BF16MASK
bf16gRow:
	ROW_START
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
bf16g32:
	BF16PAIRS(0, Y0)
	BF16PAIRS(32, Y1)
	ADDQ   $64, DI
	ADDQ   $64, BX
	SUBQ   $32, CX
	JNZ    bf16g32
	VADDPS Y1, Y0, Y0
	HSUMF(Y0, X0, X1)
	ROW_END(bf16gRow)

// ---------------------------------------------------------------------
// func f32ToF16AVX2(dst *byte, src *float32, n int): n (a positive
// multiple of 8) float32 to IEEE halves, rounding to nearest even as
// ggml's F16C conversion does.
TEXT ·f32ToF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
f2hLoop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VMOVDQU   X1, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	SUBQ      $8, CX
	JNZ       f2hLoop
	VZEROUPPER
	RET

// ---------------------------------------------------------------------
// func expfAVX2(dst, src *float32, n int, k, sub float32): dst[i] =
// VecExpf(k*src[i] - sub) for n (a positive multiple of 8) values, lane for
// lane as the Go VecExpf (ggml's ggml_v_expf): the same FMAs, and j*2^n in
// float64 rounded once to float32.
DATA expfC<>+0(SB)/4, $0x3fb8aa3b  // log2(e)   0x1.715476p+0
DATA expfC<>+4(SB)/4, $0x4b400000  // shift     0x1.8p23
DATA expfC<>+8(SB)/4, $0x3f317200  // ln2 hi    0x1.62e4p-1
DATA expfC<>+12(SB)/4, $0x35bfbe8e // ln2 lo    0x1.7f7d1cp-20
DATA expfC<>+16(SB)/4, $0x3c072010 // 0x1.0e4020p-7
DATA expfC<>+20(SB)/4, $0x3d2b9f17 // 0x1.573e2ep-5
DATA expfC<>+24(SB)/4, $0x3e2aaf33 // 0x1.555e66p-3
DATA expfC<>+28(SB)/4, $0x3efffedb // 0x1.fffdb6p-2
DATA expfC<>+32(SB)/4, $0x3f7ffff6 // 0x1.ffffecp-1
DATA expfC<>+36(SB)/4, $0x3f800000 // 1
DATA expfC<>+40(SB)/4, $0x43400000 // 192
DATA expfC<>+44(SB)/4, $0x7fffffff // |x| mask
DATA expfC<>+48(SB)/4, $0x7f800000 // +Inf
DATA expfC<>+52(SB)/4, $0
DATA expfC<>+56(SB)/8, $1023
GLOBL expfC<>(SB), RODATA|NOPTR, $64

// EXPF_CONST(i, Y) broadcasts constant i of expfC to Y.
#define EXPF_CONST(i, Y) VBROADCASTSS expfC<>+(4*i)(SB), Y

TEXT ·expfAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS k+24(FP), Y10
	VBROADCASTSS sub+28(FP), Y11
	EXPF_CONST(1, Y12)
	VPBROADCASTQ expfC<>+56(SB), Y13
	EXPF_CONST(10, Y14)

expfLoop:
	VMOVUPS      (SI), Y0
	VMULPS       Y10, Y0, Y0 // x = k*src - sub
	VSUBPS       Y11, Y0, Y0
	VMOVAPS      Y12, Y1
	EXPF_CONST(0, Y2)
	VFMADD231PS  Y2, Y0, Y1 // z = x*log2e + shift
	VSUBPS       Y12, Y1, Y2 // n = z - shift
	VMOVAPS      Y0, Y3
	EXPF_CONST(2, Y4)
	VFNMADD231PS Y4, Y2, Y3 // b = x - n*ln2hi
	EXPF_CONST(3, Y4)
	VFNMADD231PS Y4, Y2, Y3 // b -= n*ln2lo
	VMULPS       Y3, Y3, Y4 // u = b*b
	EXPF_CONST(5, Y5)
	EXPF_CONST(4, Y6)
	VFMADD231PS  Y6, Y3, Y5 // A = b*c4 + c5
	EXPF_CONST(7, Y6)
	EXPF_CONST(6, Y7)
	VFMADD231PS  Y7, Y3, Y6 // B = b*c6 + c7
	VFMADD231PS  Y4, Y5, Y6 // C = A*u + B
	EXPF_CONST(9, Y7)
	EXPF_CONST(8, Y8)
	VFMADD231PS  Y8, Y3, Y7 // D = b*c8 + 1
	VFMADD231PS  Y4, Y6, Y7 // j = C*u + D

	// j * 2^n in float64, four lanes at a time.
	VCVTPS2DQ    Y2, Y8
	VPMOVSXDQ    X8, Y9
	VPADDQ       Y13, Y9, Y9
	VPSLLQ       $52, Y9, Y9
	VCVTPS2PD    X7, Y5
	VMULPD       Y9, Y5, Y5
	VCVTPD2PSY   Y5, X5
	VEXTRACTI128 $1, Y8, X8
	VPMOVSXDQ    X8, Y9
	VPADDQ       Y13, Y9, Y9
	VPSLLQ       $52, Y9, Y9
	VEXTRACTF128 $1, Y7, X6
	VCVTPS2PD    X6, Y6
	VMULPD       Y9, Y6, Y6
	VCVTPD2PSY   Y6, X6
	VINSERTF128  $1, X6, Y5, Y5

	// |n| > 192: 0 if n <= 0, else +Inf.
	EXPF_CONST(11, Y6)
	VANDPS       Y6, Y2, Y6
	VCMPPS       $0x1e, Y14, Y6, Y6 // |n| > 192 (ordered)
	VXORPS       Y7, Y7, Y7
	VCMPPS       $0x12, Y7, Y2, Y7  // n <= 0 (ordered)
	EXPF_CONST(12, Y8)
	VANDNPS      Y8, Y7, Y7         // alt = n <= 0 ? 0 : +Inf
	VBLENDVPS    Y6, Y7, Y5, Y5     // res = big ? alt : res
	VMOVUPS      Y5, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	SUBQ         $8, CX
	JNZ          expfLoop
	VZEROUPPER
	RET

// func scaleF32AVX2(x *float32, n int, s float32): x[i] *= s for n (a
// positive multiple of 8) values.
TEXT ·scaleF32AVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS s+16(FP), Y1

scaleLoop:
	VMULPS  (DI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     scaleLoop
	VZEROUPPER
	RET

// func madF32AVX2(y, x *float32, n int, a float32): y[i] = x[i]*a + y[i],
// rounded once (an FMA), for n (a positive multiple of 8) values.
TEXT ·madF32AVX2(SB), NOSPLIT, $0-28
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS a+24(FP), Y1

madLoop:
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y1, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	SUBQ        $8, CX
	JNZ         madLoop
	VZEROUPPER
	RET
