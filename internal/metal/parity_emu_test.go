//go:build mslemu

package metal

import (
	"errors"
	"math"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/kernels/emu"
	"github.com/quant-llm/quant/internal/testdata"
)

// emulated is the device of the emulated parity tests.
func emulated(t *testing.T) Device {
	return &EmulatedDevice{Schedule: emu.Schedule{Order: emu.Forward, Workers: 2}}
}

// TestEmulatedMatchesCPU runs the Metal backend's dispatches through the MSL
// emulator for every test model and compares with the CPU backend.
func TestEmulatedMatchesCPU(t *testing.T) {
	checkParity(t, emulated, testdata.Models(t))
}

// TestEmulatedQwen35MatchesCPU does the same for the tiny Qwen3.5 models.
func TestEmulatedQwen35MatchesCPU(t *testing.T) {
	checkQwen35Parity(t, emulated)
}

// TestEmulatedRunnersShareBackend checks two runners on one emulated backend.
func TestEmulatedRunnersShareBackend(t *testing.T) {
	checkSharedBackend(t, emulated)
}

// TestEmulatedCacheMatchesCPU checks the quantized KV caches against the
// CPU's and llama.cpp's.
func TestEmulatedCacheMatchesCPU(t *testing.T) {
	checkCacheParity(t, emulated)
}

// TestEmulatedNonFiniteGreedy: with the token picked on the GPU, logits
// that are not finite (the output norm's weights made NaN) are still a
// NonFiniteError naming the position.
func TestEmulatedNonFiniteGreedy(t *testing.T) {
	m := enginetest.Open(t, testdata.Path(t, "models", "stories260K.gguf"))
	b := newBackend(t, emulated(t), m)
	r := enginetest.Runner(t, m, b, engine.Options{Context: 16, Batch: 16})
	norm := b.prepared(m.OutputNorm).bind
	nan := float32s(norm.Buf.Contents()[norm.Off : norm.Off+len(m.OutputNorm.Data)])
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	if _, err := r.Forward([]int32{1, 2, 3}, 0); err != nil {
		t.Fatal(err)
	}
	dec := r.Decoder(true)
	defer dec.Close()
	_, err := dec.NextGreedy(4, 3)
	var nf *engine.NonFiniteError
	if !errors.As(err, &nf) || nf.Pos != 3 {
		t.Errorf("%v, want a NonFiniteError at position 3", err)
	}
}
