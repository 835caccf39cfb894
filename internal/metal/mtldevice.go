package metal

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// mtlDevice is the Device on a real Metal GPU. It is written against
// objcRuntime only, so the same code runs on a fake runtime in the tests.
type mtlDevice struct {
	m *mtl

	// Set at creation, read-only after.
	dev, queue, library objcID
	name                string
	maxBuffer           int
	maxThreadgroupMem   int
	page                int

	// mu serialises everything but the getters above: the pipelines, the
	// buffers, the command buffers and the encoder state are shared.
	mu        sync.Mutex
	closed    bool
	pipelines map[string]*mtlPipeline
	buffers   []*mtlBuffer
	// cbs are the command buffers encoded and not yet finished (waited
	// for or discarded); running is the committed one among them.
	cbs     []*mtlCommandBuffer
	running *mtlCommandBuffer
	// argBufs are the argument buffers no command buffer uses.
	argBufs []*mtlBuffer
	enc     encoderState
}

// mtlBuffer is a shared-storage MTLBuffer whose contents the CPU reads and
// writes in place.
type mtlBuffer struct {
	obj  objcID
	data []byte
	dev  *mtlDevice
}

func (b *mtlBuffer) Contents() []byte { return b.data }

var errClosed = errors.New("device is closed")

// newMTLDevice opens the default Metal device, its command queue and the
// kernel library: from metallib, a precompiled library, when it is not
// empty, else compiled from the MSL source.
func newMTLDevice(rt objcRuntime, source string, metallib []byte) (*mtlDevice, error) {
	d := &mtlDevice{
		m:         newMTL(rt),
		page:      os.Getpagesize(),
		pipelines: map[string]*mtlPipeline{},
	}
	err := withPool(rt, func() error {
		d.dev = rt.createSystemDefaultDevice()
		if d.dev == 0 {
			return errors.New("no Metal device (MTLCreateSystemDefaultDevice returned nil)")
		}
		d.name = d.m.deviceName(d.dev)
		if f := d.m.appleFamily(d.dev); f > 0 {
			d.name += fmt.Sprintf(" (Apple%d)", f)
		}
		d.maxBuffer = int(d.m.maxBufferLength(d.dev))
		d.maxThreadgroupMem = int(d.m.maxThreadgroupMemoryLength(d.dev))
		d.queue = d.m.newCommandQueue(d.dev)
		if d.queue == 0 {
			return fmt.Errorf("%s: newCommandQueue returned nil", d.name)
		}
		var err error
		d.library, err = d.newLibrary(source, metallib)
		return err
	})
	if err != nil {
		d.releaseAll()
		return nil, fmt.Errorf("metal: %w", err)
	}
	return d, nil
}

// newLibrary loads the kernels. Call inside an autorelease pool: the NSError
// and the source NSString are autoreleased.
func (d *mtlDevice) newLibrary(source string, metallib []byte) (objcID, error) {
	var nsError objcID
	if len(metallib) > 0 {
		data := d.m.rt.dispatchDataCreate(unsafe.Pointer(&metallib[0]), uint(len(metallib)))
		if data == 0 {
			return 0, errors.New("dispatch_data_create returned nil")
		}
		lib := d.m.newLibraryWithData(d.dev, data, &nsError)
		d.m.rt.dispatchRelease(data)
		if lib == 0 {
			return 0, fmt.Errorf("load precompiled metallib (%d bytes): %s", len(metallib), d.describe(nsError))
		}
		return lib, nil
	}
	if source == "" {
		return 0, errors.New("no kernel source and no metallib")
	}
	// On success nsError may hold compiler warnings; only a nil library is
	// a failure.
	lib := d.m.newLibraryWithSource(d.dev, d.m.nsString(source), &nsError)
	if lib == 0 {
		return 0, fmt.Errorf("compile kernel source: %s", d.describe(nsError))
	}
	return lib, nil
}

// describe is an NSError's message, or a note that Metal gave none.
func (d *mtlDevice) describe(nsError objcID) string {
	if msg := d.m.errorMessage(nsError); msg != "" {
		return msg
	}
	return "failed without an NSError"
}

