//go:build darwin

package metal

import (
	"testing"

	"github.com/quant-llm/quant/internal/kernels"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestMetalMatchesCPU runs every test model on the real GPU against the CPU
// backend. It needs a Mac with a Metal device (make bench-metal runs it).
func TestMetalMatchesCPU(t *testing.T) {
	if !Available() {
		t.Skip("no Metal device")
	}
	checkParity(t, func(t *testing.T) Device {
		dev, err := NewDevice(kernels.Source(), kernels.Metallib())
		if err != nil {
			t.Fatal(err)
		}
		return dev
	}, testdata.Models(t))
}
