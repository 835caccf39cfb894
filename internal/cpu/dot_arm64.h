// Encodings of the Advanced SIMD instructions the arm64 kernels use that
// Go's assembler has no mnemonic for. Arguments are register numbers
// (d, n, m for Vd, Vn, Vm) and element indexes, all constants; each macro
// is one instruction. They were checked against clang's assembler and
// llvm-objdump's disassembly of the built kernels. (Go's assembler gives
// & precedence over >>: shifts are parenthesized.)

// SDOT Vd.4S, Vn.16B, Vm.16B (the dot-product extension): lane k of d
// += the sum of the products of bytes 4k..4k+3 of n and m, signed.
#define SDOT(d, n, m) WORD $(0x4e809400 | (m)<<16 | (n)<<5 | (d))

// SMULL Vd.8H, Vn.8B, Vm.8B and SMULL2 (bytes 8-15): int16 products.
#define SMULL8H(d, n, m) WORD $(0x0e20c000 | (m)<<16 | (n)<<5 | (d))
#define SMULL28H(d, n, m) WORD $(0x4e20c000 | (m)<<16 | (n)<<5 | (d))

// SMULL Vd.4S, Vn.4H, Vm.4H and SMULL2 (halfwords 4-7): int32 products.
#define SMULL4S(d, n, m) WORD $(0x0e60c000 | (m)<<16 | (n)<<5 | (d))
#define SMULL24S(d, n, m) WORD $(0x4e60c000 | (m)<<16 | (n)<<5 | (d))

// ADDP Vd.8H / Vd.4S, Vn, Vm: the sums of adjacent pairs of n, then of m.
#define ADDP8H(d, n, m) WORD $(0x4e60bc00 | (m)<<16 | (n)<<5 | (d))
#define ADDP4S(d, n, m) WORD $(0x4ea0bc00 | (m)<<16 | (n)<<5 | (d))

// SADALP Vd.4S, Vn.8H: lane k of d += halfwords 2k and 2k+1 of n.
#define SADALP4S(d, n) WORD $(0x4e606800 | (n)<<5 | (d))

// SXTL Vd.8H, Vn.8B (SSHLL #0) and SXTL2 (bytes 8-15); SXTL Vd.4S,
// Vn.4H and SXTL2 (halfwords 4-7).
#define SXTL8H(d, n) WORD $(0x0f08a400 | (n)<<5 | (d))
#define SXTL28H(d, n) WORD $(0x4f08a400 | (n)<<5 | (d))
#define SXTL4S(d, n) WORD $(0x0f10a400 | (n)<<5 | (d))
#define SXTL24S(d, n) WORD $(0x4f10a400 | (n)<<5 | (d))

// SMLAL Vd.4S, Vn.4H, Vm.H[i] and SMLAL2 (halfwords 4-7 of n): lane k of
// d += n's halfword times halfword i of m; m is V0-V15.
#define ELEMH(m, i) ((m)<<16 | ((i)&1)<<20 | (((i)>>1)&1)<<21 | (((i)>>2)&1)<<11)
#define SMLALH(d, n, m, i) WORD $(0x0f402000 | ELEMH(m, i) | (n)<<5 | (d))
#define SMLAL2H(d, n, m, i) WORD $(0x4f402000 | ELEMH(m, i) | (n)<<5 | (d))

// MLA, FMLA and FMLS Vd.4S, Vn.4S, Vm.S[i]: d += (or -=) n times word i of
// m; FMLA and FMLS round once (fused).
#define ELEMS(m, i) ((m)<<16 | ((i)&1)<<21 | (((i)>>1)&1)<<11)
#define MLAS(d, n, m, i) WORD $(0x6f800000 | ELEMS(m, i) | (n)<<5 | (d))
#define FMLAS(d, n, m, i) WORD $(0x4f801000 | ELEMS(m, i) | (n)<<5 | (d))
#define FMLSS(d, n, m, i) WORD $(0x4f805000 | ELEMS(m, i) | (n)<<5 | (d))

// FMUL Sd, Sn, Vm.S[i]: lane 0 of n times word i of m; FMUL Vd.4S,
// Vn.4S, Vm.S[i]: each lane of n times word i of m.
#define FMULSE(d, n, m, i) WORD $(0x5f809000 | ELEMS(m, i) | (n)<<5 | (d))
#define FMULE(d, n, m, i) WORD $(0x4f809000 | ELEMS(m, i) | (n)<<5 | (d))

// SCVTF Vd.4S, Vn.4S: int32 to float32 (exact below 2^24, rounded to
// nearest even above, as VCVTDQ2PS).
#define SCVTF4S(d, n) WORD $(0x4e21d800 | (n)<<5 | (d))

// MOVI Vd.2D, #0: Vd = 0.
#define ZEROV(d) WORD $(0x6f00e400 | (d))

// SUB Vd.4S, Vn.4S, Vm.4S: d = n - m, int32.
#define SUB4S(d, n, m) WORD $(0x6ea08400 | (m)<<16 | (n)<<5 | (d))

// FADD Vd.4S, Vn.4S, Vm.4S.
#define FADD4S(d, n, m) WORD $(0x4e20d400 | (m)<<16 | (n)<<5 | (d))

// FADDP Sd, Vn.2S: lane 0 plus lane 1.
#define FADDP2S(d, n) WORD $(0x7e30d800 | (n)<<5 | (d))

// FCVTL Vd.4S, Vn.4H and FCVTL2 (halfwords 4-7): IEEE halves to float32
// (exact).
#define FCVTL4S(d, n) WORD $(0x0e217800 | (n)<<5 | (d))
#define FCVTL24S(d, n) WORD $(0x4e217800 | (n)<<5 | (d))

// EXT Vd.16B, Vn.16B, Vm.16B, #8: the high half of n, then the low half
// of m.
#define EXT8(d, n, m) WORD $(0x6e004000 | (m)<<16 | (n)<<5 | (d))

// HSUM4(v, t): lane 0 of Vv = (l0+l2) + (l1+l3) of its four float lanes,
// the pairing of the x86 kernels' HSUM4F, using Vt.
#define HSUM4(v, t) \
	EXT8(t, v, v) \
	FADD4S(v, v, t) \
	FADDP2S(v, v)

// HSUM8(lo, hi, t): lane 0 of Vlo = the pairwise sum of the eight float
// lanes of Vlo (0-3) and Vhi (4-7), as the x86 kernels' HSUMF.
#define HSUM8(lo, hi, t) \
	FADD4S(lo, lo, hi) \
	HSUM4(lo, t)
