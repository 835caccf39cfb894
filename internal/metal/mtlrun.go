package metal

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Metal limits a dispatch must respect. Metal checks them only with API
// validation on; without it a violation is undefined, so Encode checks
// first.
const (
	maxArgBytes           = 4096 // argument structs are small (setBytes' limit)
	maxBufferBindings     = 31   // entries in the buffer argument table
	maxThreadgroupArgs    = 8    // [[threadgroup(i)]] arguments a dispatch may set
	threadgroupMemoryUnit = 16   // threadgroup memory lengths are multiples of 16
	// argAlign aligns each dispatch's arguments in the argument buffer:
	// Metal wants offsets of buffers in the constant address space aligned
	// to 256 bytes on macOS.
	argAlign = 256
)

// mtlCommandBuffer is an encoded command buffer, retained by the device
// until it is waited for or discarded.
type mtlCommandBuffer struct {
	d          *mtlDevice
	obj        objcID
	args       *mtlBuffer // the dispatches' arguments, back to the device when done
	dispatches int
	committed  bool
}

// encoderState is what the compute encoder has bound: a dispatch sends
// only what differs, since bindings, pipeline and threadgroup memory
// lengths persist between the dispatches of an encoder. want is the
// dispatch's table, built in place so that setBuffers can read it.
type encoderState struct {
	pipeline objcID
	bufs     [maxBufferBindings]objcID
	offs     [maxBufferBindings]uint
	tg       [maxThreadgroupArgs]int

	wantBufs [maxBufferBindings]objcID
	wantOffs [maxBufferBindings]uint
}

// Encode checks ds against Metal's limits, then encodes it into one
// command buffer with one concurrent compute encoder. Each dispatch's
// arguments go into an argument buffer of the command buffer's own, bound
// at index 0 with the dispatch's buffers in one message.
func (d *mtlDevice) Encode(ds []Dispatch) (CommandBuffer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if len(ds) == 0 {
		return nil, errors.New("metal: a command buffer of no dispatches")
	}
	argBytes := 0
	for i := range ds {
		if err := d.check(&ds[i]); err != nil {
			return nil, fmt.Errorf("metal: dispatch %d (%s): %w", i, kernelName(ds[i].Pipeline), err)
		}
		argBytes += alignUp(len(ds[i].Args), argAlign)
	}
	// Everything that can fail happens before the encoder exists: an
	// encoder released without endEncoding aborts the process.
	args, err := d.argBuffer(argBytes)
	if err != nil {
		return nil, fmt.Errorf("metal: %w", err)
	}
	cb := &mtlCommandBuffer{d: d, args: args, dispatches: len(ds)}
	err = withPool(d.m.rt, func() error {
		obj := d.m.commandBuffer(d.queue)
		if obj == 0 {
			return errors.New("commandBuffer returned nil")
		}
		enc := d.m.computeCommandEncoder(obj, dispatchTypeConcurrent)
		if enc == 0 {
			return errors.New("computeCommandEncoderWithDispatchType returned nil")
		}
		d.m.retain(obj) // past this pool, until Wait or Discard
		cb.obj = obj
		d.enc = encoderState{}
		off := 0
		for i := range ds {
			d.encode(enc, &ds[i], args, off)
			off += alignUp(len(ds[i].Args), argAlign)
		}
		d.m.endEncoding(enc)
		return nil
	})
	if err != nil {
		d.argBufs = append(d.argBufs, args)
		return nil, fmt.Errorf("metal: %w", err)
	}
	d.cbs = append(d.cbs, cb)
	return cb, nil
}

