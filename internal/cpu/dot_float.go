package cpu

import (
	"encoding/binary"
	"math"

	"github.com/quant-llm/quant/internal/gguf"
)

// Float weights (F32, F16, BF16) are multiplied in float32 with the
// summation orders of llama.cpp's CPU backend on AVX-512, so that a model
// with float weights gives llama.cpp's logits bit for bit. ggml has two
// orders, and picks one per matrix product (see SumOrderFor).
type SumOrder uint8

const (
	// VecOrder is ggml_vec_dot_f32/_f16/_bf16, used for a single
	// activation row: the terms of each 64 values go to 64 float32 lanes
	// (four registers), one FMA each, the lanes are added pairwise
	// (lane i += lane i+32, then i+16, ...), and the values past the last
	// multiple of 64 are added one by one (in float32 for F32, float64
	// for F16 and BF16). BF16 uses two registers of 16 lanes per 64
	// values instead, each lane adding a pair of products (see bf16Pair),
	// and sums the two in float64.
	VecOrder SumOrder = iota
	// GemmOrder is llamafile's sgemm (tinyBLAS), used for batches: one
	// register of 16 float32 lanes, term i in lane i%16 (for BF16, the
	// pair of terms 2i, 2i+1), the lanes added pairwise at the end.
	GemmOrder
)

// SumOrderFor returns the order llama.cpp uses to multiply a weight of
// type t with wRows rows of n values by a batch of aRows activation rows:
// its sgemm kernels take batches of two or more rows when the weight's
// rows are a multiple of 4 and its row length one of the vector size.
func SumOrderFor(t gguf.GGMLType, wRows, n, aRows int) SumOrder {
	if aRows >= 2 && wRows%4 == 0 && n%gemmStep(t) == 0 {
		return GemmOrder
	}
	return VecOrder
}

// gemmStep is the number of values the sgemm kernels take per FMA.
func gemmStep(t gguf.GGMLType) int {
	if t == gguf.TypeBF16 {
		return 32
	}
	return 16
}

// dotFloat is Dot for F32, F16 and BF16 rows in the given order.
func dotFloat(t gguf.GGMLType, order SumOrder, n int, w, a []byte) float32 {
	if t == gguf.TypeBF16 {
		rowBlocks(t, n, 1, 2, 2, w, a)
		return dotBF16(order, n, w, a)
	}
	load, size := loadF32, 4
	if t == gguf.TypeF16 {
		load, size = loadF16, 2
	}
	rowBlocks(t, n, 1, size, size, w, a)
	term := func(acc float32, i int) float32 {
		return fma32(load(w[size*i:]), load(a[size*i:]), acc)
	}
	if order == GemmOrder {
		var acc [16]float32
		for i := range n {
			acc[i%16] = term(acc[i%16], i)
		}
		return pairwiseSum(acc[:])
	}
	var acc [64]float32
	body := n &^ 63
	for i := range body {
		acc[i%64] = term(acc[i%64], i)
	}
	sum := pairwiseSum(acc[:])
	if t == gguf.TypeF32 {
		for i := body; i < n; i++ {
			// The conversion rounds the product: without it, Go may
			// fuse the multiply-add (it does on arm64), and ggml does not.
			sum += float32(load(w[size*i:]) * load(a[size*i:]))
		}
		return sum
	}
	wide := float64(sum)
	for i := body; i < n; i++ {
		wide += float64(load(w[size*i:]) * load(a[size*i:]))
	}
	return float32(wide)
}

// dotBF16 multiplies BF16 rows as AVX512-BF16's VDPBF16PS does: each lane
// takes a pair of values.
func dotBF16(order SumOrder, n int, w, a []byte) float32 {
	if order == GemmOrder {
		var acc [16]float32
		for i := 0; i < n; i += 2 {
			l := i / 2 % 16
			acc[l] = bf16Pair(acc[l], w[2*i:], a[2*i:], n-i)
		}
		return pairwiseSum(acc[:])
	}
	var lo, hi [16]float32
	body := n &^ 63
	for i := 0; i < body; i += 2 {
		if j := i % 64; j < 32 {
			lo[j/2] = bf16Pair(lo[j/2], w[2*i:], a[2*i:], 2)
		} else {
			hi[j/2-16] = bf16Pair(hi[j/2-16], w[2*i:], a[2*i:], 2)
		}
	}
	sum := float64(pairwiseSum(lo[:])) + float64(pairwiseSum(hi[:]))
	for i := body; i < n; i++ {
		sum += float64(loadBF16(w[2*i:]) * loadBF16(a[2*i:]))
	}
	return float32(sum)
}

// bf16Pair adds the products of values 1 and then 0 of w and a to acc (one
// rounding each: a product of two bfloat16 is exact in float32), as each
// lane of VDPBF16PS does; with left < 2 only value 0 exists.
func bf16Pair(acc float32, w, a []byte, left int) float32 {
	if left >= 2 {
		acc += loadBF16(w[2:]) * loadBF16(a[2:])
	}
	return acc + loadBF16(w)*loadBF16(a)
}

// pairwiseSum adds the lanes of v (a power of two) as ggml's horizontal
// sums do: the upper half onto the lower, until one lane is left. It
// overwrites v.
func pairwiseSum(v []float32) float32 {
	for half := len(v) / 2; half >= 1; half /= 2 {
		for i := range half {
			v[i] += v[i+half]
		}
	}
	return v[0]
}

// fma32 is x*y+z rounded once to float32 (barring a double rounding when
// the float64 result falls exactly between two float32 values, which the
// engine's data never showed).
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}

func loadF32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// loadF16 decodes the little-endian IEEE half at b[0:2].
func loadF16(b []byte) float32 { return gguf.FP16ToFP32(binary.LittleEndian.Uint16(b)) }

// loadBF16 decodes the little-endian bfloat16 at b[0:2].
func loadBF16(b []byte) float32 {
	return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)
}
