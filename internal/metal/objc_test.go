package metal

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/quant-llm/quant/internal/kernels"
)

// These tests drive the real device code through fakeRuntime, which checks
// each message against Metal's declarations (objc_fake_test.go).

const testSource = "kernel void kernel_add() {}"

func openFake(t *testing.T, f *fakeRuntime) *mtlDevice {
	t.Helper()
	d, err := newMTLDevice(f, testSource, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.page = int(f.page) // the fake plays Apple Silicon's 16 KiB pages
	return d
}

// closeAndCheck closes d and fails if any Metal object or pool outlived it.
func closeAndCheck(t *testing.T, f *fakeRuntime, d *mtlDevice) {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if l := f.leaks(); len(l) > 0 {
		t.Errorf("alive after Close: %v", l)
	}
}

func selectors(f *fakeRuntime, from int) []string {
	var out []string
	for _, c := range f.calls[from:] {
		out = append(out, c.sel)
	}
	return out
}

// pageAligned returns n bytes starting on a page, with room after them up
// to the next page boundary, as a file mapping has.
func pageAligned(n, page int) []byte {
	buf := make([]byte, n+2*page)
	off := (page - int(uintptr(unsafe.Pointer(&buf[0]))%uintptr(page))) % page
	return buf[off : off+n]
}

func TestMetalAPITable(t *testing.T) {
	known := map[string]bool{}
	for _, cs := range conformsTo {
		for _, c := range cs {
			known[c] = true
		}
	}
	for name, m := range metalAPI {
		if n := strings.Count(name, ":"); n != len(m.args) {
			t.Errorf("%s: %d argument kinds for %d colons", name, len(m.args), n)
		}
		if !known[m.recv] {
			t.Errorf("%s: receiver %s is no fake class", name, m.recv)
		}
	}
}

// Every selector field of mtl is registered, once, with a name of the API.
func TestSelectorsRegisteredOnce(t *testing.T) {
	f := newFakeRuntime(t)
	m := newMTL(f)
	v := reflect.ValueOf(m).Elem()
	fields := 0
	for i := range v.NumField() {
		if v.Field(i).Type() != reflect.TypeFor[objcSel]() {
			continue
		}
		fields++
		if v.Field(i).Uint() == 0 {
			t.Errorf("selector %s is not registered", v.Type().Field(i).Name)
		}
	}
	if len(f.sels) != fields {
		t.Errorf("%d selectors registered for %d fields", len(f.sels), fields)
	}
}

// The fake must catch the mistakes it exists for; otherwise the other
// tests prove nothing.
func TestFakeCatchesMisuse(t *testing.T) {
	f := newFakeRuntime(t)
	m := newMTL(f)
	dev := f.createSystemDefaultDevice()
	f.sendUU(dev, m.selSetBuffer, 1, 2)
	f.objU(dev, m.selNewBufferWithLength, 64)
	f.objUU(dev, m.selNewLibraryWithData, 1, 2)
	f.nsuint(dev, m.selName)
	f.sendOUU(dev, m.selSetBuffer, dev, 0, 1)
	f.send(dev, m.selRelease)
	f.send(dev, m.selRelease)
	f.obj(dev, m.selCommandBuffer)
	want := []string{
		"setBuffer:offset:atIndex:: 2 arguments for 3 colons",
		"newBufferWithLength:options:: 1 arguments for 2 colons",
		"newLibraryWithData:error:: argument 1 is passed as NSUInteger, Metal declares object",
		"newLibraryWithData:error:: argument 2 is passed as NSUInteger, Metal declares pointer",
		"name: result read as NSUInteger, Metal declares object",
		"setBuffer:offset:atIndex:: MTLDevice#1 is not a MTLComputeCommandEncoder",
		"release: MTLDevice#1 used after it was freed",
		"commandBufferWithUnretainedReferences: MTLDevice#1 used after it was freed",
	}
	for _, w := range want {
		if !slices.Contains(f.problems, w) {
			t.Errorf("fake did not report %q", w)
		}
	}
	if len(f.problems) != len(want) {
		t.Errorf("problems:\n%s", strings.Join(f.problems, "\n"))
	}
	f.problems = nil
}

// TestDeviceNameFamily checks the GPU family in the device's name, which
// benchmark reports carry: the newest one supported, none on a GPU that
// answers no family.
func TestDeviceNameFamily(t *testing.T) {
	for _, tc := range []struct {
		family uint
		want   string
	}{{7, "Fake M3 (Apple7)"}, {10, "Fake M3 (Apple10)"}, {0, "Fake M3"}} {
		f := newFakeRuntime(t)
		f.appleFamily = tc.family
		if got := openFake(t, f).Name(); got != tc.want {
			t.Errorf("family %d: name %q, want %q", tc.family, got, tc.want)
		}
	}
}

func TestNewDeviceCompilesSource(t *testing.T) {
	f := newFakeRuntime(t)
	d := openFake(t, f)
	if d.Name() != "Fake M3 (Apple9)" || d.MaxBufferLength() != 1<<30 {
		t.Errorf("name %q, max buffer %d", d.Name(), d.MaxBufferLength())
	}
	if f.source != testSource {
		t.Errorf("compiled %q, want %q", f.source, testSource)
	}
	sels := selectors(f, 0)
	if !slices.Contains(sels, "newLibraryWithSource:options:error:") || slices.Contains(sels, "newLibraryWithData:error:") {
		t.Errorf("library calls: %v", sels)
	}
	closeAndCheck(t, f, d)
}

func TestNewDeviceLoadsMetallib(t *testing.T) {
	f := newFakeRuntime(t)
	lib := []byte("MTLB\x01\x00fake metallib")
	d, err := newMTLDevice(f, testSource, lib)
	if err != nil {
		t.Fatal(err)
	}
	if string(f.metallib) != string(lib) || f.source != "" {
		t.Errorf("loaded %q, compiled %q", f.metallib, f.source)
	}
	closeAndCheck(t, f, d) // includes the dispatch data
}

func TestNewDeviceErrors(t *testing.T) {
	const msg = "program_source:3:9: error: use of undeclared identifier 'x'"
	for _, tc := range []struct {
		name     string
		setup    func(*fakeRuntime)
		metallib []byte
		want     string
	}{
		{"compile", func(f *fakeRuntime) { f.compileError = msg }, nil, "compile kernel source: " + msg},
		{"metallib", func(f *fakeRuntime) { f.compileError = "Invalid library file" }, []byte("junk"),
			"load precompiled metallib (4 bytes): Invalid library file"},
		{"nil without NSError", func(f *fakeRuntime) { f.compileError, f.noErrorObject = "x", true }, nil,
			"compile kernel source: failed without an NSError"},
		{"no device", func(f *fakeRuntime) { f.noDevice = true }, nil, "no Metal device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRuntime(t)
			tc.setup(f)
			d, err := newMTLDevice(f, testSource, tc.metallib)
			if err == nil {
				t.Fatalf("opened %v", d)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "metal: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if l := f.leaks(); len(l) > 0 {
				t.Errorf("alive after a failed open: %v", l)
			}
		})
	}
}

