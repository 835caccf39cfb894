package cpu

import (
	"fmt"

	"github.com/quant-llm/quant/internal/gguf"
)

// VecDotType is the activation format that weights of type t are multiplied
// with: the vec_dot_type of llama.cpp's type_traits_cpu table. It panics for
// a type that DotSupported rejects.
func VecDotType(t gguf.GGMLType) gguf.GGMLType {
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		return t
	case gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ8_0:
		return gguf.TypeQ8_0
	case gguf.TypeQ4_1, gguf.TypeQ5_1:
		return gguf.TypeQ8_1
	case gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K:
		return gguf.TypeQ8_K
	}
	panic(fmt.Sprintf("cpu.VecDotType: weight type %v is not supported", t))
}

// DotSupported reports whether Dot handles weight type t.
func DotSupported(t gguf.GGMLType) bool {
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16,
		gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0,
		gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K:
		return true
	}
	return false
}

// Dot returns the dot product of n values: w is a weight row of type t and a
// the activation row in VecDotType(t) format (made by QuantizeRow), summed
// as ggml's CPU backend sums it (integer block products scaled in float32;
// float types in VecOrder). n must be a multiple of t's block size and w and
// a must hold the n values; Dot panics otherwise. It does not allocate and is
// safe for concurrent use.
func Dot(t gguf.GGMLType, n int, w, a []byte) float32 {
	var out [1]float32
	if dotSIMD(kernelLevel, t, VecOrder, n, w, 0, 1, a, 0, 1, out[:], 0) {
		return out[0]
	}
	return dotGeneric(t, VecOrder, n, w, a)
}

// DotMatrix sets out[r*outStride+i] = Dot(t, n, w[i*wStride:], a[r*aStride:])
// for i < wRows and r < aRows, float types summing in the given order: a
// tile of a matrix product, wRows weight
// rows wStride bytes apart times aRows activation rows aStride bytes
// apart. Each pair of rows must meet Dot's requirements; DotMatrix also
// panics if a count or stride is negative or an output falls outside out.
//
// Each result is exactly that of the pair alone (Dot's for VecOrder),
// however the matrix is tiled. With the assembly kernels the loops run
// inside the kernel, and the quantized kernels decode each weight block
// once for four activation rows; keeping the weight tile small enough for
// the L1 or L2 cache is the caller's part.
func DotMatrix(t gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) {
	dotMatrix(kernelLevel, t, order, n, w, wStride, wRows, a, aStride, aRows, out, outStride)
}

// dotMatrix is DotMatrix with the kernels of level lv.
func dotMatrix(lv level, t gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) {
	if wRows < 0 || aRows < 0 || wStride < 0 || aStride < 0 || outStride < 0 {
		panic(fmt.Sprintf("cpu.DotMatrix: negative count or stride: %d weight rows %d bytes apart, %d activation rows %d bytes apart, outputs %d apart",
			wRows, wStride, aRows, aStride, outStride))
	}
	if wRows == 0 || aRows == 0 {
		return
	}
	if (wRows-1)*wStride > len(w) || (aRows-1)*aStride > len(a) || (aRows-1)*outStride+wRows > len(out) {
		panic(fmt.Sprintf("cpu.DotMatrix: %d weight rows %d bytes apart in %d bytes, %d activation rows %d bytes apart in %d bytes, outputs %d apart in %d",
			wRows, wStride, len(w), aRows, aStride, len(a), outStride, len(out)))
	}
	if dotSIMD(lv, t, order, n, w, wStride, wRows, a, aStride, aRows, out, outStride) {
		return
	}
	for r := range aRows {
		ar, o := a[r*aStride:], out[r*outStride:]
		for i := range wRows {
			o[i] = dotGeneric(t, order, n, w[i*wStride:], ar)
		}
	}
}

// dotGeneric is Dot with the pure-Go kernels only; order matters for the
// float types only.
func dotGeneric(t gguf.GGMLType, order SumOrder, n int, w, a []byte) float32 {
	switch t {
	case gguf.TypeQ4_K:
		return vecDotQ4K(n, w, a)
	case gguf.TypeQ6_K:
		return vecDotQ6K(n, w, a)
	case gguf.TypeQ8_0:
		return vecDotQ8_0(n, w, a)
	case gguf.TypeQ5_K:
		return vecDotQ5K(n, w, a)
	case gguf.TypeQ4_0:
		return vecDotQ4_0(n, w, a)
	case gguf.TypeQ5_0:
		return vecDotQ5_0(n, w, a)
	case gguf.TypeQ4_1:
		return vecDotQ4_1(n, w, a)
	case gguf.TypeQ5_1:
		return vecDotQ5_1(n, w, a)
	case gguf.TypeQ2_K:
		return vecDotQ2K(n, w, a)
	case gguf.TypeQ3_K:
		return vecDotQ3K(n, w, a)
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		return dotFloat(t, order, n, w, a)
	}
	panic(fmt.Sprintf("cpu.Dot: weight type %v is not supported", t))
}

// rowBlocks returns the number of blocks in a row of n values and checks the
// row sizes: qk values per block, wLen bytes per weight block, aLen per
// activation block.
func rowBlocks(t gguf.GGMLType, n, qk, wLen, aLen int, w, a []byte) int {
	nb := n / qk
	if n < 0 || nb*qk != n || len(w) < nb*wLen || len(a) < nb*aLen {
		badRow(t, n, qk, nb*wLen, nb*aLen, len(w), len(a))
	}
	return nb
}

// badRow is kept out of line so the size checks stay cheap to inline.
//
//go:noinline
func badRow(t gguf.GGMLType, n, qk, wNeed, aNeed, wLen, aLen int) {
	if n < 0 || n%qk != 0 {
		panic(fmt.Sprintf("cpu.Dot: %v row of %d values is not a multiple of the block size %d", t, n, qk))
	}
	panic(fmt.Sprintf("cpu.Dot: %v row of %d values needs %d weight and %d activation bytes, got %d and %d",
		t, n, wNeed, aNeed, wLen, aLen))
}
