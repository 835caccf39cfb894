package cpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/quant-llm/quant/internal/gguf"
)

// VecDotType is the activation format that weights of type t are multiplied
// with, as in the vec_dot_type column of llama.cpp's type_traits_cpu table:
// Q4_0, Q5_0, Q8_0 -> Q8_0; Q4_1, Q5_1 -> Q8_1; Q2_K..Q6_K -> Q8_K; F32, F16
// and BF16 -> themselves. It panics for a type that DotSupported rejects.
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
// the activation row in VecDotType(t) format (made by QuantizeRow).
//
// Quantized types are multiplied as ggml's CPU backend does: integer dot
// products per block, scaled by the two blocks' scales in float32. Float
// types multiply in float32 and sum in float64.
//
// n must be a multiple of t's block size and w and a must hold at least the
// n values (only those are read); Dot panics with the sizes otherwise, and
// for a type that DotSupported rejects. a must come from QuantizeRow: the
// integer kernels rely on its quants lying in [-127, 127].
//
// On amd64 with AVX2, Q4_K, Q6_K, Q8_0, Q4_0, Q5_0 and F16 rows use
// assembly kernels (dot_amd64.s); the other types, and other CPUs, the
// pure-Go ones. Both compute the same exact integer block sums; the
// assembly kernels for Q4_K and Q6_K sum the scaled blocks in a different
// order, which changes only the float32 rounding of the result (tested to
// within 1e-6 of the sum of |w_i*a_i|).
//
// Dot does not allocate. It is safe for concurrent use.
func Dot(t gguf.GGMLType, n int, w, a []byte) float32 {
	var out [1]float32
	if dotSIMD(t, n, w, 0, 1, a, 0, 1, out[:], 0) {
		return out[0]
	}
	return dotGeneric(t, n, w, a)
}

// DotRows sets out[i] = Dot(t, n, w[i*wStride:], a) for i < rows: rows
// weight rows, wStride bytes apart, times one activation row (a
// matrix-vector product). It is DotMatrix with one activation row.
func DotRows(t gguf.GGMLType, n int, w []byte, wStride, rows int, a []byte, out []float32) {
	DotMatrix(t, n, w, wStride, rows, a, 0, 1, out, 0)
}

// DotMatrix sets out[r*outStride+i] = Dot(t, n, w[i*wStride:], a[r*aStride:])
// for i < wRows and r < aRows: a tile of a matrix product, wRows weight
// rows wStride bytes apart times aRows activation rows aStride bytes
// apart. Each pair of rows must meet Dot's requirements; DotMatrix also
// panics if a count or stride is negative or an output falls outside out.
//
// Each result is exactly Dot's, however the matrix is tiled. With the
// assembly kernels the loops run inside the kernel, and the Q4_K and Q6_K
// kernels decode each weight block once for four activation rows; keeping
// the weight tile small enough for the L1 or L2 cache is the caller's part.
func DotMatrix(t gguf.GGMLType, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) {
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
	if dotSIMD(t, n, w, wStride, wRows, a, aStride, aRows, out, outStride) {
		return
	}
	for r := range aRows {
		ar, o := a[r*aStride:], out[r*outStride:]
		for i := range wRows {
			o[i] = dotGeneric(t, n, w[i*wStride:], ar)
		}
	}
}

// dotGeneric is Dot with the pure-Go kernels only.
func dotGeneric(t gguf.GGMLType, n int, w, a []byte) float32 {
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
	case gguf.TypeF32:
		return vecDotF32(n, w, a)
	case gguf.TypeF16:
		return vecDotF16(n, w, a)
	case gguf.TypeBF16:
		return vecDotBF16(n, w, a)
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

// loadF16 decodes the little-endian IEEE half at b[0:2].
func loadF16(b []byte) float32 { return gguf.FP16ToFP32(binary.LittleEndian.Uint16(b)) }

func vecDotF32(n int, w, a []byte) float32 {
	rowBlocks(gguf.TypeF32, n, 1, 4, 4, w, a)
	w, a = w[:4*n], a[:4*n]
	// Four accumulators keep the float adds independent.
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+16 <= len(w); i += 16 {
		x := (*[16]byte)(w[i:])
		y := (*[16]byte)(a[i:])
		s0 += float64(loadF32(x[0:]) * loadF32(y[0:]))
		s1 += float64(loadF32(x[4:]) * loadF32(y[4:]))
		s2 += float64(loadF32(x[8:]) * loadF32(y[8:]))
		s3 += float64(loadF32(x[12:]) * loadF32(y[12:]))
	}
	for ; i < len(w); i += 4 {
		s0 += float64(loadF32(w[i:]) * loadF32(a[i:]))
	}
	return float32((s0 + s1) + (s2 + s3))
}

func loadF32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// dotF16 multiplies an F16 row by F16 activations. The product of two halves
// is exact in float32, so only the summation order can differ from ggml.
func vecDotF16(n int, w, a []byte) float32 {
	rowBlocks(gguf.TypeF16, n, 1, 2, 2, w, a)
	w, a = w[:2*n], a[:2*n]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+8 <= len(w); i += 8 {
		x := (*[8]byte)(w[i:])
		y := (*[8]byte)(a[i:])
		s0 += float64(loadF16(x[0:]) * loadF16(y[0:]))
		s1 += float64(loadF16(x[2:]) * loadF16(y[2:]))
		s2 += float64(loadF16(x[4:]) * loadF16(y[4:]))
		s3 += float64(loadF16(x[6:]) * loadF16(y[6:]))
	}
	for ; i < len(w); i += 2 {
		s0 += float64(loadF16(w[i:]) * loadF16(a[i:]))
	}
	return float32((s0 + s1) + (s2 + s3))
}

// dotBF16 multiplies a BF16 row by BF16 activations; as for F16 the products
// are exact in float32.
func vecDotBF16(n int, w, a []byte) float32 {
	rowBlocks(gguf.TypeBF16, n, 1, 2, 2, w, a)
	w, a = w[:2*n], a[:2*n]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+8 <= len(w); i += 8 {
		// Two bf16 values per 32-bit load: the high half is already a
		// float32 bit pattern, the low half needs a shift.
		x0, y0 := binary.LittleEndian.Uint32(w[i:]), binary.LittleEndian.Uint32(a[i:])
		x1, y1 := binary.LittleEndian.Uint32(w[i+4:]), binary.LittleEndian.Uint32(a[i+4:])
		s0 += float64(math.Float32frombits(x0<<16) * math.Float32frombits(y0<<16))
		s1 += float64(math.Float32frombits(x0&0xffff0000) * math.Float32frombits(y0&0xffff0000))
		s2 += float64(math.Float32frombits(x1<<16) * math.Float32frombits(y1<<16))
		s3 += float64(math.Float32frombits(x1&0xffff0000) * math.Float32frombits(y1&0xffff0000))
	}
	for ; i < len(w); i += 2 {
		x := uint32(binary.LittleEndian.Uint16(w[i:])) << 16
		y := uint32(binary.LittleEndian.Uint16(a[i:])) << 16
		s0 += float64(math.Float32frombits(x) * math.Float32frombits(y))
	}
	return float32((s0 + s1) + (s2 + s3))
}
