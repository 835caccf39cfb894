package metal

import (
	"runtime"
	"structs"
	"unsafe"
)

// The Objective-C layer. Metal is an Objective-C API, so every call is a
// message: objc_msgSend(receiver, selector, arguments...). The device logic
// (mtl*.go) is written once against objcRuntime; objc_darwin.go implements
// it with purego, and the tests implement it with a fake that checks every
// message against Metal's declarations. Nothing here needs cgo.

// objcID is an Objective-C object pointer (id); 0 is nil.
type objcID uintptr

// objcSel is a selector registered with the runtime (SEL).
type objcSel uintptr

// mtlSize mirrors MTLSize: three NSUInteger, passed by value.
type mtlSize struct {
	_                    structs.HostLayout
	width, height, depth uint
}

// nsRange mirrors NSRange: two NSUInteger, passed by value.
type nsRange struct {
	_                structs.HostLayout
	location, length uint
}

// objcRuntime is the part of the Objective-C runtime, and the few C
// functions of Metal and libdispatch, that the device uses.
//
// objc_msgSend has no signature of its own: the caller must call it with
// the C signature of the method it reaches. Each send method below is one
// such call shape, and its Go parameter types carry the argument kinds
// Metal declares, so a fake runtime can check them: objcID is an object,
// uint an NSUInteger (also the NSUInteger-backed enums and option sets),
// unsafe.Pointer a C pointer, mtlSize an MTLSize by value, nsRange an
// NSRange by value.
//
// Shapes are named by result, then one letter per argument: o object,
// u NSUInteger, p pointer, s MTLSize, r NSRange. send* return nothing, obj* an
// object, nsuint, pointer and double the C type they are named after, boolU
// a BOOL.
type objcRuntime interface {
	getClass(name string) objcID
	registerName(name string) objcSel
	poolPush() uintptr
	poolPop(pool uintptr)

	// MTLCreateSystemDefaultDevice; the caller owns the result.
	createSystemDefaultDevice() objcID
	// dispatch_data_create with the default destructor, which copies the
	// bytes, so p need not outlive the call.
	dispatchDataCreate(p unsafe.Pointer, n uint) objcID
	dispatchRelease(obj objcID)

	send(o objcID, s objcSel)
	sendO(o objcID, s objcSel, a objcID)
	sendU(o objcID, s objcSel, a uint)
	sendUU(o objcID, s objcSel, a, b uint)
	sendOUU(o objcID, s objcSel, a objcID, b, c uint)
	sendSS(o objcID, s objcSel, a, b mtlSize)
	sendPPR(o objcID, s objcSel, a, b unsafe.Pointer, r nsRange)

	obj(o objcID, s objcSel) objcID
	objO(o objcID, s objcSel, a objcID) objcID
	objP(o objcID, s objcSel, a unsafe.Pointer) objcID
	objU(o objcID, s objcSel, a uint) objcID
	objUU(o objcID, s objcSel, a, b uint) objcID
	objOP(o objcID, s objcSel, a objcID, b unsafe.Pointer) objcID
	objOOP(o objcID, s objcSel, a, b objcID, c unsafe.Pointer) objcID
	objPUUO(o objcID, s objcSel, a unsafe.Pointer, b, c uint, d objcID) objcID

	nsuint(o objcID, s objcSel) uint
	boolU(o objcID, s objcSel, a uint) bool
	pointer(o objcID, s objcSel) unsafe.Pointer
	double(o objcID, s objcSel) float64
}

// withPool runs f inside an autorelease pool, so the autoreleased objects
// Metal hands back (command buffers, encoders, errors, strings) are freed
// when f returns. A pool belongs to a thread, and a goroutine may move
// between threads at any call, so the goroutine stays on its thread until
// the pool is popped.
func withPool(rt objcRuntime, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pool := rt.poolPush()
	defer rt.poolPop(pool)
	return f()
}

// goString copies a NUL-terminated C string.
func goString(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}

// cString is s with a terminating NUL, for C functions that take char*.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}
