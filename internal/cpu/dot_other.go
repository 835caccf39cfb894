//go:build !amd64 || purego

package cpu

import "github.com/quant-llm/quant/internal/gguf"

// dotSIMD reports false: this build has no assembly kernels, and Dot and
// DotMatrix use the pure-Go ones.
func dotSIMD(t gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) bool {
	return false
}
