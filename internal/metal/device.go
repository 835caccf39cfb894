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

// Pipeline is a kernel of the device's library made ready to dispatch:
// the backend makes every pipeline it uses at load, because making one can
// take milliseconds.
type Pipeline interface {
	Kernel() string
}

// Dispatch is one compute dispatch.
type Dispatch struct {
	Pipeline Pipeline
	// Args is the constant argument struct, bound at [[buffer(0)]].
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

// Device creates buffers and pipelines, and encodes and runs dispatches.
//
// Buffers are not tracked for hazards: within a command buffer the
// Barrier flags order the dispatches, and a command buffer is committed
// only after the one committed before it has been waited for, which every
// device checks.
type Device interface {
	Name() string
	// MaxBufferLength is the largest buffer the device can create.
	MaxBufferLength() int
	// NewBuffer allocates a zeroed shared-storage buffer.
	NewBuffer(size int) (Buffer, error)
	// WrapNoCopy makes a buffer over data in place; data must be page aligned.
	WrapNoCopy(data []byte) (Buffer, error)
	// Pipeline makes the pipeline of a kernel of the library.
	Pipeline(kernel string) (Pipeline, error)
	// Encode encodes ds into one command buffer, which runs once
	// committed. ds and what it refers to may change as soon as Encode
	// returns; the buffers' contents are read when the work runs.
	Encode(ds []Dispatch) (CommandBuffer, error)
	Close() error
}

// CommandBuffer is encoded work. Commit it and Wait for it, or Discard it
// uncommitted.
type CommandBuffer interface {
	// Commit starts the work.
	Commit() error
	// Wait waits for committed work to finish and returns the GPU time it
	// took.
	Wait() (time.Duration, error)
	// Discard drops work that was not committed.
	Discard()
}

// run encodes ds, commits the command buffer and waits for it.
func run(d Device, ds []Dispatch) (time.Duration, error) {
	cb, err := d.Encode(ds)
	if err != nil {
		return 0, err
	}
	if err := cb.Commit(); err != nil {
		cb.Discard()
		return 0, err
	}
	return cb.Wait()
}

// Precompiled reports whether the binary embeds the kernels precompiled (a
// metallib, built on a Mac); without one, NewDevice compiles their source.
func Precompiled() bool { return len(kernels.Metallib()) > 0 }
