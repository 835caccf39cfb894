package metal

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"unsafe"
)

// A fake Objective-C runtime that plays Metal closely enough to drive the
// device code on Linux, and checks every message the way the real runtime
// cannot: objc_msgSend trusts its caller, so a wrong argument kind or count
// is memory corruption on a Mac, not an error.

// argKind is the C kind of an argument or result.
type argKind int

const (
	kindVoid   argKind = iota
	kindObject         // id, including blocks and dispatch objects
	kindUint           // NSUInteger and the NSUInteger-backed enums and options
	kindPtr            // a C pointer
	kindSize           // MTLSize, by value
	kindDouble         // double (CFTimeInterval)
	kindRange          // NSRange, by value
	kindBool           // BOOL
)

func (k argKind) String() string {
	return [...]string{"void", "object", "NSUInteger", "pointer", "MTLSize", "double", "NSRange", "BOOL"}[k]
}

// apiMethod is a method as Apple's headers declare it.
type apiMethod struct {
	recv string // protocol or class the receiver conforms to; "+Class" for a class method
	ret  argKind
	args []argKind
}

// metalAPI lists every method the layer may send, transcribed from Apple's
// Metal and Foundation headers (MTLDevice.h, MTLLibrary.h, MTLBuffer.h,
// MTLComputePipeline.h, MTLCommandQueue.h, MTLCommandBuffer.h,
// MTLCommandEncoder.h, MTLComputeCommandEncoder.h, NSString.h, NSError.h,
// NSObject.h). Enums (MTLResourceOptions, MTLDispatchType, MTLBarrierScope,
// MTLCommandBufferStatus) are NSUInteger; the deallocator block and
// dispatch_data_t are objects; NSError**, const char* and C arrays
// (setBuffers' id[] and NSUInteger[]) are pointers.
var metalAPI = map[string]apiMethod{
	"release":               {"NSObject", kindVoid, nil},
	"retain":                {"NSObject", kindObject, nil},
	"stringWithUTF8String:": {"+NSString", kindObject, []argKind{kindPtr}},
	"UTF8String":            {"NSString", kindPtr, nil},
	"localizedDescription":  {"NSError", kindObject, nil},

	"name":                       {"MTLDevice", kindObject, nil},
	"maxBufferLength":            {"MTLDevice", kindUint, nil},
	"maxThreadgroupMemoryLength": {"MTLDevice", kindUint, nil},
	// MTLGPUFamily is an NSInteger enum; its values are positive, so passing
	// them as NSUInteger is the same call.
	"supportsFamily:": {"MTLDevice", kindBool, []argKind{kindUint}},
	"newCommandQueue": {"MTLDevice", kindObject, nil},
	"newLibraryWithSource:options:error:": {
		"MTLDevice", kindObject, []argKind{kindObject, kindObject, kindPtr}},
	"newLibraryWithData:error:": {"MTLDevice", kindObject, []argKind{kindObject, kindPtr}},
	"newComputePipelineStateWithFunction:error:": {
		"MTLDevice", kindObject, []argKind{kindObject, kindPtr}},
	"newBufferWithLength:options:": {"MTLDevice", kindObject, []argKind{kindUint, kindUint}},
	"newBufferWithBytesNoCopy:length:options:deallocator:": {
		"MTLDevice", kindObject, []argKind{kindPtr, kindUint, kindUint, kindObject}},

	"newFunctionWithName:":          {"MTLLibrary", kindObject, []argKind{kindObject}},
	"maxTotalThreadsPerThreadgroup": {"MTLComputePipelineState", kindUint, nil},
	"contents":                      {"MTLBuffer", kindPtr, nil},

	"commandBufferWithUnretainedReferences":  {"MTLCommandQueue", kindObject, nil},
	"computeCommandEncoderWithDispatchType:": {"MTLCommandBuffer", kindObject, []argKind{kindUint}},
	"commit":                                 {"MTLCommandBuffer", kindVoid, nil},
	"waitUntilCompleted":                     {"MTLCommandBuffer", kindVoid, nil},
	"status":                                 {"MTLCommandBuffer", kindUint, nil},
	"error":                                  {"MTLCommandBuffer", kindObject, nil},
	"GPUStartTime":                           {"MTLCommandBuffer", kindDouble, nil},
	"GPUEndTime":                             {"MTLCommandBuffer", kindDouble, nil},

	"setComputePipelineState:": {"MTLComputeCommandEncoder", kindVoid, []argKind{kindObject}},
	"setBuffer:offset:atIndex:": {
		"MTLComputeCommandEncoder", kindVoid, []argKind{kindObject, kindUint, kindUint}},
	"setBuffers:offsets:withRange:": {
		"MTLComputeCommandEncoder", kindVoid, []argKind{kindPtr, kindPtr, kindRange}},
	"setBufferOffset:atIndex:": {"MTLComputeCommandEncoder", kindVoid, []argKind{kindUint, kindUint}},
	"setThreadgroupMemoryLength:atIndex:": {
		"MTLComputeCommandEncoder", kindVoid, []argKind{kindUint, kindUint}},
	"memoryBarrierWithScope:": {"MTLComputeCommandEncoder", kindVoid, []argKind{kindUint}},
	"dispatchThreadgroups:threadsPerThreadgroup:": {
		"MTLComputeCommandEncoder", kindVoid, []argKind{kindSize, kindSize}},
	"endEncoding": {"MTLCommandEncoder", kindVoid, nil},
}