func (d *mtlDevice) Name() string         { return d.name }
func (d *mtlDevice) MaxBufferLength() int { return d.maxBuffer }

// NewBuffer allocates size bytes of shared storage, which Metal zeroes.
func (d *mtlDevice) NewBuffer(size int) (Buffer, error) {
	if size <= 0 || size > d.maxBuffer {
		return nil, fmt.Errorf("new buffer of %d bytes: size must be in [1, %d]", size, d.maxBuffer)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	b, err := d.newBuffer(size)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// newBuffer allocates size bytes of shared storage; call with d.mu held.
func (d *mtlDevice) newBuffer(size int) (*mtlBuffer, error) {
	obj := d.m.newBufferWithLength(d.dev, uint(size), resourceOptions)
	if obj == 0 {
		return nil, fmt.Errorf("new buffer of %d bytes: newBufferWithLength returned nil", size)
	}
	p := d.m.contents(obj)
	if p == nil {
		d.m.release(obj)
		return nil, fmt.Errorf("new buffer of %d bytes: no CPU-visible contents", size)
	}
	return d.keep(obj, unsafe.Slice((*byte)(p), size)), nil
}

// WrapNoCopy makes a shared-storage buffer over data in place. data must
// start on a page boundary. Metal also wants the length to be a whole
// number of pages, so the buffer covers data rounded up to the next page
// boundary. That never reaches past the caller's mapping: the bytes added
// lie in the page that holds data's last byte, and memory is mapped in
// whole pages (for a file mapping, those bytes past the end of the file
// read as zero). Contents returns data itself; the kernels never read past
// it. data must stay valid until Close.
func (d *mtlDevice) WrapNoCopy(data []byte) (Buffer, error) {
	if len(data) == 0 {
		return nil, errors.New("wrap an empty slice")
	}
	p := unsafe.Pointer(unsafe.SliceData(data))
	if uintptr(p)%uintptr(d.page) != 0 {
		return nil, fmt.Errorf("wrap %d bytes at %p: not aligned to the %d-byte page", len(data), p, d.page)
	}
	length := (len(data) + d.page - 1) / d.page * d.page
	if length > d.maxBuffer {
		return nil, fmt.Errorf("wrap %d bytes (%d rounded to pages): larger than the device's %d-byte buffers", len(data), length, d.maxBuffer)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	obj := d.m.newBufferWithBytesNoCopy(d.dev, p, uint(length), resourceOptions)
	if obj == 0 {
		return nil, fmt.Errorf("wrap %d bytes: newBufferWithBytesNoCopy returned nil", len(data))
	}
	return d.keep(obj, data), nil
}

// keep records a buffer, which lives until Close. Holding data here also
// keeps wrapped Go memory alive while the GPU may read it.
func (d *mtlDevice) keep(obj objcID, data []byte) *mtlBuffer {
	b := &mtlBuffer{obj: obj, data: data, dev: d}
	d.buffers = append(d.buffers, b)
	return b
}

// Close waits for the command buffer that runs, if any, and releases every
// Metal object the device made. Buffers from NewBuffer must not be used
// after it.
func (d *mtlDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.running != nil {
		_ = withPool(d.m.rt, func() error {
			d.m.waitUntilCompleted(d.running.obj)
			return nil
		})
	}
	for _, cb := range d.cbs {
		d.m.release(cb.obj)
	}
	d.cbs, d.running = nil, nil
	d.releaseAll()
	return nil
}

func (d *mtlDevice) releaseAll() {
	for _, p := range d.pipelines {
		d.m.release(p.obj)
	}
	clear(d.pipelines)
	for _, b := range d.buffers {
		d.m.release(b.obj)
		b.data = nil
	}
	d.buffers, d.argBufs = nil, nil
	for _, o := range []*objcID{&d.library, &d.queue, &d.dev} {
		if *o != 0 {
			d.m.release(*o)
			*o = 0
		}
	}
}
