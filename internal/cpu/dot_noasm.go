//go:build (!amd64 && !arm64) || purego

package cpu

import "github.com/quant-llm/quant/internal/gguf"

// supportedLevel is levelGeneric: this build has no assembly kernels.
func supportedLevel() level { return levelGeneric }

// dotSIMD reports false: this build has no assembly kernels, and Dot and
// DotMatrix use the pure-Go ones.
func dotSIMD(lv level, t gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) bool {
	return false
}
