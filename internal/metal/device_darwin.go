//go:build darwin

package metal

import "fmt"

// NewDevice opens the system's default Metal device with the kernels from
// metallib, a precompiled library, when it is not empty, else compiled from
// the MSL source.
func NewDevice(source string, metallib []byte) (Device, error) {
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
