package gguf

import "math"

// IEEE binary16 and bfloat16 conversions, bit-exact with ggml's reference
// conversions (GGML_FP16_TO_FP32, GGML_FP32_TO_FP16, GGML_BF16_TO_FP32,
// GGML_FP32_TO_BF16). Quantized files store their scales as fp16, so the
// quantizers need exactly ggml's rounding to reproduce llama.cpp's bytes.

// FP16ToFP32 converts an IEEE binary16 value to float32. The conversion is
// exact; infinities and NaNs (with their payload) are preserved.
//
// It is small enough to inline, since quantized kernels call it for every
// block scale: the exponent and mantissa bits are moved into float32
// position and the exponent rebiased from 15 to 127 by multiplying by
// 2^112, which is exact and also normalizes subnormal halves. Only Inf and
// NaN, whose exponent must become all ones, need a branch.
func FP16ToFP32(h uint16) float32 {
	x := uint32(h&0x7fff) << 13
	var f float32
	if x >= 0x1f<<23 { // exponent all ones: Inf or NaN
		f = math.Float32frombits(x | 0xff<<23)
	} else {
		f = math.Float32frombits(x) * 0x1p112
	}
	return math.Float32frombits(math.Float32bits(f) | uint32(h&0x8000)<<16)
}

// FP32ToFP16 converts f to IEEE binary16, rounding to nearest with ties to
// even, like ggml's GGML_FP32_TO_FP16 and the F16C instruction VCVTPS2PH:
// values that round beyond 65504 become infinity, tiny values become
// subnormals or zero. A NaN becomes ggml's canonical quiet NaN 0x7e00 (with
// the sign kept); F16C would keep some payload bits instead, which no
// quantizer depends on.
func FP32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff // biased by 127
	mant := b & 0x7fffff
	switch {
	case exp == 0xff && mant != 0: // NaN
		return sign | 0x7e00
	case exp >= 127+16: // |f| ≥ 2¹⁶ (or infinity): beyond the largest half
		return sign | 0x7c00
	case exp >= 127-14: // normal half range [2⁻¹⁴, 2¹⁶)
		// Drop 13 mantissa bits. A carry out of the mantissa correctly
		// increments the exponent, up to 0x7c00 (infinity).
		h := uint32(exp-127+15)<<10 | mant>>13
		return sign | uint16(h+roundUp(mant, 13, h))
	case exp >= 127-25: // rounds to a subnormal half (or to zero or 2⁻¹⁴)
		// The half's unit is 2⁻²⁴; f = m·2^(exp-150) with the implicit bit.
		m := mant | 0x800000
		shift := uint(126 - exp) // 14..24
		h := m >> shift
		return sign | uint16(h+roundUp(m, shift, h))
	default: // below half of the smallest subnormal: ±0
		return sign
	}
}

// roundUp reports (as 0 or 1) whether truncating m by shift bits to the
// value q must round up under round-to-nearest-even.
func roundUp(m uint32, shift uint, q uint32) uint32 {
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && q&1 == 1 {
		return 1
	}
	return 0
}

// BF16ToFP32 converts a bfloat16 value to float32 (exact: bfloat16 is the
// upper half of a float32).
func BF16ToFP32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// FP32ToBF16 converts f to bfloat16 exactly as ggml_compute_fp32_to_bf16:
// round to nearest even on the dropped 16 bits (overflowing to infinity),
// subnormals kept, and a NaN keeps its upper payload bits with the quiet bit
// forced on.
func FP32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}