func TestNewBuffer(t *testing.T) {
	f := newFakeRuntime(t)
	d := openFake(t, f)
	b, err := d.NewBuffer(1000)
	if err != nil {
		t.Fatal(err)
	}
	c := b.Contents()
	if len(c) != 1000 || slices.ContainsFunc(c, func(v byte) bool { return v != 0 }) {
		t.Errorf("contents: %d bytes, not all zero", len(c))
	}
	c[999] = 7 // the CPU writes the buffer in place
	for _, size := range []int{0, -1, 1<<30 + 1} {
		if _, err := d.NewBuffer(size); err == nil {
			t.Errorf("NewBuffer(%d) succeeded", size)
		}
	}
	closeAndCheck(t, f, d)
}

func TestWrapNoCopy(t *testing.T) {
	f := newFakeRuntime(t)
	d := openFake(t, f)
	page := d.page
	data := pageAligned(2*page+100, page)
	from := len(f.calls)
	b, err := d.WrapNoCopy(data)
	if err != nil {
		t.Fatal(err)
	}
	call := f.calls[from]
	if call.sel != "newBufferWithBytesNoCopy:length:options:deallocator:" ||
		call.args[0].p != unsafe.Pointer(&data[0]) || call.args[1].u != uint(3*page) {
		t.Errorf("wrapped with %s %v", call.sel, f.trace(from))
	}
	if c := b.Contents(); len(c) != len(data) || &c[0] != &data[0] {
		t.Errorf("contents are not the wrapped bytes")
	}

	if _, err := d.WrapNoCopy(data[1:]); err == nil || !strings.Contains(err.Error(), "not aligned") {
		t.Errorf("misaligned: %v", err)
	}
	if _, err := d.WrapNoCopy(nil); err == nil {
		t.Error("wrapped nothing")
	}
	d.maxBuffer = 2 * page
	if _, err := d.WrapNoCopy(pageAligned(2*page+1, page)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("over the largest buffer after rounding: %v", err)
	}
	closeAndCheck(t, f, d)
}

