//go:build darwin

package metal

import (
	"testing"

	"github.com/quant-llm/quant/internal/testdata"
)

// TestMetalMatchesCPU runs every test model on the real GPU against the CPU
// backend. It needs a Mac with a Metal device (make bench-metal runs it).
func TestMetalMatchesCPU(t *testing.T) {
	checkParity(t, metalDevice(t), testdata.Models(t))
}

// TestMetalQwen35MatchesCPU does the same for the tiny Qwen3.5 models.
func TestMetalQwen35MatchesCPU(t *testing.T) {
	checkQwen35Parity(t, metalDevice(t))
}

// TestMetalCacheMatchesCPU does the same for the quantized KV caches.
func TestMetalCacheMatchesCPU(t *testing.T) {
	checkCacheParity(t, metalDevice(t))
}

// TestMetalRunnersShareBackend checks two runners on one Metal backend.
func TestMetalRunnersShareBackend(t *testing.T) {
	checkSharedBackend(t, metalDevice(t))
}

// metalDevice skips the test without a Metal device and returns a
// constructor of real devices.
func metalDevice(t *testing.T) func(t *testing.T) Device {
	if !Available() {
		t.Skip("no Metal device")
	}
	return func(t *testing.T) Device {
		dev, err := NewDevice()
		if err != nil {
			t.Fatal(err)
		}
		return dev
	}
}
