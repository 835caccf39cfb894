//go:build amd64 && !purego

#include "textflag.h"

// Flash attention's value accumulation over a run of positions, one strip
// of a head's dimensions held in registers: for each position t, if
// ms[t] != 1 the accumulator is scaled by ms[t] (a new maximum score),
// then acc = fma(v_t, vs[t], acc). Every kernel is
// func(acc, v *T, vStride, n int, ms, vs *float32): acc the strip's
// accumulator, v the first position's strip, vStride the bytes from one
// position's strip to the next, n >= 1 positions, ms and vs n float32 each.
//
// The F16 kernels keep the accumulator as ggml's F16C vector ops keep it in
// memory: every step widens the halves to float32, computes in float32 and
// rounds back to a half (to nearest even); here the rounding is a round
// trip through a half register. The quantized kernels decode each value
// block as ggml's to_float does, q·d with d a half widened exactly (a
// product exact in float32), and add it as the F32 kernels do.

DATA flashConst<>+0(SB)/4, $0x3f800000 // 1.0
DATA flashConst<>+4(SB)/4, $0x0f       // q4_0's low nibble
DATA flashConst<>+8(SB)/4, $8          // q4_0's zero point
GLOBL flashConst<>(SB), RODATA|NOPTR, $12

// FLASH_KERNEL(name, LOAD, MAD, STORE, SCALE) is a kernel: LOAD moves the
// accumulator at DI to registers and STORE back; MAD adds the values at SI
// times vs (broadcast in Y12); SCALE multiplies the accumulator by ms
// (in X12). BX indexes ms and vs.
#define FLASH_KERNEL(name, LOAD, MAD, STORE, SCALE) \
TEXT name(SB), NOSPLIT, $0-48               \
	MOVQ         acc+0(FP), DI              \
	MOVQ         v+8(FP), SI                \
	MOVQ         vStride+16(FP), DX         \
	MOVQ         n+24(FP), CX               \
	MOVQ         ms+32(FP), R8              \
	MOVQ         vs+40(FP), R9              \
	XORQ         BX, BX                     \
	LOAD                                    \
top:                                            \
	VMOVSS       (R8)(BX*4), X12            \
	VUCOMISS     flashConst<>+0(SB), X12    \
	JNE          scale                      \
	JP           scale                      \
mad:                                            \
	VBROADCASTSS (R9)(BX*4), Y12            \
	MAD                                     \
	ADDQ         DX, SI                     \
	INCQ         BX                         \
	CMPQ         BX, CX                     \
	JLT          top                        \
	STORE                                   \
	VZEROUPPER                              \
	RET                                     \
scale:                                          \
	VBROADCASTSS X12, Y12                   \
	SCALE                                   \
	JMP          mad

// MUL4 multiplies A-D by Y12.
#define MUL4(A, B, C, D) \
	VMULPS Y12, A, A \
	VMULPS Y12, B, B \
	VMULPS Y12, C, C \
	VMULPS Y12, D, D

#define MUL8 \
	MUL4(Y0, Y1, Y2, Y3) \
	MUL4(Y4, Y5, Y6, Y7)

// F16RT rounds the float32 lanes of Y to halves and widens them back.
#define F16RT(Y, X) \
	VCVTPS2PH $0, Y, X \
	VCVTPH2PS X, Y

#define F16RT4(A, B, C, D, XA, XB, XC, XD) \
	F16RT(A, XA) \
	F16RT(B, XB) \
	F16RT(C, XC) \
	F16RT(D, XD)

#define F16RT8 \
	F16RT4(Y0, Y1, Y2, Y3, X0, X1, X2, X3) \
	F16RT4(Y4, Y5, Y6, Y7, X4, X5, X6, X7)

// The F16 kernels: 64 halves in Y0-Y7, or 8 in Y0.

#define LOAD_F16x64 \
	VCVTPH2PS 0(DI), Y0   \
	VCVTPH2PS 16(DI), Y1  \
	VCVTPH2PS 32(DI), Y2  \
	VCVTPH2PS 48(DI), Y3  \
	VCVTPH2PS 64(DI), Y4  \
	VCVTPH2PS 80(DI), Y5  \
	VCVTPH2PS 96(DI), Y6  \
	VCVTPH2PS 112(DI), Y7

#define STORE_F16x64 \
	VCVTPS2PH $0, Y0, 0(DI)   \
	VCVTPS2PH $0, Y1, 16(DI)  \
	VCVTPS2PH $0, Y2, 32(DI)  \
	VCVTPS2PH $0, Y3, 48(DI)  \
	VCVTPS2PH $0, Y4, 64(DI)  \
	VCVTPS2PH $0, Y5, 80(DI)  \
	VCVTPS2PH $0, Y6, 96(DI)  \
	VCVTPS2PH $0, Y7, 112(DI)

