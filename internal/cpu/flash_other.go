//go:build !amd64 || purego

package cpu

import "github.com/quant-llm/quant/internal/gguf"

// flashF16SIMD accumulates nothing: this build has no assembly kernels.
func flashF16SIMD(acc16, v []byte, vStride int, ms, vs []float32) int { return 0 }

// flashF32SIMD accumulates nothing: this build has no assembly kernels.
func flashF32SIMD(acc, v []float32, vStride int, ms, vs []float32) int { return 0 }

// flashQuantSIMD accumulates nothing: this build has no assembly kernels.
func flashQuantSIMD(t gguf.GGMLType, acc []float32, v []byte, vStride int, ms, vs []float32) bool {
	return false
}

// expfSIMD computes nothing: this build has no assembly kernels.
func expfSIMD(dst, src []float32) int { return 0 }

// tileScoresSIMD computes nothing: this build has no assembly kernels.
func tileScoresSIMD(scores, qT, k []float32, hd, n int) bool { return false }

// rowDecoder is gguf.RowDecoder: this build has no assembly kernels.
func rowDecoder(t gguf.GGMLType) func(src []byte, dst []float32) { return gguf.RowDecoder(t) }
