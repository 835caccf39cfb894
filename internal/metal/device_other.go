//go:build !darwin

package metal

import (
	"fmt"
	"runtime"
)

// NewDevice fails: Metal exists only on Apple platforms.
func NewDevice() (Device, error) {
	return nil, fmt.Errorf("Metal is not available on this platform (%s/%s)", runtime.GOOS, runtime.GOARCH)
}

// Available reports whether the system has a Metal device: never here.
func Available() bool { return false }