// conformsTo lists what each fake class is, for receiver checks.
var conformsTo = map[string][]string{
	"+NSString":                {"+NSString"},
	"NSString":                 {"NSString", "NSObject"},
	"NSError":                  {"NSError", "NSObject"},
	"MTLDevice":                {"MTLDevice", "NSObject"},
	"MTLCommandQueue":          {"MTLCommandQueue", "NSObject"},
	"MTLLibrary":               {"MTLLibrary", "NSObject"},
	"MTLFunction":              {"MTLFunction", "NSObject"},
	"MTLComputePipelineState":  {"MTLComputePipelineState", "NSObject"},
	"MTLBuffer":                {"MTLBuffer", "MTLResource", "NSObject"},
	"MTLCommandBuffer":         {"MTLCommandBuffer", "NSObject"},
	"MTLComputeCommandEncoder": {"MTLComputeCommandEncoder", "MTLCommandEncoder", "NSObject"},
	"dispatch_data":            {"dispatch_data"},
}

// fakeArg is one argument of a recorded message.
type fakeArg struct {
	kind argKind
	obj  objcID
	u    uint
	p    unsafe.Pointer
	size mtlSize
	rng  nsRange
}

func argObj(o objcID) fakeArg         { return fakeArg{kind: kindObject, obj: o} }
func argUint(u uint) fakeArg          { return fakeArg{kind: kindUint, u: u} }
func argPtr(p unsafe.Pointer) fakeArg { return fakeArg{kind: kindPtr, p: p} }
func argSize(s mtlSize) fakeArg       { return fakeArg{kind: kindSize, size: s} }
func argRange(r nsRange) fakeArg      { return fakeArg{kind: kindRange, rng: r} }

// render shows an argument in a trace line.
func (a fakeArg) render(f *fakeRuntime) string {
	switch a.kind {
	case kindObject:
		return f.label(a.obj)
	case kindUint:
		return fmt.Sprint(a.u)
	case kindSize:
		return fmt.Sprintf("{%d %d %d}", a.size.width, a.size.height, a.size.depth)
	case kindRange:
		return fmt.Sprintf("{%d %d}", a.rng.location, a.rng.length)
	default:
		if a.p == nil {
			return "NULL"
		}
		return "ptr"
	}
}

// fakeResult carries a message's result in whichever field its kind uses.
type fakeResult struct {
	obj objcID
	u   uint
	p   unsafe.Pointer
	d   float64
	b   bool
}

// fakeObject is an object the fake runtime handed out.
type fakeObject struct {
	class string
	label string
	// refs counts the references: the caller's of an object it owns
	// (new*, Create), retains, and a pending autorelease (pool, the
	// token of the pool that holds it, 0 when none). An object dies
	// when the count reaches 0.
	refs int
	pool int
	dead bool

	str    []byte // NSString: UTF-8 with a NUL
	msg    string // NSError
	data   []byte // MTLBuffer contents, dispatch data
	kernel string // MTLFunction, MTLComputePipelineState

	// MTLCommandBuffer
	encoders          []objcID
	committed, waited bool
	// MTLComputeCommandEncoder
	ended, hasPipeline bool
	bound              map[uint]fakeBinding // index -> buffer bound there
}

