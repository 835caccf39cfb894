package kernels

import "embed"

//go:embed metallib
var metallib embed.FS

// Metallib returns the precompiled library embedded at build time, or nil
// when none was built (the source is then compiled at start-up).
func Metallib() []byte {
	b, err := metallib.ReadFile("metallib/default.metallib")
	if err != nil {
		return nil
	}
	return b
}
