//go:build !purego

package cpu

import (
	"golang.org/x/sys/cpu"

	"github.com/quant-llm/quant/internal/gguf"
)

// supportedLevel is the highest kernel level the CPU supports: every
// arm64 CPU has Advanced SIMD (NEON); the dot-product extension (SDOT,
// ARMv8.4, and every Apple CPU) makes levelDotProd.
func supportedLevel() level {
	if cpu.ARM64.HasASIMDDP {
		return levelDotProd
	}
	return levelNEON
}

// The kernels compute out[i] = Dot(t, n, w[i*wStride:], a) for i < rows,
// with nb blocks per row (nb values for the float types). They require
// nb >= 1, rows >= 1 and every row to hold nb blocks, which dotSIMD
// checks; the float Gemm kernels need nb to be a multiple of gemmStep(t).
// The X4 kernels compute out[r*outStride+i] = Dot(t, n, w[i*wStride:],
// a[r*aStride:]) for i < rows and four activation rows r, decoding each
// weight block once.
// See dot_arm64.s for how they give the AVX2 kernels' results.

//go:noescape
func dotQ4KDotProd(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ4KNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ5KDotProd(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ5KNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ6KDotProd(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ6KNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ8_0DotProd(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ8_0NEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ4_0DotProd(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ4_0NEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ5_0DotProd(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ5_0NEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ4KX4DotProd(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4KX4NEON(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5KX4DotProd(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5KX4NEON(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ6KX4DotProd(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ6KX4NEON(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ8_0X4DotProd(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ8_0X4NEON(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4_0X4DotProd(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4_0X4NEON(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5_0X4DotProd(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5_0X4NEON(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotF32VecNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotF16VecNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotBF16VecNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotF32GemmNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotF16GemmNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotBF16GemmNEON(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

// dotSIMD computes DotMatrix with the assembly kernels of level lv and
// reports whether it did: false for a weight type without a kernel, or for
// levelGeneric. The caller has checked that the counts are positive, the
// strides not negative and the outputs within out; this checks the row
// sizes (panicking as Dot does). Activation rows go four at a time to
// the X4 kernels where the type has one, the rest one at a time to the
// matrix-vector kernels.
func dotSIMD(lv level, t gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) bool {
	if lv < levelNEON {
		return false
	}
	switch t {
	case gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0,
		gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
	default:
		return false
	}
	// The last rows start furthest in, so checking them checks them all.
	nb := rowBlocks(t, n, t.BlockElems(), t.BlockBytes(), VecDotType(t).BlockBytes(), w[(wRows-1)*wStride:], a[(aRows-1)*aStride:])
	if nb == 0 {
		for r := range aRows {
			clear(out[r*outStride : r*outStride+wRows])
		}
		return true
	}
	isFloat := t == gguf.TypeF32 || t == gguf.TypeF16 || t == gguf.TypeBF16
	if isFloat && order == GemmOrder && nb%gemmStep(t) != 0 {
		return false
	}
	dp := lv >= levelDotProd
	r := 0
	for ; r+4 <= aRows; r += 4 {
		if !dotX4(dp, t, &w[0], wStride, wRows, &a[r*aStride], aStride, nb, &out[r*outStride], outStride) {
			break
		}
	}
	for ; r < aRows; r++ {
		pw, pa, po := &w[0], &a[r*aStride], &out[r*outStride]
		switch {
		case isFloat:
			dotFloatNEON(t, order, pw, wStride, pa, nb, po, wRows)
		case dp:
			dotQuantDotProd(t, pw, wStride, pa, nb, po, wRows)
		default:
			dotQuantNEON(t, pw, wStride, pa, nb, po, wRows)
		}
	}
	return true
}

// dotX4 runs the four-activation-row kernel for type t (SDOT if dp) and
// reports whether t has one.
func dotX4(dp bool, t gguf.GGMLType, w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int) bool {
	switch {
	case t == gguf.TypeQ4_K && dp:
		dotQ4KX4DotProd(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ4_K:
		dotQ4KX4NEON(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ5_K && dp:
		dotQ5KX4DotProd(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ5_K:
		dotQ5KX4NEON(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ6_K && dp:
		dotQ6KX4DotProd(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ6_K:
		dotQ6KX4NEON(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ8_0 && dp:
		dotQ8_0X4DotProd(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ8_0:
		dotQ8_0X4NEON(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ4_0 && dp:
		dotQ4_0X4DotProd(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ4_0:
		dotQ4_0X4NEON(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ5_0 && dp:
		dotQ5_0X4DotProd(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ5_0:
		dotQ5_0X4NEON(w, wStride, rows, a, aStride, nb, out, outStride)
	default:
		return false
	}
	return true
}

// dotQuantDotProd runs the SDOT kernel for type t (called directly, not
// through a function value, so that out does not escape).
func dotQuantDotProd(t gguf.GGMLType, w *byte, wStride int, a *byte, nb int, out *float32, rows int) {
	switch t {
	case gguf.TypeQ4_K:
		dotQ4KDotProd(w, wStride, a, nb, out, rows)
	case gguf.TypeQ5_K:
		dotQ5KDotProd(w, wStride, a, nb, out, rows)
	case gguf.TypeQ6_K:
		dotQ6KDotProd(w, wStride, a, nb, out, rows)
	case gguf.TypeQ8_0:
		dotQ8_0DotProd(w, wStride, a, nb, out, rows)
	case gguf.TypeQ4_0:
		dotQ4_0DotProd(w, wStride, a, nb, out, rows)
	case gguf.TypeQ5_0:
		dotQ5_0DotProd(w, wStride, a, nb, out, rows)
	}
}

// dotQuantNEON runs the plain NEON kernel for type t.
func dotQuantNEON(t gguf.GGMLType, w *byte, wStride int, a *byte, nb int, out *float32, rows int) {
	switch t {
	case gguf.TypeQ4_K:
		dotQ4KNEON(w, wStride, a, nb, out, rows)
	case gguf.TypeQ5_K:
		dotQ5KNEON(w, wStride, a, nb, out, rows)
	case gguf.TypeQ6_K:
		dotQ6KNEON(w, wStride, a, nb, out, rows)
	case gguf.TypeQ8_0:
		dotQ8_0NEON(w, wStride, a, nb, out, rows)
	case gguf.TypeQ4_0:
		dotQ4_0NEON(w, wStride, a, nb, out, rows)
	case gguf.TypeQ5_0:
		dotQ5_0NEON(w, wStride, a, nb, out, rows)
	}
}

// dotFloatNEON runs the float kernel for type t and order.
func dotFloatNEON(t gguf.GGMLType, order SumOrder, w *byte, wStride int, a *byte, nb int, out *float32, rows int) {
	switch {
	case t == gguf.TypeF32 && order == GemmOrder:
		dotF32GemmNEON(w, wStride, a, nb, out, rows)
	case t == gguf.TypeF32:
		dotF32VecNEON(w, wStride, a, nb, out, rows)
	case t == gguf.TypeF16 && order == GemmOrder:
		dotF16GemmNEON(w, wStride, a, nb, out, rows)
	case t == gguf.TypeF16:
		dotF16VecNEON(w, wStride, a, nb, out, rows)
	case order == GemmOrder:
		dotBF16GemmNEON(w, wStride, a, nb, out, rows)
	default:
		dotBF16VecNEON(w, wStride, a, nb, out, rows)
	}
}
