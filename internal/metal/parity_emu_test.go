//go:build mslemu

package metal

import (
	"testing"

	"github.com/quant-llm/quant/internal/kernels/emu"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestEmulatedMatchesCPU runs the Metal backend's dispatches through the MSL
// emulator for every test model and compares with the CPU backend.
func TestEmulatedMatchesCPU(t *testing.T) {
	checkParity(t, func(t *testing.T) Device {
		return &EmulatedDevice{Schedule: emu.Schedule{Order: emu.Forward, Workers: 2}}
	}, testdata.Models(t))
}
