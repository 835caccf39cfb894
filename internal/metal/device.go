// Package metal is the Apple GPU backend. The backend (backend.go) turns
// each forward-pass operation into dispatch records; a Device replays them:
// the real one through Metal (darwin, purego), the emulated one through the
// MSL emulator (Linux tests, build tag mslemu). Everything above Device is
// the same code on both.
package metal

import (
	"time"

	"github.com/quant-llm/quant/internal/kernels"
)

// Buffer is a GPU buffer in shared storage: the CPU reads and writes its
// contents directly. Implementations must be comparable (pointers): the
// backend tracks hazards per buffer.
type Buffer interface {
	Contents() []byte
}

// Binding is a buffer bound at an offset in bytes.
type Binding struct {
	Buf Buffer
	Off int
}

// Dispatch is one compute dispatch.
type Dispatch struct {
	Kernel string
	// Args is the constant argument struct, set with setBytes at [[buffer(0)]].
	Args []byte
	// Buffers are bound at [[buffer(1)]], [[buffer(2)]], ...
	Buffers []Binding
	// Threadgroup holds the byte length of each [[threadgroup(i)]] argument.
	Threadgroup []int
	// Grid counts threadgroups; Group counts threads per threadgroup.
	Grid, Group [3]int
	// Barrier makes this dispatch wait for the writes of earlier ones.
	Barrier bool
}

// Device creates buffers and runs recorded dispatches.
type Device interface {
	Name() string
	// MaxBufferLength is the largest buffer the device can create.
	MaxBufferLength() int
	// NewBuffer allocates a zeroed shared-storage buffer.
	NewBuffer(size int) (Buffer, error)
	// WrapNoCopy makes a buffer over data in place; data must be page aligned.
	WrapNoCopy(data []byte) (Buffer, error)
	// Run encodes ds into one command buffer, commits it, waits for it and
	// returns the GPU time it took.
	Run(ds []Dispatch) (time.Duration, error)
	Close() error
}

// Precompiled reports whether the binary embeds the kernels precompiled (a
// metallib, built on a Mac); without one, NewDevice compiles their source.
func Precompiled() bool { return len(kernels.Metallib()) > 0 }