// MAD_F16x32(off, A-D, XA-XD) adds the 32 halves at off(SI).
#define MAD_F16x32(off, A, B, C, D, XA, XB, XC, XD) \
	VCVTPH2PS   off+0(SI), Y8  \
	VCVTPH2PS   off+16(SI), Y9 \
	VCVTPH2PS   off+32(SI), Y10 \
	VCVTPH2PS   off+48(SI), Y11 \
	VFMADD231PS Y8, Y12, A     \
	VFMADD231PS Y9, Y12, B     \
	VFMADD231PS Y10, Y12, C    \
	VFMADD231PS Y11, Y12, D    \
	F16RT4(A, B, C, D, XA, XB, XC, XD)

#define MAD_F16x64 \
	MAD_F16x32(0, Y0, Y1, Y2, Y3, X0, X1, X2, X3) \
	MAD_F16x32(64, Y4, Y5, Y6, Y7, X4, X5, X6, X7)

#define SCALE_F16x64 \
	MUL8 \
	F16RT8

#define LOAD_F16x8 VCVTPH2PS (DI), Y0
#define STORE_F16x8 VCVTPS2PH $0, Y0, (DI)

#define MAD_F16x8 \
	VCVTPH2PS   (SI), Y8   \
	VFMADD231PS Y8, Y12, Y0 \
	F16RT(Y0, X0)

#define SCALE_F16x8 \
	VMULPS Y12, Y0, Y0 \
	F16RT(Y0, X0)

FLASH_KERNEL(·flashF16AVX2, LOAD_F16x64, MAD_F16x64, STORE_F16x64, SCALE_F16x64)
FLASH_KERNEL(·flashF16x8AVX2, LOAD_F16x8, MAD_F16x8, STORE_F16x8, SCALE_F16x8)

// The float32 accumulators: 64 values in Y0-Y7, 32 in Y0-Y3 or 8 in Y0.

#define LOAD_F32x32 \
	VMOVUPS 0(DI), Y0  \
	VMOVUPS 32(DI), Y1 \
	VMOVUPS 64(DI), Y2 \
	VMOVUPS 96(DI), Y3

#define LOAD_F32x64 \
	LOAD_F32x32         \
	VMOVUPS 128(DI), Y4 \
	VMOVUPS 160(DI), Y5 \
	VMOVUPS 192(DI), Y6 \
	VMOVUPS 224(DI), Y7

#define STORE_F32x32 \
	VMOVUPS Y0, 0(DI)  \
	VMOVUPS Y1, 32(DI) \
	VMOVUPS Y2, 64(DI) \
	VMOVUPS Y3, 96(DI)

#define STORE_F32x64 \
	STORE_F32x32        \
	VMOVUPS Y4, 128(DI) \
	VMOVUPS Y5, 160(DI) \
	VMOVUPS Y6, 192(DI) \
	VMOVUPS Y7, 224(DI)

#define SCALE_F32x32 MUL4(Y0, Y1, Y2, Y3)

#define MAD_F32x64 \
	VFMADD231PS 0(SI), Y12, Y0   \
	VFMADD231PS 32(SI), Y12, Y1  \
	VFMADD231PS 64(SI), Y12, Y2  \
	VFMADD231PS 96(SI), Y12, Y3  \
	VFMADD231PS 128(SI), Y12, Y4 \
	VFMADD231PS 160(SI), Y12, Y5 \
	VFMADD231PS 192(SI), Y12, Y6 \
	VFMADD231PS 224(SI), Y12, Y7

#define LOAD_F32x8 VMOVUPS (DI), Y0
#define STORE_F32x8 VMOVUPS Y0, (DI)
#define MAD_F32x8 VFMADD231PS (SI), Y12, Y0
#define SCALE_F32x8 VMULPS Y12, Y0, Y0

FLASH_KERNEL(·flashF32AVX2, LOAD_F32x64, MAD_F32x64, STORE_F32x64, MUL8)
FLASH_KERNEL(·flashF32x8AVX2, LOAD_F32x8, MAD_F32x8, STORE_F32x8, SCALE_F32x8)

