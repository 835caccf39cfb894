//go:build mslemu

package metal

import (
	"fmt"
	"time"

	"github.com/quant-llm/quant/internal/kernels/emu"
)

// EmulatedDevice replays dispatch records through the MSL emulator: the
// kernels' real source runs on the CPU, so the backend's whole dispatch
// sequence is checked on machines without a GPU.
type EmulatedDevice struct {
	Schedule emu.Schedule
	// Runs counts command buffers; Allocs counts buffers created.
	Runs, Allocs int
}

// emuBuffer is host memory standing in for a shared-storage MTLBuffer.
type emuBuffer struct{ data []byte }

func (b *emuBuffer) Contents() []byte { return b.data }

func (d *EmulatedDevice) Name() string { return "emulated" }

// MaxBufferLength matches current Apple GPUs' limit order of magnitude.
func (d *EmulatedDevice) MaxBufferLength() int { return 1 << 32 }

func (d *EmulatedDevice) NewBuffer(size int) (Buffer, error) {
	d.Allocs++
	return &emuBuffer{make([]byte, size)}, nil
}

// WrapNoCopy copies after all: the emulator writes every bound buffer back
// after a dispatch, which a read-only file mapping would not survive.
func (d *EmulatedDevice) WrapNoCopy(data []byte) (Buffer, error) {
	return &emuBuffer{append([]byte(nil), data...)}, nil
}

// Run executes the dispatches in order. The emulator runs one dispatch at a
// time, which is stricter than needed, so barriers change nothing here.
func (d *EmulatedDevice) Run(ds []Dispatch) (time.Duration, error) {
	d.Runs++
	start := time.Now()
	for i, rec := range ds {
		ed := emu.Dispatch{
			Kernel:      rec.Kernel,
			Buffers:     map[int]emu.Binding{},
			Bytes:       map[int][]byte{0: rec.Args},
			Threadgroup: map[int]int{},
			Grid:        rec.Grid,
			Group:       rec.Group,
		}
		for j, b := range rec.Buffers {
			ed.Buffers[j+1] = emu.Binding{Data: b.Buf.Contents(), Offset: b.Off}
		}
		for j, n := range rec.Threadgroup {
			ed.Threadgroup[j] = n
		}
		if err := emu.Run(ed, d.Schedule); err != nil {
			return 0, fmt.Errorf("dispatch %d (%s): %w", i, rec.Kernel, err)
		}
	}
	return time.Since(start), nil
}

func (d *EmulatedDevice) Close() error { return nil }
