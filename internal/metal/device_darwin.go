//go:build darwin

package metal

import (
	"fmt"

	"github.com/quant-llm/quant/internal/kernels"
)

// NewDevice opens the system's default Metal device with the kernels of
// package kernels: the precompiled library when the binary embeds one, else
// compiled from their source.
func NewDevice() (Device, error) {
	return newDevice(kernels.Source(), kernels.Metallib())
}

// newDevice opens the default device with the kernels from metallib, a
// precompiled library, when it is not empty, else compiled from source.
func newDevice(source string, metallib []byte) (Device, error) {
	rt, err := loadLibobjc()
	if err != nil {
		return nil, fmt.Errorf("metal: %w", err)
	}
	return newMTLDevice(rt, source, metallib)
}

// Available reports whether the system has a Metal device.
func Available() bool {
	rt, err := loadLibobjc()
	if err != nil {
		return false
	}
	found := false
	_ = withPool(rt, func() error {
		if dev := rt.createSystemDefaultDevice(); dev != 0 {
			found = true
			newMTL(rt).release(dev)
		}
		return nil
	})
	return found
}
