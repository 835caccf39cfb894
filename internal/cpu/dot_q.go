package cpu

import (
	"encoding/binary"

	"github.com/quant-llm/quant/internal/gguf"
)

// Kernels for the 32-value block types (ggml-common.h block_q4_0 ... q8_0),
// following ggml_vec_dot_*_q8_0 / *_q8_1 in ggml/src/ggml-cpu/quants.c:
// an exact integer dot product per block, then one float32 scale product.

// Nibble j of a 32-value block holds value j (low half of byte j) and value
// j+16 (high half). For 8 bytes X: X&lane4 are the even low nibbles, X>>8
// the odd ones, X>>4 and X>>12 the even and odd high nibbles.

func vecDotQ4_0(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ4_0, n, gguf.QK8_0, gguf.BlockQ4_0, gguf.BlockQ8_0, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ4_0]byte)(w[i*gguf.BlockQ4_0:])
		y := (*[gguf.BlockQ8_0]byte)(a[i*gguf.BlockQ8_0:])
		// Weights q-8 in [-8, 7]: 32 products of at most 8*127 sum to
		// at most 32512, so the whole block fits one lane sum.
		x0, x1 := load64(x[2:]), load64(x[10:])
		e0, o0 := actLanes(y[2:])
		e1, o1 := actLanes(y[10:])
		e2, o2 := actLanes(y[18:])
		e3, o3 := actLanes(y[26:])
		t := (x0&lane4-bias8)*e0 + (x0>>8&lane4-bias8)*o0 +
			(x1&lane4-bias8)*e1 + (x1>>8&lane4-bias8)*o1 +
			(x0>>4&lane4-bias8)*e2 + (x0>>12&lane4-bias8)*o2 +
			(x1>>4&lane4-bias8)*e3 + (x1>>12&lane4-bias8)*o3
		sum += loadF16(x[0:]) * loadF16(y[0:]) * float32(laneSum(t))
	}
	return sum
}

func vecDotQ4_1(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ4_1, n, gguf.QK8_0, gguf.BlockQ4_1, gguf.BlockQ8_1, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ4_1]byte)(w[i*gguf.BlockQ4_1:])
		y := (*[gguf.BlockQ8_1]byte)(a[i*gguf.BlockQ8_1:])
		// Weights in [0, 15]: 16 products sum to at most 30480.
		x0, x1 := load64(x[4:]), load64(x[12:])
		e0, o0 := actLanes(y[4:])
		e1, o1 := actLanes(y[12:])
		e2, o2 := actLanes(y[20:])
		e3, o3 := actLanes(y[28:])
		lo := (x0&lane4)*e0 + (x0>>8&lane4)*o0 + (x1&lane4)*e1 + (x1>>8&lane4)*o1
		hi := (x0>>4&lane4)*e2 + (x0>>12&lane4)*o2 + (x1>>4&lane4)*e3 + (x1>>12&lane4)*o3
		sumi := laneSum(lo) + laneSum(hi)
		// The weight offset m meets the activations only through s = d*sum(q).
		sum += loadF16(x[0:])*loadF16(y[0:])*float32(sumi) + loadF16(x[2:])*loadF16(y[2:])
	}
	return sum
}

// q5High returns the fifth bits of values j..j+7, for the 8 bits b = qh>>j,
// at bit 4 of the lanes: even values, odd values.
func q5High(b uint32) (even, odd uint64) {
	return spreadBits(b), spreadBits(b >> 1)
}

