//go:build mslemu

package metal

import (
	"testing"

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
