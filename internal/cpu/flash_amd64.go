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
func decodeQ8_0AVX2(dst *float32, src *byte, blocks int)

//go:noescape
func decodeQ4_0AVX2(dst *float32, src *byte, blocks int)

// rowDecoder is gguf.RowDecoder(t) with AVX2 kernels for the cache types
// whose rows flash attention decodes most (q8_0, q4_0).
func rowDecoder(t gguf.GGMLType) func(src []byte, dst []float32) {
	var kernel func(dst *float32, src *byte, blocks int)
	switch t {
	case gguf.TypeQ8_0:
		kernel = decodeQ8_0AVX2
	case gguf.TypeQ4_0:
		kernel = decodeQ4_0AVX2
	}
	if kernel == nil || rowPrefix(8) == 0 {
		return gguf.RowDecoder(t)
	}
	size := t.BlockBytes()
	return func(src []byte, dst []float32) {
		blocks := len(dst) / gguf.QK8_0
		if blocks > 0 {
			_ = src[blocks*size-1]
			kernel(&dst[0], &src[0], blocks)
		}
	}
}