// fakeCall is one recorded message.
type fakeCall struct {
	sel  string
	recv objcID
	args []fakeArg
	// setBuffers: the buffers and offsets bound; dispatch: the whole
	// table in place, by index.
	bound []string
	table map[uint]fakeBinding
}

// fakeBinding is a buffer bound at an offset in an encoder's table.
type fakeBinding struct {
	obj objcID
	off uint
}

// fakeRuntime implements objcRuntime. Its fields configure how Metal
// behaves; problems collects every rule a message broke.
type fakeRuntime struct {
	t testing.TB

	// Behaviour.
	noDevice      bool
	deviceName    string
	maxBuffer     uint
	maxTGMem      uint
	appleFamily   uint // newest MTLGPUFamilyApple<n> supported
	page          uintptr
	kernels       map[string]uint   // kernel -> maxTotalThreadsPerThreadgroup
	anyKernel     bool              // every kernel_* is in the library too, at 1024 threads
	compileError  string            // newLibrary* fails with this message
	noErrorObject bool              // ... but sets no NSError
	pipelineError map[string]string // kernel -> newComputePipelineState message
	status        uint              // command buffer status after waiting
	gpuError      string            // command buffer error message
	gpuSeconds    float64
	// onCommit, when set, sees each command buffer as it is committed.
	onCommit func(cb objcID)

	// What the device did.
	source   string
	metallib []byte
	calls    []fakeCall
	problems []string

	objects  map[objcID]*fakeObject
	nextID   objcID
	counts   map[string]int
	sels     map[objcSel]string
	selIDs   map[string]objcSel
	classes  map[objcID]string
	pools    []int
	nextPool int
}

func newFakeRuntime(t testing.TB) *fakeRuntime {
	f := &fakeRuntime{
		t:             t,
		deviceName:    "Fake M3",
		maxBuffer:     1 << 30,
		maxTGMem:      32 << 10,
		appleFamily:   9,
		page:          16384,
		kernels:       map[string]uint{},
		pipelineError: map[string]string{},
		status:        commandBufferStatusCompleted,
		gpuSeconds:    0.0015,
		objects:       map[objcID]*fakeObject{},
		nextID:        0x10000,
		counts:        map[string]int{},
		sels:          map[objcSel]string{},
		selIDs:        map[string]objcSel{},
		classes:       map[objcID]string{},
	}
	t.Cleanup(func() {
		for _, p := range f.problems {
			t.Error(p)
		}
	})
	return f
}

func (f *fakeRuntime) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// newObject hands out an object: owned (+1) or autoreleased into the
// innermost pool.
func (f *fakeRuntime) newObject(class string, owned bool) (objcID, *fakeObject) {
	f.nextID += 0x40
	f.counts[class]++
	o := &fakeObject{class: class, label: fmt.Sprintf("%s#%d", class, f.counts[class]), refs: 1}
	switch {
	case owned:
	case len(f.pools) == 0:
		f.problem("%s autoreleased with no pool in place (leaks on a Mac)", o.label)
	default:
		o.pool = f.pools[len(f.pools)-1]
	}
	f.objects[f.nextID] = o
	return f.nextID, o
}

func (f *fakeRuntime) label(o objcID) string {
	if o == 0 {
		return "nil"
	}
	if obj, ok := f.objects[o]; ok {
		return obj.label
	}
	if c, ok := f.classes[o]; ok {
		return "+" + c
	}
	return fmt.Sprintf("unknown#%x", uintptr(o))
}

// live returns the object o, reporting a problem if it is not a live
// object of a class conforming to want.
func (f *fakeRuntime) live(o objcID, want, context string) *fakeObject {
	obj, ok := f.objects[o]
	switch {
	case !ok:
		f.problem("%s: %s is not an object", context, f.label(o))
		return nil
	case obj.dead:
		f.problem("%s: %s used after it was freed", context, obj.label)
		return nil
	}
	for _, c := range conformsTo[obj.class] {
		if c == want {
			return obj
		}
	}
	f.problem("%s: %s is not a %s", context, obj.label, want)
	return nil
}

func (f *fakeRuntime) newString(s string) objcID {
	id, o := f.newObject("NSString", false)
	o.str = cString(s)
	return id
}

func (f *fakeRuntime) newError(msg string) objcID {
	id, o := f.newObject("NSError", false)
	o.msg = msg
	return id
}

