//go:build !purego

package cpu

import (
	"golang.org/x/sys/cpu"

	"github.com/quant-llm/quant/internal/gguf"
)

// supportedLevel is the highest kernel level the CPU and OS support:
// AVX-512 needs F, BW (byte and word lanes), VL (its instructions on
// 256-bit registers) and VNNI (VPDPWSSD, VPDPBUSD); the AVX2 kernels need
// AVX2 for the integer arithmetic, F16C for the fp16 scales and F16 rows,
// FMA for the float accumulation. Every AVX-512 CPU has all three.
func supportedLevel() level {
	x := &cpu.X86
	switch {
	case x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI:
		return levelAVX512
	case x.HasAVX2 && x.HasF16C && x.HasFMA:
		return levelAVX2
	}
	return levelGeneric
}

// The kernels compute out[i] = Dot(t, n, w[i*wStride:], a) for i < rows,
// with nb blocks per row (nb values for the float types); the X4 kernels compute
// out[r*outStride+i] = Dot(t, n, w[i*wStride:], a[r*aStride:]) for i < rows
// and four activation rows r, decoding each weight block once. They
// require nb >= 1, rows >= 1 and every row to hold nb blocks, which
// dotSIMD checks. Their integer block sums are exact; see dot_amd64.s for
// how their float rounding relates to the pure-Go kernels'.

