//go:build amd64 && !purego

package cpu

import "github.com/quant-llm/quant/internal/gguf"

// The flash kernels accumulate a strip of 64 (or, the x8 ones, 8) of a
// head's dimensions over n >= 1 positions; see flash_amd64.s.

//go:noescape
func flashF16AVX2(acc, v *byte, vStride, n int, ms, vs *float32)

//go:noescape
func flashF16x8AVX2(acc, v *byte, vStride, n int, ms, vs *float32)

//go:noescape
func flashF32AVX2(acc, v *float32, vStride, n int, ms, vs *float32)

//go:noescape
func flashF32x8AVX2(acc, v *float32, vStride, n int, ms, vs *float32)

//go:noescape
func flashQ8_0AVX2(acc *float32, v *byte, vStride, n int, ms, vs *float32)

//go:noescape
func flashQ8_0x32AVX2(acc *float32, v *byte, vStride, n int, ms, vs *float32)

//go:noescape
func flashQ4_0AVX2(acc *float32, v *byte, vStride, n int, ms, vs *float32)

//go:noescape
func flashQ4_0x32AVX2(acc *float32, v *byte, vStride, n int, ms, vs *float32)

// flashQuantSIMD accumulates a quantized value cache (len(ms) positions,
// vStride bytes apart in v) into acc as accumulateF32 does with the decoded
// values, and reports whether it did: false for a type without a kernel,
// or without AVX2.
func flashQuantSIMD(t gguf.GGMLType, acc []float32, v []byte, vStride int, ms, vs []float32) bool {
	hd, n := len(acc), len(ms)
	if rowPrefix(hd) == 0 || hd%gguf.QK8_0 != 0 || n == 0 {
		return false
	}
	var k64, k32 func(acc *float32, v *byte, vStride, n int, ms, vs *float32)
	switch t {
	case gguf.TypeQ8_0:
		k64, k32 = flashQ8_0AVX2, flashQ8_0x32AVX2
	case gguf.TypeQ4_0:
		k64, k32 = flashQ4_0AVX2, flashQ4_0x32AVX2
	default:
		return false
	}
	size := t.BlockBytes()
	_, _ = vs[n-1], v[(n-1)*vStride+hd/gguf.QK8_0*size-1]
	i := 0
	for ; i+64 <= hd; i += 64 {
		k64(&acc[i], &v[i/gguf.QK8_0*size], vStride, n, &ms[0], &vs[0])
	}
	if i < hd {
		k32(&acc[i], &v[i/gguf.QK8_0*size], vStride, n, &ms[0], &vs[0])
	}
	return true
}

// flashF16SIMD runs accumulateF16 for the first hd&^7 of the accumulator's
// hd dimensions and returns how many it did (none without AVX2).
func flashF16SIMD(acc16, v []byte, vStride int, ms, vs []float32) int {
	hd := rowPrefix(len(acc16) / 2)
	n := len(ms)
	if hd == 0 || n == 0 {
		return 0
	}
	_, _ = vs[n-1], v[(n-1)*vStride+2*hd-1]
	i := 0
	for ; i+64 <= hd; i += 64 {
		flashF16AVX2(&acc16[2*i], &v[2*i], vStride, n, &ms[0], &vs[0])
	}
	for ; i < hd; i += 8 {
		flashF16x8AVX2(&acc16[2*i], &v[2*i], vStride, n, &ms[0], &vs[0])
	}
	return hd
}

// flashF32SIMD runs accumulateF32 for the first hd&^7 of the accumulator's
// hd dimensions and returns how many it did (none without AVX2).
func flashF32SIMD(acc, v []float32, vStride int, ms, vs []float32) int {
	hd := rowPrefix(len(acc))
	n := len(ms)
	if hd == 0 || n == 0 {
		return 0
	}
	_, _ = vs[n-1], v[(n-1)*vStride+hd-1]
	i := 0
	for ; i+64 <= hd; i += 64 {
		flashF32AVX2(&acc[i], &v[i], 4*vStride, n, &ms[0], &vs[0])
	}
	for ; i < hd; i += 8 {
		flashF32x8AVX2(&acc[i], &v[i], 4*vStride, n, &ms[0], &vs[0])
	}
	return hd
}

//go:noescape
func expfGlibcAVX2(dst, src *float32, n int) int

// expfSIMD sets dst[i] = Expf(src[i]) from the start of src up to the first
// group of four holding one of Expf's special cases (|x| >= 88, NaN) or to
// the last whole group, and returns how many it did (none without AVX2).
func expfSIMD(dst, src []float32) int {
	n := len(src) &^ 3
	if n == 0 || rowPrefix(8) == 0 {
		return 0
	}
	_ = dst[n-1]
	return expfGlibcAVX2(&dst[0], &src[0], n)
}

//go:noescape
func tileScoresAVX2(scores, qT, k *float32, hd, n int)

// tileScoresSIMD runs tileScores with AVX2 and reports whether it did.
func tileScoresSIMD(scores, qT, k []float32, hd, n int) bool {
	if rowPrefix(8) == 0 || hd == 0 || n == 0 {
		return false
	}
	_, _, _ = scores[n*flashTile-1], qT[hd*flashTile-1], k[n*hd-1]
	tileScoresAVX2(&scores[0], &qT[0], &k[0], hd, n)
	return true
}

//go:noescape
func decodeF16AVX2(dst *float32, src *byte, n int)

//go:noescape
func decodeBF16AVX2(dst *float32, src *byte, n int)

// rowDecoder is gguf.RowDecoder(t) with AVX2 kernels for f16 and bf16
// (the quantized types q8_0 and q4_0 have flash kernels that decode as
// they add).
func rowDecoder(t gguf.GGMLType) func(src []byte, dst []float32) {
	var kernel func(dst *float32, src *byte, n int)
	switch t {
	case gguf.TypeF16:
		kernel = decodeF16AVX2
	case gguf.TypeBF16:
		kernel = decodeBF16AVX2
	}
	if kernel == nil || rowPrefix(8) == 0 {
		return gguf.RowDecoder(t)
	}
	rest := gguf.RowDecoder(t)
	return func(src []byte, dst []float32) {
		n := rowPrefix(len(dst))
		if n > 0 {
			_ = src[2*n-1]
			kernel(&dst[0], &src[0], n)
		}
		if n < len(dst) {
			rest(src[2*n:], dst[n:])
		}
	}
}