// setError stores an autoreleased NSError through an NSError** argument.
func (f *fakeRuntime) setError(out unsafe.Pointer, msg string) {
	if out == nil {
		f.problem("error: out-parameter is NULL")
		return
	}
	*(*objcID)(out) = f.newError(msg)
}

// libobjc.

func (f *fakeRuntime) getClass(name string) objcID {
	if _, ok := conformsTo["+"+name]; !ok {
		f.problem("objc_getClass(%q): not a class the layer targets", name)
	}
	f.nextID += 0x40
	f.classes[f.nextID] = name
	return f.nextID
}

func (f *fakeRuntime) registerName(name string) objcSel {
	if _, ok := metalAPI[name]; !ok {
		f.problem("sel_registerName(%q): not a method of the Metal or Foundation API", name)
	}
	if s, ok := f.selIDs[name]; ok {
		f.problem("sel_registerName(%q) called twice; selectors are registered once", name)
		return s
	}
	s := objcSel(len(f.sels) + 1)
	f.sels[s] = name
	f.selIDs[name] = s
	return s
}

func (f *fakeRuntime) poolPush() uintptr {
	f.nextPool++
	f.pools = append(f.pools, f.nextPool)
	return uintptr(f.nextPool)
}

func (f *fakeRuntime) poolPop(pool uintptr) {
	if len(f.pools) == 0 || uintptr(f.pools[len(f.pools)-1]) != pool {
		f.problem("objc_autoreleasePoolPop(%d): not the innermost pool %v", pool, f.pools)
		return
	}
	f.pools = f.pools[:len(f.pools)-1]
	for _, o := range f.objects {
		if o.dead || o.pool != int(pool) {
			continue
		}
		o.pool = 0
		o.refs--
		if o.refs > 0 {
			continue
		}
		if o.class == "MTLComputeCommandEncoder" && !o.ended {
			f.problem("%s freed without endEncoding (Metal aborts the process)", o.label)
		}
		o.dead = true
	}
}

// Metal and libdispatch functions.

func (f *fakeRuntime) createSystemDefaultDevice() objcID {
	if f.noDevice {
		return 0
	}
	id, _ := f.newObject("MTLDevice", true)
	return id
}

func (f *fakeRuntime) dispatchDataCreate(p unsafe.Pointer, n uint) objcID {
	if p == nil || n == 0 {
		f.problem("dispatch_data_create(%p, %d): no bytes", p, n)
	}
	id, o := f.newObject("dispatch_data", true)
	o.data = append([]byte(nil), unsafe.Slice((*byte)(p), n)...)
	return id
}

func (f *fakeRuntime) dispatchRelease(obj objcID) {
	if o := f.live(obj, "dispatch_data", "dispatch_release"); o != nil {
		f.drop(o)
	}
}

func (f *fakeRuntime) drop(o *fakeObject) {
	if o.pool != 0 && o.refs == 1 || o.refs == 0 {
		f.problem("%s released but the caller does not own it (over-release)", o.label)
		return
	}
	o.refs--
	if o.refs == 0 {
		o.dead = true
	}
}

// objc_msgSend shapes: each states its argument and result kinds.

