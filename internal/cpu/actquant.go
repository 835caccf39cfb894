package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/quant-llm/quant/internal/gguf"
)

// Activation quantization: before a quantized weight row is multiplied by an
// activation row, llama.cpp's CPU backend converts the activations to the
// weight type's vec-dot type (VecDotType) with that type's from_float
// function. QuantizeRow gives the results of the x86 (AVX2/AVX-512) ones bit
// for bit, since one activation rounded differently moves an integer dot
// product by a whole weight step: for Q8_0 and Q8_1 ggml's AVX code, which
// differs from its _ref functions (see quantizeQ8_0); for Q8_K
// quantize_row_q8_K_ref; for F16 and BF16 gguf.Quantize's encoders. Not
// reproduced: the four-row ggml_quantize_mat_q8_K_4x8 llama.cpp uses when it
// repacks Q4_0/Q4_K weights (its sign choice for a block maximum differs
// when +max and -max both occur); the golden "norepack" logits are the ones
// this follows most closely.
//
// Q8_K blocks carry bsums, the sum of each 16 quants: with K-quant weights
// w = d*sc*q - dmin*m, sum(w*a) = d*sum(sc*sum(q*a)) - dmin*sum(m*bsum), so
// the offset part of a dot product needs no second pass over the quants.

// Field offsets of a Q8_K block (gguf.BlockQ8_K bytes).
const (
	q8KDOff = 0                   // fp32 d
	q8KQOff = 4                   // 256 x int8
	q8KBOff = q8KQOff + gguf.QK_K // 16 x int16 bsums
	maxQ8   = 127                 // largest activation quant magnitude
)

// QuantizeRow converts x to format vt (a value returned by VecDotType) and
// appends the encoded row to dst, returning the extended slice. It does not
// allocate when dst has enough spare capacity.
//
// len(x) must be a multiple of vt's block size (32 for Q8_0 and Q8_1, 256 for
// Q8_K, 1 for F32, F16 and BF16); QuantizeRow panics otherwise, and for any
// other vt. As in llama.cpp, a block holding an Inf or NaN quantizes to
// meaningless values.
func QuantizeRow(vt gguf.GGMLType, x []float32, dst []byte) []byte {
	switch vt {
	case gguf.TypeQ8_0, gguf.TypeQ8_1:
		if len(x)%gguf.QK8_0 != 0 {
			panic(fmt.Sprintf("cpu.QuantizeRow: %d values are not a multiple of the %v block size %d", len(x), vt, gguf.QK8_0))
		}
		blockLen := gguf.BlockQ8_0
		if vt == gguf.TypeQ8_1 {
			blockLen = gguf.BlockQ8_1
		}
		start := len(dst)
		dst = slices.Grow(dst, len(x)/gguf.QK8_0*blockLen)[:start+len(x)/gguf.QK8_0*blockLen]
		out := dst[start:]
		for i := 0; i < len(x); i += gguf.QK8_0 {
			if vt == gguf.TypeQ8_0 {
				quantizeQ8_0((*[gguf.QK8_0]float32)(x[i:]), (*[gguf.BlockQ8_0]byte)(out[i/gguf.QK8_0*gguf.BlockQ8_0:]))
			} else {
				quantizeQ8_1((*[gguf.QK8_0]float32)(x[i:]), (*[gguf.BlockQ8_1]byte)(out[i/gguf.QK8_0*gguf.BlockQ8_1:]))
			}
		}
		return dst
	case gguf.TypeF16:
		start := len(dst)
		dst = slices.Grow(dst, 2*len(x))[:start+2*len(x)]
		out := dst[start:]
		for i := f16RowSIMD(x, out); i < len(x); i++ {
			binary.LittleEndian.PutUint16(out[2*i:], gguf.FP32ToFP16(x[i]))
		}
		return dst
	case gguf.TypeQ8_K, gguf.TypeF32, gguf.TypeBF16:
		// gguf's encoders are the functions llama.cpp's x86 CPU backend
		// uses for these formats, and allocation-free.
		out, err := gguf.Quantize(vt, x, dst)
		if err != nil { // only a length that is not a multiple of 256
			panic("cpu.QuantizeRow: " + err.Error())
		}
		return out
	}
	panic(fmt.Sprintf("cpu.QuantizeRow: %v is not an activation format", vt))
}

// absMax32 returns the largest |x[j]| of a 32-value block, as the AVX max
// reduction computes it (NaNs are skipped).
func absMax32(x *[gguf.QK8_0]float32) float32 {
	var amax float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax = a
		}
	}
	return amax
}

// quantizeQ8_0 encodes 32 values as one Q8_0 block, as llama.cpp's x86 AVX
// quantize_row_q8_0 does. It differs from quantize_row_q8_0_ref (the
// function behind model-file quantization, and gguf.Quantize) in two ways:
// the multiplier is 127/amax instead of 1/(amax/127), which can differ in
// the last bit, and ties round to even (_mm256_round_ps) instead of away
// from zero (roundf). The scale d = amax/127 is the same, stored as fp16.
func quantizeQ8_0(x *[gguf.QK8_0]float32, out *[gguf.BlockQ8_0]byte) {
	amax := absMax32(x)
	d := amax / maxQ8
	var id float32
	if amax != 0 {
		id = maxQ8 / amax
	}
	binary.LittleEndian.PutUint16(out[0:], gguf.FP32ToFP16(d))
	q := (*[gguf.QK8_0]byte)(out[2:])
	for j, v := range x {
		q[j] = byte(int8(gguf.NearestInt(v * id)))
	}
}

// quantizeQ8_1 encodes 32 values as one Q8_1 block (the AVX2
// quantize_row_q8_1): the quants and d as in quantizeQ8_0, plus
// s = d*sum(q) with the unrounded fp32 d, stored as fp16. s lets a Q4_1 or
// Q5_1 dot product apply the weights' offset m to the whole block at once:
// sum((d_w*q_w + m) * d_a*q_a) = d_w*d_a*sum(q_w*q_a) + m*s.
func quantizeQ8_1(x *[gguf.QK8_0]float32, out *[gguf.BlockQ8_1]byte) {
	amax := absMax32(x)
	d := amax / maxQ8
	var id float32
	if amax != 0 {
		id = maxQ8 / amax
	}
	q := (*[gguf.QK8_0]byte)(out[4:])
	var sum int32
	for j, v := range x {
		v := int32(gguf.NearestInt(v * id))
		q[j] = byte(int8(v))
		sum += v
	}
	binary.LittleEndian.PutUint16(out[0:], gguf.FP32ToFP16(d))
	binary.LittleEndian.PutUint16(out[2:], gguf.FP32ToFP16(d*float32(sum)))
}