// SCALED_MAD(A-D) converts the integers in Y8-Y11 to float32, multiplies
// them by d (Y14) and adds them, times vs, to A-D.
#define SCALED_MAD(A, B, C, D) \
	VCVTDQ2PS   Y8, Y8        \
	VCVTDQ2PS   Y9, Y9        \
	VCVTDQ2PS   Y10, Y10      \
	VCVTDQ2PS   Y11, Y11      \
	VMULPS      Y14, Y8, Y8   \
	VMULPS      Y14, Y9, Y9   \
	VMULPS      Y14, Y10, Y10 \
	VMULPS      Y14, Y11, Y11 \
	VFMADD231PS Y8, Y12, A    \
	VFMADD231PS Y9, Y12, B    \
	VFMADD231PS Y10, Y12, C   \
	VFMADD231PS Y11, Y12, D

// Q8_0_MAD(off, A-D) adds the block_q8_0 {d half; qs[32] int8} at off(SI).
#define Q8_0_MAD(off, A, B, C, D) \
	VPBROADCASTW off(SI), X14    \
	VCVTPH2PS    X14, Y14        \
	VPMOVSXBD    off+2(SI), Y8   \
	VPMOVSXBD    off+10(SI), Y9  \
	VPMOVSXBD    off+18(SI), Y10 \
	VPMOVSXBD    off+26(SI), Y11 \
	SCALED_MAD(A, B, C, D)

// Q4_0_MAD(off, A-D) adds the block_q4_0 {d half; qs[16]} at off(SI):
// value j is (qs[j]&15 - 8)*d, value j+16 (qs[j]>>4 - 8)*d.
#define Q4_0_MAD(off, A, B, C, D) \
	VPBROADCASTW off(SI), X14            \
	VCVTPH2PS    X14, Y14                \
	VPMOVZXBD    off+2(SI), Y8           \
	VPMOVZXBD    off+10(SI), Y9          \
	VPSRLD       $4, Y8, Y10             \
	VPSRLD       $4, Y9, Y11             \
	VPBROADCASTD flashConst<>+4(SB), Y15 \
	VPBROADCASTD flashConst<>+8(SB), Y13 \
	VPAND        Y15, Y8, Y8             \
	VPAND        Y15, Y9, Y9             \
	VPSUBD       Y13, Y8, Y8             \
	VPSUBD       Y13, Y9, Y9             \
	VPSUBD       Y13, Y10, Y10           \
	VPSUBD       Y13, Y11, Y11           \
	SCALED_MAD(A, B, C, D)

// Two blocks (64 values) or one (32).
#define MAD_Q8_0x64 \
	Q8_0_MAD(0, Y0, Y1, Y2, Y3) \
	Q8_0_MAD(34, Y4, Y5, Y6, Y7)

#define MAD_Q8_0x32 Q8_0_MAD(0, Y0, Y1, Y2, Y3)

#define MAD_Q4_0x64 \
	Q4_0_MAD(0, Y0, Y1, Y2, Y3) \
	Q4_0_MAD(18, Y4, Y5, Y6, Y7)

#define MAD_Q4_0x32 Q4_0_MAD(0, Y0, Y1, Y2, Y3)

FLASH_KERNEL(·flashQ8_0AVX2, LOAD_F32x64, MAD_Q8_0x64, STORE_F32x64, MUL8)
FLASH_KERNEL(·flashQ8_0x32AVX2, LOAD_F32x32, MAD_Q8_0x32, STORE_F32x32, SCALE_F32x32)
FLASH_KERNEL(·flashQ4_0AVX2, LOAD_F32x64, MAD_Q4_0x64, STORE_F32x64, MUL8)
FLASH_KERNEL(·flashQ4_0x32AVX2, LOAD_F32x32, MAD_Q4_0x32, STORE_F32x32, SCALE_F32x32)

// func tileScoresAVX2(scores, qT, k *float32, hd, n int): for each of n
// key rows (hd values at k), the scores of 64 query rows (qT: hd rows of
// 64, one per dimension), each lane its own row's sequence of FMAs over
// the dimensions: scores[i*64+r] = fma(qT[d*64+r], k[i*hd+d], ...).
TEXT ·tileScoresAVX2(SB), NOSPLIT, $0-40
	MOVQ scores+0(FP), DI
	MOVQ qT+8(FP), SI
	MOVQ k+16(FP), DX
	MOVQ hd+24(FP), R8
	MOVQ n+32(FP), CX

tilePos:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, R9
	MOVQ   DX, R11
	MOVQ   R8, R10