// openFragment opens a device on a fake runtime that has the kernels of
// testDispatches, and makes them.
func openFragment(t *testing.T) (*fakeRuntime, *mtlDevice, []Dispatch, []byte, []byte) {
	f := newFakeRuntime(t)
	f.kernels = map[string]uint{"kernel_rms_norm": 1024, "kernel_mul_mv_q4_K": 1024}
	d := openFake(t, f)
	ds, normArgs, mvArgs := testDispatches(t, d)
	return f, d, ds, normArgs, mvArgs
}

// testDispatches is a small forward-pass fragment: a norm with
// threadgroup memory, then a matrix-vector product that reads its output,
// then the product again over the same buffers.
func testDispatches(t *testing.T, d *mtlDevice) ([]Dispatch, []byte, []byte) {
	x, err := d.NewBuffer(4096)
	if err != nil {
		t.Fatal(err)
	}
	y, err := d.NewBuffer(1024)
	if err != nil {
		t.Fatal(err)
	}
	norm := kernels.RMSNormArgs{Ne0: 576, Eps: 1e-5}
	mv := kernels.MatMulArgs{Ne00: 576, Ne01: 576, Nb01: 324, Ne11: 1}
	normArgs, mvArgs := kernels.Bytes(&norm), kernels.Bytes(&mv)
	mvDispatch := Dispatch{
		Pipeline: pipeline(t, d, "kernel_mul_mv_q4_K"), Args: mvArgs,
		Buffers: []Binding{{y, 0}, {x, 512}},
		Grid:    [3]int{72, 1, 1}, Group: [3]int{64, 1, 1},
		Barrier: true,
	}
	return []Dispatch{
		{
			Pipeline: pipeline(t, d, "kernel_rms_norm"), Args: normArgs,
			Buffers:     []Binding{{x, 0}, {y, 64}},
			Threadgroup: []int{128},
			Grid:        [3]int{1, 1, 1}, Group: [3]int{256, 1, 1},
		},
		mvDispatch,
		mvDispatch,
	}, normArgs, mvArgs
}

