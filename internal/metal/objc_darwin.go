//go:build darwin

package metal

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// libobjc is objcRuntime on the real Objective-C runtime, through purego.
//
// The hot-path shapes (integer and pointer arguments, integer results) call
// objc_msgSend through purego.SyscallN, which does no reflection: a function
// value from purego.RegisterFunc goes through reflect.MakeFunc on every
// call, about 430 ns and 7 allocations against 110 ns and 1 for SyscallN
// (measured on linux/amd64), and a token encodes thousands of messages.
// Shapes SyscallN cannot express (a double result, a struct by value on
// amd64) and the cold one returning a pointer use function values made with
// purego.RegisterFunc, once.
type libobjc struct {
	msgSend     uintptr
	poolPushFn  uintptr
	poolPopFn   uintptr
	createDevFn uintptr
	dataCreate  uintptr
	dataRelease uintptr

	// sizes holds the two MTLSize that sendSS passes by reference on
	// arm64: memory that outlives the call without an allocation per
	// message (a pointer to an argument would move it to the heap). The
	// device sends one message at a time.
	sizes [2]mtlSize

	getClassFn     func(name string) objcID
	registerNameFn func(name string) objcSel
	pointerFn      func(o objcID, s objcSel) unsafe.Pointer
	doubleFn       func(o objcID, s objcSel) float64
	sendSSFn       func(o objcID, s objcSel, a, b mtlSize)
}

// System libraries, by their install names (served from the dyld shared
// cache). CoreGraphics is loaded for its side effect: without it
// MTLCreateSystemDefaultDevice returns nil in a process that is not an app,
// such as a command-line tool.
const (
	libobjcPath      = "/usr/lib/libobjc.A.dylib"
	libSystemPath    = "/usr/lib/libSystem.B.dylib"
	foundationPath   = "/System/Library/Frameworks/Foundation.framework/Foundation"
	coreGraphicsPath = "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
	metalPath        = "/System/Library/Frameworks/Metal.framework/Metal"
)

// loadLibobjc opens the libraries and resolves every function once.
func loadLibobjc() (*libobjc, error) {
	handles := map[string]uintptr{}
	for _, path := range []string{libobjcPath, libSystemPath, foundationPath, coreGraphicsPath, metalPath} {
		h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		handles[path] = h
	}
	r := &libobjc{}
	syms := []struct {
		lib, name string
		addr      *uintptr
	}{
		{libobjcPath, "objc_msgSend", &r.msgSend},
		{libobjcPath, "objc_autoreleasePoolPush", &r.poolPushFn},
		{libobjcPath, "objc_autoreleasePoolPop", &r.poolPopFn},
		{metalPath, "MTLCreateSystemDefaultDevice", &r.createDevFn},
		{libSystemPath, "dispatch_data_create", &r.dataCreate},
		{libSystemPath, "dispatch_release", &r.dataRelease},
	}
	for _, s := range syms {
		addr, err := purego.Dlsym(handles[s.lib], s.name)
		if err != nil {
			return nil, fmt.Errorf("find %s in %s: %w", s.name, s.lib, err)
		}
		*s.addr = addr
	}
	getClass, err := purego.Dlsym(handles[libobjcPath], "objc_getClass")
	if err != nil {
		return nil, fmt.Errorf("find objc_getClass: %w", err)
	}
	registerName, err := purego.Dlsym(handles[libobjcPath], "sel_registerName")
	if err != nil {
		return nil, fmt.Errorf("find sel_registerName: %w", err)
	}
	purego.RegisterFunc(&r.getClassFn, getClass)
	purego.RegisterFunc(&r.registerNameFn, registerName)
	purego.RegisterFunc(&r.pointerFn, r.msgSend)
	purego.RegisterFunc(&r.doubleFn, r.msgSend)
	purego.RegisterFunc(&r.sendSSFn, r.msgSend)
	return r, nil
}

func (r *libobjc) getClass(name string) objcID      { return r.getClassFn(name) }
func (r *libobjc) registerName(name string) objcSel { return r.registerNameFn(name) }

func (r *libobjc) poolPush() uintptr {
	pool, _, _ := purego.SyscallN(r.poolPushFn)
	return pool
}

func (r *libobjc) poolPop(pool uintptr) { purego.SyscallN(r.poolPopFn, pool) }