func vecDotQ5_0(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ5_0, n, gguf.QK8_0, gguf.BlockQ5_0, gguf.BlockQ8_0, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ5_0]byte)(w[i*gguf.BlockQ5_0:])
		y := (*[gguf.BlockQ8_0]byte)(a[i*gguf.BlockQ8_0:])
		qh := binary.LittleEndian.Uint32(x[2:])
		x0, x1 := load64(x[6:]), load64(x[14:])
		h0e, h0o := q5High(qh)
		h1e, h1o := q5High(qh >> 8)
		h2e, h2o := q5High(qh >> 16)
		h3e, h3o := q5High(qh >> 24)
		e0, o0 := actLanes(y[2:])
		e1, o1 := actLanes(y[10:])
		e2, o2 := actLanes(y[18:])
		e3, o3 := actLanes(y[26:])
		// Weights q-16 in [-16, 15]: 16 products sum to at most 32512.
		lo := (x0&lane4|h0e-bias16)*e0 + (x0>>8&lane4|h0o-bias16)*o0 +
			(x1&lane4|h1e-bias16)*e1 + (x1>>8&lane4|h1o-bias16)*o1
		hi := (x0>>4&lane4|h2e-bias16)*e2 + (x0>>12&lane4|h2o-bias16)*o2 +
			(x1>>4&lane4|h3e-bias16)*e3 + (x1>>12&lane4|h3o-bias16)*o3
		sum += loadF16(x[0:]) * loadF16(y[0:]) * float32(laneSum(lo)+laneSum(hi))
	}
	return sum
}

func vecDotQ5_1(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ5_1, n, gguf.QK8_0, gguf.BlockQ5_1, gguf.BlockQ8_1, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ5_1]byte)(w[i*gguf.BlockQ5_1:])
		y := (*[gguf.BlockQ8_1]byte)(a[i*gguf.BlockQ8_1:])
		qh := binary.LittleEndian.Uint32(x[4:])
		x0, x1 := load64(x[8:]), load64(x[16:])
		h0e, h0o := q5High(qh)
		h1e, h1o := q5High(qh >> 8)
		h2e, h2o := q5High(qh >> 16)
		h3e, h3o := q5High(qh >> 24)
		e0, o0 := actLanes(y[4:])
		e1, o1 := actLanes(y[12:])
		e2, o2 := actLanes(y[20:])
		e3, o3 := actLanes(y[28:])
		// Weights in [0, 31]: 8 products sum to at most 31496.
		s0 := (x0&lane4|h0e)*e0 + (x0>>8&lane4|h0o)*o0
		s1 := (x1&lane4|h1e)*e1 + (x1>>8&lane4|h1o)*o1
		s2 := (x0>>4&lane4|h2e)*e2 + (x0>>12&lane4|h2o)*o2
		s3 := (x1>>4&lane4|h3e)*e3 + (x1>>12&lane4|h3o)*o3
		sumi := laneSum(s0) + laneSum(s1) + laneSum(s2) + laneSum(s3)
		sum += loadF16(x[0:])*loadF16(y[0:])*float32(sumi) + loadF16(x[2:])*loadF16(y[2:])
	}
	return sum
}

// dotQ8_0 multiplies int8 by int8. Products reach 127*127, too wide for
// four lanes, so this is a plain unrolled loop (the compiler turns each
// term into two sign-extending loads, a multiply and an add).
func vecDotQ8_0(n int, w, a []byte) float32 {
	nb := rowBlocks(gguf.TypeQ8_0, n, gguf.QK8_0, gguf.BlockQ8_0, gguf.BlockQ8_0, w, a)
	var sum float32
	for i := range nb {
		x := (*[gguf.BlockQ8_0]byte)(w[i*gguf.BlockQ8_0:])
		y := (*[gguf.BlockQ8_0]byte)(a[i*gguf.BlockQ8_0:])
		var s0, s1, s2, s3 int32
		for j := 0; j < gguf.QK8_0; j += 8 {
			p := (*[8]byte)(x[2+j:])
			q := (*[8]byte)(y[2+j:])
			s0 += int32(int8(p[0]))*int32(int8(q[0])) + int32(int8(p[4]))*int32(int8(q[4]))
			s1 += int32(int8(p[1]))*int32(int8(q[1])) + int32(int8(p[5]))*int32(int8(q[5]))
			s2 += int32(int8(p[2]))*int32(int8(q[2])) + int32(int8(p[6]))*int32(int8(q[6]))
			s3 += int32(int8(p[3]))*int32(int8(q[3])) + int32(int8(p[7]))*int32(int8(q[7]))
		}
		sum += float32((s0+s1)+(s2+s3)) * (loadF16(x[0:]) * loadF16(y[0:]))
	}
	return sum
}
