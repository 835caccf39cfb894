//go:build !amd64 || purego

package cpu

import "github.com/quant-llm/quant/internal/gguf"

// supportedLevel is levelGeneric: this build has no assembly kernels.
func supportedLevel() level { return levelGeneric }

// dotSIMD reports false: this build has no assembly kernels, and Dot and
// DotMatrix use the pure-Go ones.
func dotSIMD(lv level, t gguf.GGMLType, order SumOrder, n int, w []byte, wStride, wRows int, a []byte, aStride, aRows int, out []float32, outStride int) bool {
	return false
}

// f16RowSIMD converts nothing: this build has no assembly kernels.
func f16RowSIMD(x []float32, dst []byte) int { return 0 }

// expfRowSIMD computes nothing: this build has no assembly kernels.
func expfRowSIMD(dst, src []float32, k, sub float32) int { return 0 }

// scaleRowSIMD scales nothing: this build has no assembly kernels.
func scaleRowSIMD(x []float32, s float32) int { return 0 }

// madRowSIMD computes nothing: this build has no assembly kernels.
func madRowSIMD(y, x []float32, n int, a float32) int { return 0 }