func kernelName(p Pipeline) string {
	if p == nil {
		return "no pipeline"
	}
	return p.Kernel()
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// argBuffer returns an argument buffer of at least n bytes that no
// command buffer uses. Buffers come back when their command buffer is
// done, so decoding, which encodes one token ahead, cycles through two.
// Call with d.mu held.
func (d *mtlDevice) argBuffer(n int) (*mtlBuffer, error) {
	n = max(n, argAlign)
	for i, b := range d.argBufs {
		if len(b.data) >= n {
			d.argBufs = append(d.argBufs[:i], d.argBufs[i+1:]...)
			return b, nil
		}
	}
	// Round up so that a slightly longer pass does not make another one.
	size := 1 << bits.Len(uint(n-1))
	b, err := d.newBuffer(min(size, d.maxBuffer))
	if err != nil {
		return nil, fmt.Errorf("argument buffer: %w", err)
	}
	return b, nil
}

func (d *mtlDevice) check(ds *Dispatch) error {
	p, ok := ds.Pipeline.(*mtlPipeline)
	if !ok || p == nil || p.dev != d {
		return errors.New("the pipeline is not one of this device")
	}
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
		return fmt.Errorf("%d bytes of arguments, at most %d", len(ds.Args), maxArgBytes)
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
	if len(ds.Threadgroup) > maxThreadgroupArgs {
		return fmt.Errorf("%d threadgroup memory arguments, at most %d", len(ds.Threadgroup), maxThreadgroupArgs)
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

// encode records one checked dispatch, its arguments at off in args.
func (d *mtlDevice) encode(enc objcID, ds *Dispatch, args *mtlBuffer, off int) {
	m, st := d.m, &d.enc
	if ds.Barrier {
		m.memoryBarrier(enc, barrierScopeBuffers)
	}
	if p := ds.Pipeline.(*mtlPipeline); p.obj != st.pipeline {
		m.setComputePipelineState(enc, p.obj)
		st.pipeline = p.obj
	}

	// The binding table this dispatch wants, from index first on.
	first, n := 1, 1+len(ds.Buffers)
	if len(ds.Args) > 0 {
		first = 0
		copy(args.data[off:], ds.Args)
		st.wantBufs[0], st.wantOffs[0] = args.obj, uint(off)
	}
	for i, b := range ds.Buffers {
		st.wantBufs[i+1], st.wantOffs[i+1] = b.Buf.(*mtlBuffer).obj, uint(b.Off)
	}
	// Send the entries that differ from what is bound, as one range.
	lo, hi := -1, -1
	for i := first; i < n; i++ {
		if st.wantBufs[i] != st.bufs[i] || st.wantOffs[i] != st.offs[i] {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	switch {
	case lo < 0:
	case lo == hi && st.wantBufs[lo] == st.bufs[lo]:
		m.setBufferOffset(enc, st.wantOffs[lo], uint(lo))
	case lo == hi:
		m.setBuffer(enc, st.wantBufs[lo], st.wantOffs[lo], uint(lo))
	default:
		m.setBuffers(enc, st.wantBufs[lo:hi+1], st.wantOffs[lo:hi+1], uint(lo))
	}
	if lo >= 0 {
		copy(st.bufs[lo:hi+1], st.wantBufs[lo:hi+1])
		copy(st.offs[lo:hi+1], st.wantOffs[lo:hi+1])
	}

	for i, n := range ds.Threadgroup {
		if st.tg[i] != n {
			m.setThreadgroupMemoryLength(enc, uint(n), uint(i))
			st.tg[i] = n
		}
	}
	m.dispatchThreadgroups(enc, toMTLSize(ds.Grid), toMTLSize(ds.Group))
}

// Commit starts the command buffer. Buffers are untracked, so the command
// buffer committed before must have been waited for.
func (c *mtlCommandBuffer) Commit() error {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return errClosed
	case c.obj == 0 || c.committed:
		return errors.New("metal: commit of a command buffer already committed or discarded")
	case d.running != nil:
		return errors.New("metal: commit while another command buffer runs (wait for it first)")
	}
	c.committed = true
	d.running = c
	return withPool(d.m.rt, func() error {
		d.m.commit(c.obj)
		return nil
	})
}

// Wait waits for the committed command buffer, returns the GPU time it
// took, and releases it.
func (c *mtlCommandBuffer) Wait() (time.Duration, error) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return 0, errClosed
	case d.running != c:
		return 0, errors.New("metal: wait for a command buffer not running")
	}
	var elapsed time.Duration
	err := withPool(d.m.rt, func() error {
		d.m.waitUntilCompleted(c.obj)
		if err := d.completion(c.obj); err != nil {
			return fmt.Errorf("command buffer of %d dispatches: %w", c.dispatches, err)
		}
		elapsed = seconds(d.m.gpuTime(c.obj))
		return nil
	})
	d.running = nil
	d.finish(c)
	if err != nil {
		return 0, fmt.Errorf("metal: %w", err)
	}
	return elapsed, nil
}

// Discard releases a command buffer that was not committed.
func (c *mtlCommandBuffer) Discard() {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || c.obj == 0 || c.committed {
		return
	}
	d.finish(c)
}

// finish releases c and takes its argument buffer back; call with d.mu
// held.
func (d *mtlDevice) finish(c *mtlCommandBuffer) {
	d.m.release(c.obj)
	c.obj = 0
	d.argBufs = append(d.argBufs, c.args)
	for i, cb := range d.cbs {
		if cb == c {
			d.cbs = append(d.cbs[:i], d.cbs[i+1:]...)
			break
		}
	}
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
