//go:build mslemu

package metal

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/quant-llm/quant/internal/kernels/emu"
)

// EmulatedDevice replays dispatch records through the MSL emulator: the
// kernels' real source runs on the CPU, so the backend's whole dispatch
// sequence is checked on machines without a GPU.
type EmulatedDevice struct {
	Schedule emu.Schedule
	// Runs counts command buffers committed; Allocs counts buffers created.
	Runs, Allocs int
	running      *emuCommandBuffer
}

// emuBuffer is host memory standing in for a shared-storage MTLBuffer.
type emuBuffer struct{ data []byte }

func (b *emuBuffer) Contents() []byte { return b.data }

// emuPipeline is a kernel the emulator has.
type emuPipeline string

func (p emuPipeline) Kernel() string { return string(p) }

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

func (d *EmulatedDevice) Pipeline(kernel string) (Pipeline, error) {
	if !slices.Contains(emu.Kernels(), kernel) {
		return nil, fmt.Errorf("kernel %q is not in the library", kernel)
	}
	return emuPipeline(kernel), nil
}

// emuCommandBuffer holds copies of the dispatches until Commit runs them.
type emuCommandBuffer struct {
	d         *EmulatedDevice
	ds        []emu.Dispatch
	committed bool
	elapsed   time.Duration
	err       error
}

func (d *EmulatedDevice) Encode(ds []Dispatch) (CommandBuffer, error) {
	cb := &emuCommandBuffer{d: d}
	for _, rec := range ds {
		ed := emu.Dispatch{
			Kernel:      rec.Pipeline.Kernel(),
			Buffers:     map[int]emu.Binding{},
			Bytes:       map[int][]byte{0: slices.Clone(rec.Args)},
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
		cb.ds = append(cb.ds, ed)
	}
	return cb, nil
}

// Commit executes the dispatches in order. The emulator runs one dispatch
// at a time, which is stricter than needed, so barriers change nothing here.
func (c *emuCommandBuffer) Commit() error {
	d := c.d
	if c.committed || d.running != nil {
		return errors.New("emulated: commit of a command buffer committed before, or while another runs")
	}
	c.committed, d.running = true, c
	d.Runs++
	start := time.Now()
	for i, ed := range c.ds {
		if err := emu.Run(ed, d.Schedule); err != nil {
			c.err = fmt.Errorf("dispatch %d (%s): %w", i, ed.Kernel, err)
			break
		}
	}
	c.elapsed = time.Since(start)
	return nil
}

func (c *emuCommandBuffer) Wait() (time.Duration, error) {
	if c.d.running != c {
		return 0, errors.New("emulated: wait for a command buffer not running")
	}
	c.d.running = nil
	return c.elapsed, c.err
}

func (c *emuCommandBuffer) Discard() {}

func (d *EmulatedDevice) Close() error { return nil }
