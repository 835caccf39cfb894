//go:build amd64 && !purego

package cpu

import "github.com/quant-llm/quant/internal/gguf"

//go:noescape
func madF16AVX2(y, x *byte, n int, a float32)

//go:noescape
func scaleF16AVX2(y *byte, n int, s float32)

// madF16RowSIMD sets y[i] = half(fma(x[i], a, y[i])) for the first
// len(y)&^7 halves (little-endian bytes) and returns how many it did (none
// without AVX2).
func madF16RowSIMD(y, x []byte, a float32) int {
	n := rowPrefix(len(y) / 2)
	if n > 0 {
		_ = x[2*n-1]
		madF16AVX2(&y[0], &x[0], n, a)
	}
	return n
}

// scaleF16RowSIMD sets y[i] = half(y[i]*s) for the first len(y)&^7 halves
// and returns how many it did (none without AVX2).
func scaleF16RowSIMD(y []byte, s float32) int {
	n := rowPrefix(len(y) / 2)
	if n > 0 {
		scaleF16AVX2(&y[0], n, s)
	}
	return n
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