func (f *fakeRuntime) send(o objcID, s objcSel) { f.msg(o, s, kindVoid) }
func (f *fakeRuntime) sendO(o objcID, s objcSel, a objcID) {
	f.msg(o, s, kindVoid, argObj(a))
}
func (f *fakeRuntime) sendU(o objcID, s objcSel, a uint) { f.msg(o, s, kindVoid, argUint(a)) }
func (f *fakeRuntime) sendUU(o objcID, s objcSel, a, b uint) {
	f.msg(o, s, kindVoid, argUint(a), argUint(b))
}
func (f *fakeRuntime) sendOUU(o objcID, s objcSel, a objcID, b, c uint) {
	f.msg(o, s, kindVoid, argObj(a), argUint(b), argUint(c))
}
func (f *fakeRuntime) sendSS(o objcID, s objcSel, a, b mtlSize) {
	f.msg(o, s, kindVoid, argSize(a), argSize(b))
}
func (f *fakeRuntime) sendPPR(o objcID, s objcSel, a, b unsafe.Pointer, r nsRange) {
	f.msg(o, s, kindVoid, argPtr(a), argPtr(b), argRange(r))
}
func (f *fakeRuntime) obj(o objcID, s objcSel) objcID { return f.msg(o, s, kindObject).obj }
func (f *fakeRuntime) objO(o objcID, s objcSel, a objcID) objcID {
	return f.msg(o, s, kindObject, argObj(a)).obj
}
func (f *fakeRuntime) objP(o objcID, s objcSel, a unsafe.Pointer) objcID {
	return f.msg(o, s, kindObject, argPtr(a)).obj
}
func (f *fakeRuntime) objU(o objcID, s objcSel, a uint) objcID {
	return f.msg(o, s, kindObject, argUint(a)).obj
}
func (f *fakeRuntime) objUU(o objcID, s objcSel, a, b uint) objcID {
	return f.msg(o, s, kindObject, argUint(a), argUint(b)).obj
}
func (f *fakeRuntime) objOP(o objcID, s objcSel, a objcID, b unsafe.Pointer) objcID {
	return f.msg(o, s, kindObject, argObj(a), argPtr(b)).obj
}
func (f *fakeRuntime) objOOP(o objcID, s objcSel, a, b objcID, c unsafe.Pointer) objcID {
	return f.msg(o, s, kindObject, argObj(a), argObj(b), argPtr(c)).obj
}
func (f *fakeRuntime) objPUUO(o objcID, s objcSel, a unsafe.Pointer, b, c uint, d objcID) objcID {
	return f.msg(o, s, kindObject, argPtr(a), argUint(b), argUint(c), argObj(d)).obj
}
func (f *fakeRuntime) nsuint(o objcID, s objcSel) uint { return f.msg(o, s, kindUint).u }
func (f *fakeRuntime) boolU(o objcID, s objcSel, a uint) bool {
	return f.msg(o, s, kindBool, argUint(a)).b
}
func (f *fakeRuntime) pointer(o objcID, s objcSel) unsafe.Pointer {
	return f.msg(o, s, kindPtr).p
}
func (f *fakeRuntime) double(o objcID, s objcSel) float64 { return f.msg(o, s, kindDouble).d }

// msg checks a message against metalAPI, records it and plays Metal.
func (f *fakeRuntime) msg(o objcID, s objcSel, ret argKind, args ...fakeArg) fakeResult {
	name, ok := f.sels[s]
	if !ok {
		f.problem("objc_msgSend with selector %d, which was never registered", s)
		return fakeResult{}
	}
	m, ok := metalAPI[name]
	if !ok {
		return fakeResult{} // registerName reported it
	}
	if n := strings.Count(name, ":"); n != len(args) {
		f.problem("%s: %d arguments for %d colons", name, len(args), n)
		return fakeResult{}
	}
	wellFormed := true
	for i, a := range args {
		if a.kind != m.args[i] {
			f.problem("%s: argument %d is passed as %v, Metal declares %v", name, i+1, a.kind, m.args[i])
			wellFormed = false
		}
	}
	if ret != m.ret {
		f.problem("%s: result read as %v, Metal declares %v", name, ret, m.ret)
		wellFormed = false
	}
	if !wellFormed {
		return fakeResult{}
	}
	for i, a := range args {
		if a.kind != kindObject || a.obj == 0 {
			continue
		}
		if obj, ok := f.objects[a.obj]; !ok || obj.dead {
			f.problem("%s: argument %d (%s) is not a live object", name, i+1, f.label(a.obj))
		}
	}
	var recv *fakeObject
	if c, isClass := f.classes[o]; isClass {
		if "+"+c != m.recv {
			f.problem("%s sent to class %s, not a class method of it", name, c)
			return fakeResult{}
		}
	} else if recv = f.live(o, m.recv, name); recv == nil {
		return fakeResult{}
	}
	call := fakeCall{sel: name, recv: o, args: args}
	res := f.play(name, recv, args, &call)
	f.calls = append(f.calls, call)
	return res
}