tileDim:
	VBROADCASTSS (R11), Y8
	VFMADD231PS  0(R9), Y8, Y0
	VFMADD231PS  32(R9), Y8, Y1
	VFMADD231PS  64(R9), Y8, Y2
	VFMADD231PS  96(R9), Y8, Y3
	VFMADD231PS  128(R9), Y8, Y4
	VFMADD231PS  160(R9), Y8, Y5
	VFMADD231PS  192(R9), Y8, Y6
	VFMADD231PS  224(R9), Y8, Y7
	ADDQ         $256, R9
	ADDQ         $4, R11
	DECQ         R10
	JNZ          tileDim
	VMOVUPS      Y0, 0(DI)
	VMOVUPS      Y1, 32(DI)
	VMOVUPS      Y2, 64(DI)
	VMOVUPS      Y3, 96(DI)
	VMOVUPS      Y4, 128(DI)
	VMOVUPS      Y5, 160(DI)
	VMOVUPS      Y6, 192(DI)
	VMOVUPS      Y7, 224(DI)
	ADDQ         $256, DI
	LEAQ         (DX)(R8*4), DX
	DECQ         CX
	JNZ          tilePos
	VZEROUPPER
	RET

// WIDEN_KERNEL(name, WIDEN) is func name(dst *float32, src *byte, n int):
// n (a positive multiple of 8) 16-bit values at src widened by WIDEN (from
// the 8 values at SI into Y0) to float32.
#define WIDEN_KERNEL(name, WIDEN) \
TEXT name(SB), NOSPLIT, $0-24 \
	MOVQ    dst+0(FP), DI     \
	MOVQ    src+8(FP), SI     \
	MOVQ    n+16(FP), CX      \
loop:                             \
	WIDEN                     \
	VMOVUPS Y0, (DI)          \
	ADDQ    $16, SI           \
	ADDQ    $32, DI           \
	SUBQ    $8, CX            \
	JNZ     loop              \
	VZEROUPPER                \
	RET

// IEEE halves; bfloat16 (the 16 bits shifted up).
#define WIDEN_F16 VCVTPH2PS (SI), Y0
#define WIDEN_BF16 \
	VPMOVZXWD (SI), Y0 \
	VPSLLD    $16, Y0, Y0

WIDEN_KERNEL(·decodeF16AVX2, WIDEN_F16)
WIDEN_KERNEL(·decodeBF16AVX2, WIDEN_BF16)

// The C library's expf (glibc's, as Expf computes it) on four lanes at a
// time in float64: x*32/ln2 = k + r, e^x = 2^(k/32) (a table entry plus k
// in the exponent) times a cubic in r, rounded once to float32.

// exp2fTable (see libm.go): 2^(i/32) minus i<<47.
DATA glibcExp2<>+0(SB)/8, $0x3ff0000000000000
DATA glibcExp2<>+8(SB)/8, $0x3fefd9b0d3158574
DATA glibcExp2<>+16(SB)/8, $0x3fefb5586cf9890f
DATA glibcExp2<>+24(SB)/8, $0x3fef9301d0125b51
DATA glibcExp2<>+32(SB)/8, $0x3fef72b83c7d517b
DATA glibcExp2<>+40(SB)/8, $0x3fef54873168b9aa
DATA glibcExp2<>+48(SB)/8, $0x3fef387a6e756238
DATA glibcExp2<>+56(SB)/8, $0x3fef1e9df51fdee1
DATA glibcExp2<>+64(SB)/8, $0x3fef06fe0a31b715
DATA glibcExp2<>+72(SB)/8, $0x3feef1a7373aa9cb
DATA glibcExp2<>+80(SB)/8, $0x3feedea64c123422
DATA glibcExp2<>+88(SB)/8, $0x3feece086061892d
DATA glibcExp2<>+96(SB)/8, $0x3feebfdad5362a27
DATA glibcExp2<>+104(SB)/8, $0x3feeb42b569d4f82
DATA glibcExp2<>+112(SB)/8, $0x3feeab07dd485429
DATA glibcExp2<>+120(SB)/8, $0x3feea47eb03a5585
DATA glibcExp2<>+128(SB)/8, $0x3feea09e667f3bcd
DATA glibcExp2<>+136(SB)/8, $0x3fee9f75e8ec5f74
DATA glibcExp2<>+144(SB)/8, $0x3feea11473eb0187
DATA glibcExp2<>+152(SB)/8, $0x3feea589994cce13
DATA glibcExp2<>+160(SB)/8, $0x3feeace5422aa0db
DATA glibcExp2<>+168(SB)/8, $0x3feeb737b0cdc5e5
DATA glibcExp2<>+176(SB)/8, $0x3feec49182a3f090
DATA glibcExp2<>+184(SB)/8, $0x3feed503b23e255d
DATA glibcExp2<>+192(SB)/8, $0x3feee89f995ad3ad
DATA glibcExp2<>+200(SB)/8, $0x3feeff76f2fb5e47
DATA glibcExp2<>+208(SB)/8, $0x3fef199bdd85529c
DATA glibcExp2<>+216(SB)/8, $0x3fef3720dcef9069
DATA glibcExp2<>+224(SB)/8, $0x3fef5818dcfba487
DATA glibcExp2<>+232(SB)/8, $0x3fef7c97337b9b5f
DATA glibcExp2<>+240(SB)/8, $0x3fefa4afa2a490da
DATA glibcExp2<>+248(SB)/8, $0x3fefd0765b6e4540
GLOBL glibcExp2<>(SB), RODATA|NOPTR, $256