func (r *libobjc) createSystemDefaultDevice() objcID {
	dev, _, _ := purego.SyscallN(r.createDevFn)
	return objcID(dev)
}

// dispatchDataCreate passes a nil queue and DISPATCH_DATA_DESTRUCTOR_DEFAULT
// (NULL), which makes libdispatch copy the bytes.
func (r *libobjc) dispatchDataCreate(p unsafe.Pointer, n uint) objcID {
	data, _, _ := purego.SyscallN(r.dataCreate, uintptr(p), uintptr(n), 0, 0)
	return objcID(data)
}

func (r *libobjc) dispatchRelease(obj objcID) { purego.SyscallN(r.dataRelease, uintptr(obj)) }

func (r *libobjc) send(o objcID, s objcSel) {
	purego.SyscallN(r.msgSend, uintptr(o), uintptr(s))
}

func (r *libobjc) sendO(o objcID, s objcSel, a objcID) {
	purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a))
}

func (r *libobjc) sendU(o objcID, s objcSel, a uint) {
	purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a))
}

func (r *libobjc) sendUU(o objcID, s objcSel, a, b uint) {
	purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a), uintptr(b))
}

func (r *libobjc) sendOUU(o objcID, s objcSel, a objcID, b, c uint) {
	purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a), uintptr(b), uintptr(c))
}

// sendSS passes two MTLSize (24 bytes each) by value. On arm64 the C ABI
// (AAPCS64 rule B.4, which Apple's arm64 ABI keeps) passes a composite
// larger than 16 bytes as a pointer to a copy the caller makes; a and b
// are such copies. purego's struct support does the same, through
// reflection. On amd64 the structs go on the stack, which only
// RegisterFunc can arrange.
func (r *libobjc) sendSS(o objcID, s objcSel, a, b mtlSize) {
	if runtime.GOARCH == "arm64" {
		r.sizes = [2]mtlSize{a, b}
		purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(unsafe.Pointer(&r.sizes[0])), uintptr(unsafe.Pointer(&r.sizes[1])))
		return
	}
	r.sendSSFn(o, s, a, b)
}

// sendPPR passes an NSRange (two NSUInteger, 16 bytes) by value: in two
// integer registers on arm64 (AAPCS64: a composite of at most 16 bytes
// goes in consecutive registers) and on amd64 (System V: two INTEGER
// eightbytes), as two separate arguments would go.
func (r *libobjc) sendPPR(o objcID, s objcSel, a, b unsafe.Pointer, rg nsRange) {
	purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a), uintptr(b), uintptr(rg.location), uintptr(rg.length))
}

func (r *libobjc) obj(o objcID, s objcSel) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s))
	return objcID(ret)
}

func (r *libobjc) objO(o objcID, s objcSel, a objcID) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a))
	return objcID(ret)
}

func (r *libobjc) objP(o objcID, s objcSel, a unsafe.Pointer) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a))
	return objcID(ret)
}

func (r *libobjc) objU(o objcID, s objcSel, a uint) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a))
	return objcID(ret)
}

func (r *libobjc) objUU(o objcID, s objcSel, a, b uint) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a), uintptr(b))
	return objcID(ret)
}

func (r *libobjc) objOP(o objcID, s objcSel, a objcID, b unsafe.Pointer) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a), uintptr(b))
	return objcID(ret)
}

func (r *libobjc) objOOP(o objcID, s objcSel, a, b objcID, c unsafe.Pointer) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a), uintptr(b), uintptr(c))
	return objcID(ret)
}

func (r *libobjc) objPUUO(o objcID, s objcSel, a unsafe.Pointer, b, c uint, d objcID) objcID {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a), uintptr(b), uintptr(c), uintptr(d))
	return objcID(ret)
}

func (r *libobjc) nsuint(o objcID, s objcSel) uint {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s))
	return uint(ret)
}

// boolU reads a BOOL result from its low byte only: the ABI leaves the
// rest of the register undefined.
func (r *libobjc) boolU(o objcID, s objcSel, a uint) bool {
	ret, _, _ := purego.SyscallN(r.msgSend, uintptr(o), uintptr(s), uintptr(a))
	return ret&0xff != 0
}

func (r *libobjc) pointer(o objcID, s objcSel) unsafe.Pointer { return r.pointerFn(o, s) }
func (r *libobjc) double(o objcID, s objcSel) float64         { return r.doubleFn(o, s) }