// play is what Metal would do with a well-formed message.
func (f *fakeRuntime) play(name string, recv *fakeObject, args []fakeArg, call *fakeCall) fakeResult {
	switch name {
	case "release":
		f.drop(recv)
	case "retain":
		recv.refs++
		return fakeResult{obj: call.recv}
	case "stringWithUTF8String:":
		return fakeResult{obj: f.newString(goString(args[0].p))}
	case "UTF8String":
		return fakeResult{p: unsafe.Pointer(&recv.str[0])}
	case "localizedDescription":
		return fakeResult{obj: f.newString(recv.msg)}

	case "name":
		return fakeResult{obj: f.newString(f.deviceName)}
	case "maxBufferLength":
		return fakeResult{u: f.maxBuffer}
	case "maxThreadgroupMemoryLength":
		return fakeResult{u: f.maxTGMem}
	case "supportsFamily:":
		const apple1 = 1001 // MTLGPUFamilyApple1
		return fakeResult{b: args[0].u >= apple1 && args[0].u < apple1+f.appleFamily}
	case "newCommandQueue":
		id, _ := f.newObject("MTLCommandQueue", true)
		return fakeResult{obj: id}
	case "newLibraryWithSource:options:error:":
		if src := f.live(args[0].obj, "NSString", name); src != nil {
			f.source = goString(unsafe.Pointer(&src.str[0]))
		}
		if args[1].obj != 0 {
			f.problem("%s: options %s, the layer passes nil for the defaults", name, f.label(args[1].obj))
		}
		return f.newLibrary(args[2].p)
	case "newLibraryWithData:error:":
		if data := f.live(args[0].obj, "dispatch_data", name); data != nil {
			f.metallib = data.data
		}
		return f.newLibrary(args[1].p)
	case "newComputePipelineStateWithFunction:error:":
		fn := f.live(args[0].obj, "MTLFunction", name)
		if fn == nil {
			return fakeResult{}
		}
		if msg, ok := f.pipelineError[fn.kernel]; ok {
			f.setError(args[1].p, msg)
			return fakeResult{}
		}
		id, p := f.newObject("MTLComputePipelineState", true)
		p.kernel = fn.kernel
		p.label = "pipeline(" + fn.kernel + ")"
		return fakeResult{obj: id}
	case "newBufferWithLength:options:":
		if args[1].u != resourceOptions {
			f.problem("%s: options %#x, want shared storage, untracked", name, args[1].u)
		}
		id, b := f.newObject("MTLBuffer", true)
		b.data = make([]byte, args[0].u)
		return fakeResult{obj: id}
	case "newBufferWithBytesNoCopy:length:options:deallocator:":
		p, n := args[0].p, args[1].u
		if uintptr(p)%f.page != 0 || uintptr(n)%f.page != 0 || n == 0 {
			f.problem("%s: pointer %p and length %d must be page aligned (%d)", name, p, n, f.page)
		}
		if args[2].u != resourceOptions || args[3].obj != 0 {
			f.problem("%s: options %#x, deallocator %s; want shared storage, untracked, and no deallocator", name, args[2].u, f.label(args[3].obj))
		}
		id, b := f.newObject("MTLBuffer", true)
		b.data = unsafe.Slice((*byte)(p), n)
		return fakeResult{obj: id}

	case "newFunctionWithName:":
		fn := f.live(args[0].obj, "NSString", name)
		if fn == nil {
			return fakeResult{}
		}
		kernel := goString(unsafe.Pointer(&fn.str[0]))
		if _, ok := f.kernels[kernel]; !ok && f.anyKernel && strings.HasPrefix(kernel, "kernel_") {
			f.kernels[kernel] = 1024
		}
		if _, ok := f.kernels[kernel]; !ok {
			return fakeResult{}
		}
		id, o := f.newObject("MTLFunction", true)
		o.kernel = kernel
		return fakeResult{obj: id}
	case "maxTotalThreadsPerThreadgroup":
		return fakeResult{u: f.kernels[recv.kernel]}
	case "contents":
		return fakeResult{p: unsafe.Pointer(unsafe.SliceData(recv.data))}

	case "commandBufferWithUnretainedReferences":
		id, _ := f.newObject("MTLCommandBuffer", false)
		return fakeResult{obj: id}
	case "computeCommandEncoderWithDispatchType:":
		if recv.committed {
			f.problem("%s: %s already committed", name, recv.label)
		}
		for _, e := range recv.encoders {
			if !f.objects[e].ended {
				f.problem("%s: %s still has an encoder open", name, recv.label)
			}
		}
		id, _ := f.newObject("MTLComputeCommandEncoder", false)
		recv.encoders = append(recv.encoders, id)
		return fakeResult{obj: id}
	case "commit":
		for _, e := range recv.encoders {
			if !f.objects[e].ended {
				f.problem("commit: %s not ended", f.label(e))
			}
		}
		recv.committed = true
		if f.onCommit != nil {
			f.onCommit(call.recv)
		}
	case "waitUntilCompleted":
		if !recv.committed {
			f.problem("waitUntilCompleted: %s was never committed (waits forever)", recv.label)
		}
		recv.waited = true
	case "status":
		if !recv.waited {
			return fakeResult{u: 2} // committed
		}
		return fakeResult{u: f.status}
	case "error":
		if recv.waited && f.status == commandBufferStatusError {
			return fakeResult{obj: f.newError(f.gpuError)}
		}
		return fakeResult{}
	case "GPUStartTime":
		return fakeResult{d: 100}
	case "GPUEndTime":
		return fakeResult{d: 100 + f.gpuSeconds}

	default: // MTLComputeCommandEncoder
		if recv.ended {
			f.problem("%s on %s after endEncoding", name, recv.label)
		}
		switch name {
		case "setComputePipelineState:":
			f.live(args[0].obj, "MTLComputePipelineState", name)
			recv.hasPipeline = true
		case "setBuffer:offset:atIndex:":
			f.bind(recv, name, args[2].u, args[0].obj, args[1].u)
		case "setBuffers:offsets:withRange:":
			r := args[2].rng
			if args[0].p == nil || args[1].p == nil || r.length == 0 {
				f.problem("%s: no buffers", name)
				break
			}
			bufs := unsafe.Slice((*objcID)(args[0].p), r.length)
			offs := unsafe.Slice((*uint)(args[1].p), r.length)
			for i := range bufs {
				call.bound = append(call.bound, fmt.Sprintf("%s %d", f.label(bufs[i]), offs[i]))
				f.bind(recv, name, r.location+uint(i), bufs[i], offs[i])
			}
		case "setBufferOffset:atIndex:":
			if b, ok := recv.bound[args[1].u]; !ok {
				f.problem("%s: no buffer bound at index %d", name, args[1].u)
			} else {
				f.bind(recv, name, args[1].u, b.obj, args[0].u)
			}
		case "dispatchThreadgroups:threadsPerThreadgroup:":
			if !recv.hasPipeline {
				f.problem("%s with no pipeline set", name)
			}
			call.table = maps.Clone(recv.bound)
		case "endEncoding":
			recv.ended = true
		}
	}
	return fakeResult{}
}