func pipeline(t *testing.T, d Device, kernel string) Pipeline {
	t.Helper()
	p, err := d.Pipeline(kernel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPipeline(t *testing.T) {
	f := newFakeRuntime(t)
	f.kernels = map[string]uint{"kernel_rms_norm": 1024, "kernel_bad": 1024}
	f.pipelineError["kernel_bad"] = "Compiler encountered an internal error"
	d := openFake(t, f)
	p := pipeline(t, d, "kernel_rms_norm")
	from := len(f.calls)
	if again := pipeline(t, d, "kernel_rms_norm"); again != p || len(f.calls) != from {
		t.Errorf("a second pipeline of the kernel: %v, messages %v", again, selectors(f, from))
	}
	if p.Kernel() != "kernel_rms_norm" || p.(*mtlPipeline).maxThreads != 1024 {
		t.Errorf("pipeline %+v", p)
	}
	for kernel, want := range map[string]string{
		"kernel_nope": `kernel "kernel_nope" is not in the library`,
		"kernel_bad":  `kernel "kernel_bad": create pipeline: Compiler encountered an internal error`,
	} {
		if _, err := d.Pipeline(kernel); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", kernel, err, want)
		}
	}
	if len(f.pools) != 0 {
		t.Errorf("pools left open: %v", f.pools)
	}
	closeAndCheck(t, f, d)
}

func TestEncodeCommitWait(t *testing.T) {
	f, d, ds, normArgs, mvArgs := openFragment(t)

	for i := range 2 {
		from := len(f.calls)
		elapsed, err := run(d, ds)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1500 * time.Microsecond; elapsed < want-time.Microsecond || elapsed > want+time.Microsecond {
			t.Errorf("GPU time %v, want %v", elapsed, want)
		}
		// The encoding sends only what changes: a dispatch's arguments
		// (in the command buffer's argument buffer, MTLBuffer#3) and buffers
		// in one message, nothing but a new argument offset for the repeated
		// product, no pipeline or threadgroup memory it has already.
		want := []string{
			"commandBufferWithUnretainedReferences",
			"computeCommandEncoderWithDispatchType: 1",
			"retain",
			"setComputePipelineState: pipeline(kernel_rms_norm)",
			"setBuffers:offsets:withRange: MTLBuffer#3 0, MTLBuffer#1 0, MTLBuffer#2 64 {0 3}",
			"setThreadgroupMemoryLength:atIndex: 128 0",
			"dispatchThreadgroups:threadsPerThreadgroup: {1 1 1} {256 1 1}",
			"memoryBarrierWithScope: 1",
			"setComputePipelineState: pipeline(kernel_mul_mv_q4_K)",
			"setBuffers:offsets:withRange: MTLBuffer#3 256, MTLBuffer#2 0, MTLBuffer#1 512 {0 3}",
			"dispatchThreadgroups:threadsPerThreadgroup: {72 1 1} {64 1 1}",
			"memoryBarrierWithScope: 1",
			"setBufferOffset:atIndex: 512 0",
			"dispatchThreadgroups:threadsPerThreadgroup: {72 1 1} {64 1 1}",
			"endEncoding",
			"commit",
			"waitUntilCompleted",
			"status",
			"GPUEndTime",
			"GPUStartTime",
			"release",
		}
		if i == 0 { // the argument buffer, reused the second time
			want = append([]string{"newBufferWithLength:options: 1024 256", "contents"}, want...)
		}
		if got := f.trace(from); !slices.Equal(got, want) {
			t.Errorf("encoded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var dispatches []fakeCall
		for _, c := range f.calls[from:] {
			if c.sel == "dispatchThreadgroups:threadsPerThreadgroup:" {
				dispatches = append(dispatches, c)
			}
		}
		for i, args := range [][]byte{normArgs, mvArgs, mvArgs} {
			if got := f.boundBytes(dispatches[i], 0); !bytes.HasPrefix(got, args) {
				t.Errorf("dispatch %d: arguments %x, want %x", i, got[:len(args)], args)
			}
		}
	}
	if len(f.pools) != 0 {
		t.Errorf("pools left open: %v", f.pools)
	}
	if _, err := d.Encode(nil); err == nil {
		t.Error("encoded no dispatches")
	}
	closeAndCheck(t, f, d)
}

// A command buffer is encoded while the one before runs (decoding encodes
// a token ahead), yet committed only after that one was waited for; an
// uncommitted one can be dropped.
func TestEncodeAhead(t *testing.T) {
	f, d, ds, _, _ := openFragment(t)
	encode := func() CommandBuffer {
		cb, err := d.Encode(ds)
		if err != nil {
			t.Fatal(err)
		}
		return cb
	}
	first := encode()
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	second := encode()
	if err := second.Commit(); err == nil || !strings.Contains(err.Error(), "another command buffer runs") {
		t.Errorf("second commit while the first runs: %v", err)
	}
	if err := first.Commit(); err == nil {
		t.Error("committed twice")
	}
	if _, err := first.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Wait(); err == nil {
		t.Error("waited twice")
	}
	if err := second.Commit(); err != nil {
		t.Fatal(err)
	}
	third := encode() // encoded while the second runs: a third argument buffer
	if _, err := second.Wait(); err != nil {
		t.Fatal(err)
	}
	third.Discard()
	fourth := encode() // one of the argument buffers returned
	if err := fourth.Commit(); err != nil {
		t.Fatal(err)
	}
	buffers := f.counts["MTLBuffer"]
	if buffers != 2+2 {
		t.Errorf("%d buffers: want x, y and two argument buffers", buffers)
	}
	closeAndCheck(t, f, d) // waits for the fourth and releases it
}

func TestCommandBufferError(t *testing.T) {
	const msg = "Execution of the command buffer was aborted due to an error during execution. Caused GPU Timeout Error (00000002:kIOGPUCommandBufferCallbackErrorTimeout)"
	f, d, ds, _, _ := openFragment(t)
	f.status, f.gpuError = commandBufferStatusError, msg
	if _, err := run(d, ds); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("error %v, want the command buffer's", err)
	}
	f.status = 3 // scheduled: not finished, yet waited for
	if _, err := run(d, ds); err == nil || !strings.Contains(err.Error(), "status 3") {
		t.Errorf("error %v, want the status", err)
	}
	closeAndCheck(t, f, d)
}

type otherBuffer struct{}

func (otherBuffer) Contents() []byte { return make([]byte, 64) }

// A bad dispatch fails before any encoder exists: a half-encoded command
// encoder would abort the process when freed.
func TestEncodeRejectsBeforeEncoding(t *testing.T) {
	f, d, ds, _, _ := openFragment(t)
	f.kernels["kernel_big"] = 512
	buf := ds[0].Buffers[0].Buf
	f2 := newFakeRuntime(t)
	f2.kernels = map[string]uint{"kernel_rms_norm": 1024}
	other := openFake(t, f2)
	foreign, err := other.NewBuffer(64)
	if err != nil {
		t.Fatal(err)
	}
	foreignPipeline := pipeline(t, other, "kernel_rms_norm")
	big := pipeline(t, d, "kernel_big")
	for _, tc := range []struct {
		name string
		edit func(*Dispatch)
		want string
	}{
		{"no pipeline", func(d *Dispatch) { d.Pipeline = nil }, "the pipeline is not one of this device"},
		{"other device's pipeline", func(d *Dispatch) { d.Pipeline = foreignPipeline }, "the pipeline is not one of this device"},
		{"too many threads", func(d *Dispatch) { d.Pipeline = big; d.Group = [3]int{32, 32, 1} },
			"1024 threads per threadgroup [32 32 1], the pipeline allows 512"},
		{"empty grid", func(d *Dispatch) { d.Grid[1] = 0 }, "at least 1"},
		{"args too long", func(d *Dispatch) { d.Args = make([]byte, 4100) }, "arguments, at most 4096"},
		{"too many buffers", func(d *Dispatch) { d.Buffers = make([]Binding, 31) }, "at most 30"},
		{"foreign buffer type", func(d *Dispatch) { d.Buffers[1].Buf = otherBuffer{} }, "buffer 2 is not a buffer of this device"},
		{"other device", func(d *Dispatch) { d.Buffers[0].Buf = foreign }, "buffer 1 is not a buffer of this device"},
		{"nil buffer", func(d *Dispatch) { d.Buffers[0].Buf = nil }, "buffer 1 is not a buffer of this device"},
		{"offset", func(d *Dispatch) { d.Buffers[0] = Binding{buf, 4096} }, "offset 4096 outside its 4096 bytes"},
		{"threadgroup unit", func(d *Dispatch) { d.Threadgroup = []int{100} }, "multiple of 16"},
		{"threadgroup arguments", func(d *Dispatch) { d.Threadgroup = make([]int, 9) }, "at most 8"},
		{"threadgroup total", func(d *Dispatch) { d.Threadgroup = []int{16 << 10, 16<<10 + 16} }, "the device has 32768"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := slices.Clone(ds)
			bad[1].Buffers = slices.Clone(bad[1].Buffers)
			tc.edit(&bad[1])
			from := len(f.calls)
			_, err := d.Encode(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "dispatch 1 (") {
				t.Errorf("error %v, want dispatch 1 and %q", err, tc.want)
			}
			if slices.Contains(selectors(f, from), "commandBufferWithUnretainedReferences") {
				t.Errorf("made a command buffer for a bad dispatch")
			}
			if len(f.pools) != 0 {
				t.Errorf("pools left open: %v", f.pools)
			}
		})
	}
	// The device still works after rejecting.
	if _, err := run(d, ds); err != nil {
		t.Error(err)
	}
	closeAndCheck(t, f, d)
	closeAndCheck(t, f2, other)
}

func TestClosedDevice(t *testing.T) {
	f, d, ds, _, _ := openFragment(t)
	cb, err := d.Encode(ds)
	if err != nil {
		t.Fatal(err)
	}
	closeAndCheck(t, f, d) // releases the encoded command buffer too
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := cb.Commit(); !errors.Is(err, errClosed) {
		t.Errorf("Commit after Close: %v", err)
	}
	cb.Discard()
	if _, err := d.Encode(ds); !errors.Is(err, errClosed) {
		t.Errorf("Encode after Close: %v", err)
	}
	if _, err := d.Pipeline("kernel_rms_norm"); !errors.Is(err, errClosed) {
		t.Errorf("Pipeline after Close: %v", err)
	}
	if _, err := d.NewBuffer(16); !errors.Is(err, errClosed) {
		t.Errorf("NewBuffer after Close: %v", err)
	}
	if _, err := d.WrapNoCopy(pageAligned(16, d.page)); !errors.Is(err, errClosed) {
		t.Errorf("WrapNoCopy after Close: %v", err)
	}
}

// The Device contract is met by the Metal device.
var _ Device = (*mtlDevice)(nil)