//go:noescape
func dotQ4KAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ4KX4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4KX4AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4KX8AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ6KX4AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ8_0X4AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ8_0X8AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4_0X4AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4_0X8AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5_0X8AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5_0X4AVX512(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5KX4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5KAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ6KAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ6KX4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ8_0X4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ4_0X4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ5_0X4AVX2(w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int)

//go:noescape
func dotQ8_0AVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ4_0AVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotQ5_0AVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

// The float kernels take nb values; the Gemm ones need a multiple of
// gemmStep(t).

//go:noescape
func dotF32VecAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotF16VecAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotBF16VecAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotF32GemmAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotF16GemmAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func dotBF16GemmAVX2(w *byte, wStride int, a *byte, nb int, out *float32, rows int)

//go:noescape
func f32ToF16AVX2(dst *byte, src *float32, n int)

// f16RowSIMD converts the first len(x)&^7 values of x to IEEE halves in
// dst with F16C and returns how many it converted (none without
// AVX2/F16C); the caller converts the rest.
func f16RowSIMD(x []float32, dst []byte) int {
	n := rowPrefix(len(x))
	if n > 0 {
		_ = dst[2*n-1]
		f32ToF16AVX2(&dst[0], &x[0], n)
	}
	return n
}

// rowPrefix is how many of n values the 8-lane row kernels take: the
// largest multiple of 8, or none without AVX2.
func rowPrefix(n int) int {
	if kernelLevel < levelAVX2 {
		return 0
	}
	return n &^ 7
}

//go:noescape
func scaleF32AVX2(x *float32, n int, s float32)

//go:noescape
func madF32AVX2(y, x *float32, n int, a float32)

// scaleRowSIMD sets x[i] *= s for the first len(x)&^7 values and returns
// how many it did (none without AVX2).
func scaleRowSIMD(x []float32, s float32) int {
	n := rowPrefix(len(x))
	if n > 0 {
		scaleF32AVX2(&x[0], n, s)
	}
	return n
}

// madRowSIMD sets y[i] = fma(x[i], a, y[i]) for the first n&^7 of n
// values and returns how many it did (none without AVX2).
func madRowSIMD(y, x []float32, n int, a float32) int {
	m := rowPrefix(n)
	if m > 0 {
		_, _ = y[m-1], x[m-1]
		madF32AVX2(&y[0], &x[0], m, a)
	}
	return m
}

//go:noescape
func expfAVX2(dst, src *float32, n int, k, sub float32)

// expfRowSIMD sets dst[i] = VecExpf(k*src[i] - sub) for the first
// len(src)&^7 values and returns how many it did (none without AVX2).
func expfRowSIMD(dst, src []float32, k, sub float32) int {
	n := rowPrefix(len(src))
	if n > 0 {
		_ = dst[n-1]
		expfAVX2(&dst[0], &src[0], n, k, sub)
	}
	return n
}

// dotSIMD computes DotMatrix with the assembly kernels of level lv and
// reports whether it did: false for a weight type without a kernel, or for
// levelGeneric. The caller has checked that the counts are positive, the
// strides not negative and the outputs within out; this checks the row
// sizes (panicking as Dot does).
func dotSIMD(lv level, t gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) bool {
	if lv < levelAVX2 {
		return false
	}
	var qk, wLen, aLen int
	switch t {
	case gguf.TypeQ4_K:
		qk, wLen, aLen = gguf.QK_K, gguf.BlockQ4_K, gguf.BlockQ8_K
	case gguf.TypeQ5_K:
		qk, wLen, aLen = gguf.QK_K, gguf.BlockQ5_K, gguf.BlockQ8_K
	case gguf.TypeQ6_K:
		qk, wLen, aLen = gguf.QK_K, gguf.BlockQ6_K, gguf.BlockQ8_K
	case gguf.TypeQ8_0:
		qk, wLen, aLen = gguf.QK8_0, gguf.BlockQ8_0, gguf.BlockQ8_0
	case gguf.TypeQ4_0:
		qk, wLen, aLen = gguf.QK8_0, gguf.BlockQ4_0, gguf.BlockQ8_0
	case gguf.TypeQ5_0:
		qk, wLen, aLen = gguf.QK8_0, gguf.BlockQ5_0, gguf.BlockQ8_0
	case gguf.TypeF32:
		qk, wLen, aLen = 1, 4, 4
	case gguf.TypeF16, gguf.TypeBF16:
		qk, wLen, aLen = 1, 2, 2
	default:
		return false
	}
	// The last rows start furthest in, so checking them checks them all.
	nb := rowBlocks(t, n, qk, wLen, aLen, w[(wRows-1)*wStride:], a[(aRows-1)*aStride:])
	if nb == 0 {
		for r := range aRows {
			clear(out[r*outStride : r*outStride+wRows])
		}
		return true
	}
	if order == GemmOrder && (t == gguf.TypeF32 || t == gguf.TypeF16 || t == gguf.TypeBF16) && nb%gemmStep(t) != 0 {
		return false
	}
	pw := &w[0]
	r := 0
	if lv >= levelAVX512 && t == gguf.TypeQ4_K {
		// Each weight block decoded once for eight activation rows
		// rather than twice for four.
		for ; r+8 <= aRows; r += 8 {
			dotQ4KX8AVX512(pw, wStride, wRows, &a[r*aStride], aStride, nb, &out[r*outStride], outStride)
		}
	}
	for ; r+4 <= aRows; r += 4 {
		if !dotX4(lv, t, w, wStride, wRows, &a[r*aStride], aStride, nb, out[r*outStride:], outStride) {
			break
		}
	}
	for ; r < aRows; r++ {
		pa, po := &a[r*aStride], &out[r*outStride]
		switch t {
		case gguf.TypeQ4_K:
			dotQ4KAVX2(pw, wStride, pa, nb, po, wRows)
		case gguf.TypeQ5_K:
			dotQ5KAVX2(pw, wStride, pa, nb, po, wRows)
		case gguf.TypeQ6_K:
			dotQ6KAVX2(pw, wStride, pa, nb, po, wRows)
		case gguf.TypeQ8_0:
			dotQ8_0AVX2(pw, wStride, pa, nb, po, wRows)
		case gguf.TypeQ4_0:
			dotQ4_0AVX2(pw, wStride, pa, nb, po, wRows)
		case gguf.TypeQ5_0:
			dotQ5_0AVX2(pw, wStride, pa, nb, po, wRows)
		case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
			dotFloatAVX2(t, order, pw, wStride, pa, nb, po, wRows)
		}
	}
	return true
}

// dotFloatAVX2 runs the float kernel for type t and order (called
// directly, not through a function value, so that out does not escape).
func dotFloatAVX2(t gguf.GGMLType, order SumOrder, w *byte, wStride int, a *byte, nb int, out *float32, rows int) {
	switch {
	case t == gguf.TypeF32 && order == GemmOrder:
		dotF32GemmAVX2(w, wStride, a, nb, out, rows)
	case t == gguf.TypeF32:
		dotF32VecAVX2(w, wStride, a, nb, out, rows)
	case t == gguf.TypeF16 && order == GemmOrder:
		dotF16GemmAVX2(w, wStride, a, nb, out, rows)
	case t == gguf.TypeF16:
		dotF16VecAVX2(w, wStride, a, nb, out, rows)
	case order == GemmOrder:
		dotBF16GemmAVX2(w, wStride, a, nb, out, rows)
	default:
		dotBF16VecAVX2(w, wStride, a, nb, out, rows)
	}
}

// dot32AVX512 runs the 32-value block type t's kernel for two weight rows
// at a time (a 2x4 tile, rows even) or for one (called directly, not
// through function values, so that out does not escape).
func dot32AVX512(t gguf.GGMLType, pairs bool, w *byte, wStride, rows int, a *byte, aStride, nb int, out *float32, outStride int) {
	switch {
	case t == gguf.TypeQ8_0 && pairs:
		dotQ8_0X8AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ8_0:
		dotQ8_0X4AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ4_0 && pairs:
		dotQ4_0X8AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ4_0:
		dotQ4_0X4AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
	case t == gguf.TypeQ5_0 && pairs:
		dotQ5_0X8AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
	default:
		dotQ5_0X4AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
	}
}

// dotX4 runs level lv's four-activation-row kernel for type t and reports
// whether t has one.
func dotX4(lv level, t gguf.GGMLType, wm []byte, wStride, rows int, a *byte, aStride, nb int, o []float32, outStride int) bool {
	w, out := &wm[0], &o[0]
	if lv >= levelAVX512 {
		switch t {
		case gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0:
			// Two weight rows at a time, then the odd one alone.
			even := rows &^ 1
			if even > 0 {
				dot32AVX512(t, true, w, wStride, even, a, aStride, nb, out, outStride)
			}
			if even < rows {
				dot32AVX512(t, false, &wm[even*wStride], wStride, 1, a, aStride, nb, &o[even], outStride)
			}
			return true
		case gguf.TypeQ4_K:
			dotQ4KX4AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
			return true
		case gguf.TypeQ6_K:
			dotQ6KX4AVX512(w, wStride, rows, a, aStride, nb, out, outStride)
			return true
		}
	}
	switch t {
	case gguf.TypeQ4_K:
		dotQ4KX4AVX2(w, wStride, rows, a, aStride, nb, out, outStride)
	case gguf.TypeQ5_K:
		dotQ5KX4AVX2(w, wStride, rows, a, aStride, nb, out, outStride)
	case gguf.TypeQ6_K:
		dotQ6KX4AVX2(w, wStride, rows, a, aStride, nb, out, outStride)
	case gguf.TypeQ8_0:
		dotQ8_0X4AVX2(w, wStride, rows, a, aStride, nb, out, outStride)
	case gguf.TypeQ4_0:
		dotQ4_0X4AVX2(w, wStride, rows, a, aStride, nb, out, outStride)
	case gguf.TypeQ5_0:
		dotQ5_0X4AVX2(w, wStride, rows, a, aStride, nb, out, outStride)
	default:
		return false
	}
	return true
}