// bind checks a buffer bound at index of encoder enc and records it.
func (f *fakeRuntime) bind(enc *fakeObject, name string, index uint, obj objcID, off uint) {
	b := f.live(obj, "MTLBuffer", name)
	if b == nil {
		return
	}
	if off >= uint(len(b.data)) {
		f.problem("%s: offset %d past %s's %d bytes", name, off, b.label, len(b.data))
	}
	if index >= maxBufferBindings {
		f.problem("%s: index %d past the argument table", name, index)
	}
	if enc.bound == nil {
		enc.bound = map[uint]fakeBinding{}
	}
	enc.bound[index] = fakeBinding{obj, off}
}

// boundBytes is what the buffer bound at index of a dispatch call holds
// from its offset on.
func (f *fakeRuntime) boundBytes(c fakeCall, index uint) []byte {
	b, ok := c.table[index]
	if !ok {
		return nil
	}
	return f.objects[b.obj].data[b.off:]
}

func (f *fakeRuntime) newLibrary(errOut unsafe.Pointer) fakeResult {
	if f.compileError != "" {
		if !f.noErrorObject {
			f.setError(errOut, f.compileError)
		}
		return fakeResult{}
	}
	id, _ := f.newObject("MTLLibrary", true)
	return fakeResult{obj: id}
}

// trace renders the calls from index i on, one line each.
func (f *fakeRuntime) trace(i int) []string {
	var lines []string
	for _, c := range f.calls[i:] {
		parts := []string{c.sel}
		for _, a := range c.args {
			parts = append(parts, a.render(f))
		}
		if c.bound != nil {
			parts = append(parts[:1], strings.Join(c.bound, ", "), parts[3])
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	return lines
}

// leaks lists objects still alive, and open pools.
func (f *fakeRuntime) leaks() []string {
	var out []string
	for _, o := range f.objects {
		if !o.dead {
			out = append(out, o.label)
		}
	}
	if len(f.pools) > 0 {
		out = append(out, fmt.Sprintf("pools %v", f.pools))
	}
	return out
}
