package metal

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Metal limits a dispatch must respect. Metal checks them only with API
// validation on; without it a violation is undefined, so Run checks first.
const (
	maxArgBytes           = 4096 // setBytes is for data under 4 KiB
	maxBufferBindings     = 31   // entries in the buffer argument table
	threadgroupMemoryUnit = 16   // threadgroup memory lengths are multiples of 16
)

// Run encodes ds into one command buffer with one concurrent compute
// encoder, commits it, waits for it and returns the GPU time it took.
func (d *mtlDevice) Run(ds []Dispatch) (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, errClosed
	}
	if len(ds) == 0 {
		return 0, nil
	}
	var elapsed time.Duration
	err := withPool(d.m.rt, func() error {
		// Everything that can fail happens before the encoder exists: an
		// encoder released without endEncoding aborts the process.
		pipes, err := d.prepare(ds)
		if err != nil {
			return err
		}
		cb := d.m.commandBuffer(d.queue)
		if cb == 0 {
			return errors.New("commandBuffer returned nil")
		}
		enc := d.m.computeCommandEncoder(cb, dispatchTypeConcurrent)
		if enc == 0 {
			return errors.New("computeCommandEncoderWithDispatchType returned nil")
		}
		for i := range ds {
			d.encode(enc, &ds[i], pipes[i])
		}
		d.m.endEncoding(enc)
		d.m.commit(cb)
		d.m.waitUntilCompleted(cb)
		if err := d.completion(cb); err != nil {
			return fmt.Errorf("command buffer of %d dispatches: %w", len(ds), err)
		}
		elapsed = seconds(d.m.gpuTime(cb))
		return nil
	})
	return elapsed, err
}

// prepare finds each dispatch's pipeline and checks the dispatch against
// Metal's limits.
func (d *mtlDevice) prepare(ds []Dispatch) ([]pipeline, error) {
	pipes := d.scratch[:0]
	for i := range ds {
		p, err := d.pipelineFor(ds[i].Kernel)
		if err == nil {
			err = d.check(&ds[i], p)
		}
		if err != nil {
			return nil, fmt.Errorf("dispatch %d (%s): %w", i, ds[i].Kernel, err)
		}
		pipes = append(pipes, p)
	}
	d.scratch = pipes
	return pipes, nil
}

func (d *mtlDevice) check(ds *Dispatch, p pipeline) error {
	threads := 1
	for k := range 3 {
		if ds.Grid[k] < 1 || ds.Group[k] < 1 {
			return fmt.Errorf("grid %v of groups %v: every size must be at least 1", ds.Grid, ds.Group)
		}
		threads *= ds.Group[k]
	}
	if threads > p.maxThreads {
		return fmt.Errorf("%d threads per threadgroup %v, the pipeline allows %d", threads, ds.Group, p.maxThreads)
	}
	if len(ds.Args) > maxArgBytes {
		return fmt.Errorf("%d bytes of arguments, setBytes takes at most %d", len(ds.Args), maxArgBytes)
	}
	if 1+len(ds.Buffers) > maxBufferBindings {
		return fmt.Errorf("%d buffers, Metal binds at most %d after the arguments", len(ds.Buffers), maxBufferBindings-1)
	}
	for i, b := range ds.Buffers {
		buf, ok := b.Buf.(*mtlBuffer)
		if !ok || buf == nil || buf.dev != d {
			return fmt.Errorf("buffer %d is not a buffer of this device", i+1)
		}
		if b.Off < 0 || b.Off >= len(buf.data) {
			return fmt.Errorf("buffer %d: offset %d outside its %d bytes", i+1, b.Off, len(buf.data))
		}
	}
	total := 0
	for i, n := range ds.Threadgroup {
		if n <= 0 || n%threadgroupMemoryUnit != 0 {
			return fmt.Errorf("threadgroup memory %d: %d bytes, must be a positive multiple of %d", i, n, threadgroupMemoryUnit)
		}
		total += n
	}
	if total > d.maxThreadgroupMem {
		return fmt.Errorf("%d bytes of threadgroup memory, the device has %d", total, d.maxThreadgroupMem)
	}
	return nil
}

// encode records one checked dispatch.
func (d *mtlDevice) encode(enc objcID, ds *Dispatch, p pipeline) {
	m := d.m
	if ds.Barrier {
		m.memoryBarrier(enc, barrierScopeBuffers)
	}
	m.setComputePipelineState(enc, p.obj)
	if len(ds.Args) > 0 {
		m.setBytes(enc, unsafe.Pointer(&ds.Args[0]), uint(len(ds.Args)), 0)
	}
	for i, b := range ds.Buffers {
		m.setBuffer(enc, b.Buf.(*mtlBuffer).obj, uint(b.Off), uint(i+1))
	}
	for i, n := range ds.Threadgroup {
		m.setThreadgroupMemoryLength(enc, uint(n), uint(i))
	}
	m.dispatchThreadgroups(enc, toMTLSize(ds.Grid), toMTLSize(ds.Group))
}

// completion turns a finished command buffer's status into an error.
func (d *mtlDevice) completion(cb objcID) error {
	switch st := d.m.status(cb); st {
	case commandBufferStatusCompleted:
		return nil
	case commandBufferStatusError:
		return errors.New(d.describe(d.m.commandBufferError(cb)))
	default:
		return fmt.Errorf("finished with status %d", st)
	}
}

func toMTLSize(s [3]int) mtlSize {
	return mtlSize{width: uint(s[0]), height: uint(s[1]), depth: uint(s[2])}
}

func seconds(s float64) time.Duration {
	if s <= 0 || math.IsNaN(s) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