DATA glibcExpC<>+0(SB)/8, $0x40471547652b82fe // 32/ln2
DATA glibcExpC<>+8(SB)/8, $0x4338000000000000 // shift
DATA glibcExpC<>+16(SB)/8, $0x3ebc6af84b912394 // C0
DATA glibcExpC<>+24(SB)/8, $0x3f2ebfce50fac4f3 // C1
DATA glibcExpC<>+32(SB)/8, $0x3f962e42ff0c52d6 // C2
DATA glibcExpC<>+40(SB)/8, $0x3ff0000000000000 // 1
DATA glibcExpC<>+48(SB)/8, $31 // table index mask
DATA glibcExpC<>+56(SB)/4, $0x7ff // abstop12 mask
DATA glibcExpC<>+60(SB)/4, $0x42a // abstop12(88) - 1
GLOBL glibcExpC<>(SB), RODATA|NOPTR, $64

// func expfGlibcAVX2(dst, src *float32, n int) int: dst[i] = Expf(src[i])
// for i below n (a positive multiple of 4), four at a time; it stops before
// the first group of four holding a lane with |x| >= 88 or NaN (Expf's
// special cases) and returns how many it did.
TEXT ·expfGlibcAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	XORQ         AX, AX
	VBROADCASTSD glibcExpC<>+0(SB), Y10  // 32/ln2
	VBROADCASTSD glibcExpC<>+8(SB), Y11  // shift
	VBROADCASTSD glibcExpC<>+16(SB), Y12 // C0
	VBROADCASTSD glibcExpC<>+24(SB), Y13 // C1
	VBROADCASTSD glibcExpC<>+32(SB), Y14 // C2
	VBROADCASTSD glibcExpC<>+48(SB), Y15 // 31
	LEAQ         glibcExp2<>(SB), R8

glibcExpLoop:
	VMOVUPS      (SI)(AX*4), X0
	// Special lanes: abstop12(x) >= abstop12(88).
	VPSRLD       $20, X0, X1
	VPBROADCASTD glibcExpC<>+56(SB), X2
	VPAND        X2, X1, X1
	VPBROADCASTD glibcExpC<>+60(SB), X2
	VPCMPGTD     X2, X1, X1
	VPTEST       X1, X1
	JNZ          glibcExpDone
	VCVTPS2PD    X0, Y0              // xd
	VMOVAPD      Y11, Y1
	VFMADD231PD  Y0, Y10, Y1         // kd = xd*32/ln2 + shift
	VSUBPD       Y11, Y1, Y2         // kd - shift
	VFMSUB231PD  Y0, Y10, Y2         // r = xd*32/ln2 - kd
	VPAND        Y15, Y1, Y3         // ki % 32
	VPCMPEQD     Y4, Y4, Y4
	VPGATHERQQ   Y4, (R8)(Y3*8), Y5  // exp2fTable[ki%32]
	VPSLLQ       $47, Y1, Y1
	VPADDQ       Y1, Y5, Y5          // s = table + ki<<47
	VMOVAPD      Y13, Y6
	VFMADD231PD  Y2, Y12, Y6         // z = r*C0 + C1
	VMULPD       Y2, Y2, Y7          // r2
	VBROADCASTSD glibcExpC<>+40(SB), Y8
	VFMADD231PD  Y2, Y14, Y8         // y = r*C2 + 1
	VFMADD231PD  Y7, Y6, Y8          // y = z*r2 + y
	VMULPD       Y5, Y8, Y8          // y*s
	VCVTPD2PSY   Y8, X8
	VMOVUPS      X8, (DI)(AX*4)
	ADDQ         $4, AX
	CMPQ         AX, CX
	JLT          glibcExpLoop

glibcExpDone:
	MOVQ         AX, ret+24(FP)
	VZEROUPPER
	RET
