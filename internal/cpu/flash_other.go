//go:build !amd64 || purego

package cpu

import "github.com/quant-llm/quant/internal/gguf"

// madF16RowSIMD computes nothing: this build has no assembly kernels.
func madF16RowSIMD(y, x []byte, a float32) int { return 0 }

// scaleF16RowSIMD scales nothing: this build has no assembly kernels.
func scaleF16RowSIMD(y []byte, s float32) int { return 0 }

// rowDecoder is gguf.RowDecoder: this build has no assembly kernels.
func rowDecoder(t gguf.GGMLType) func(src []byte, dst []float32) { return gguf.RowDecoder(t) }
