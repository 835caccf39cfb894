// Macros shared by the AVX2 (dot_amd64.s) and AVX-512
// (dot_avx512_amd64.s) kernels.

// HSUM4F(X, T) adds the four float lanes of X pairwise into lane 0 of X,
// using XT: (0+2) + (1+3), as ggml's horizontal sums do.
#define HSUM4F(X, T) \
	VMOVHLPS  X, X, T \
	VADDPS    T, X, X \
	VMOVSHDUP X, T \
	VADDSS    T, X, X

// HSUMF(Y, X, T) adds the eight float lanes of Y pairwise into lane 0 of X
// (the low half of Y), using XT.
#define HSUMF(Y, X, T) \
	VEXTRACTF128 $1, Y, T \
	VADDPS       T, X, X \
	HSUM4F(X, T)

// Q4K_UNPACK sets AX to the eight 6-bit scales and DX to the eight mins of
// the block at DI, one per byte (ggml's utmp shuffle), using R8 and R9.
// With u0, u1, u2 the three 32-bit words at 4(DI): scales 0-3 are the low
// 6 bits of u0's bytes, scales 4-7 take their low 4 bits from the low
// nibbles of u2 and their top 2 bits from the top of u0's bytes; mins
// likewise from u1 and the high nibbles of u2.
#define Q4K_UNPACK \
	MOVL 12(DI), R9 \
	ANDL $0x0f0f0f0f, R9 \
	MOVL 4(DI), AX \
	MOVL AX, R8 \
	SHRL $2, R8 \
	ANDL $0x30303030, R8 \
	ORL  R8, R9          /* scales 4-7 */ \
	ANDL $0x3f3f3f3f, AX /* scales 0-3 */ \
	SHLQ $32, R9 \
	ORQ  R9, AX \
	MOVL 12(DI), R9 \
	SHRL $4, R9 \
	ANDL $0x0f0f0f0f, R9 \
	MOVL 8(DI), DX \
	MOVL DX, R8 \
	SHRL $2, R8 \
	ANDL $0x30303030, R8 \
	ORL  R8, R9          /* mins 4-7 */ \
	ANDL $0x3f3f3f3f, DX /* mins 0-3 */ \
	SHLQ $32, R9 \
	ORQ  R9, DX
