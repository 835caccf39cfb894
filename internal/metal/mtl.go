package metal

import "unsafe"

// Metal constants (Metal/MTLResource.h, MTLCommandBuffer.h,
// MTLComputeCommandEncoder.h, MTLCommandEncoder.h).
const (
	// MTLResourceStorageModeShared | MTLResourceCPUCacheModeDefaultCache |
	// MTLResourceHazardTrackingModeUntracked: the CPU reads and writes the
	// same memory the GPU uses, and Metal leaves the ordering of the work
	// on a buffer to the device (barriers within a command buffer, one
	// command buffer at a time).
	resourceStorageModeShared       uint = 0
	resourceHazardTrackingUntracked uint = 1 << 8
	resourceOptions                      = resourceStorageModeShared | resourceHazardTrackingUntracked

	dispatchTypeConcurrent uint = 1 // MTLDispatchTypeConcurrent
	barrierScopeBuffers    uint = 1 // MTLBarrierScopeBuffers

	commandBufferStatusCompleted uint = 4 // MTLCommandBufferStatusCompleted
	commandBufferStatusError     uint = 5 // MTLCommandBufferStatusError
)

// mtl sends the Metal and Foundation messages the device uses: one typed
// method per Objective-C method, each on a selector registered once when
// the device is created, so the hot path neither looks up selectors nor
// converts arguments. Every Metal call goes through this file.
type mtl struct {
	rt objcRuntime

	classNSString objcID

	selRelease                    objcSel
	selRetain                     objcSel
	selStringWithUTF8String       objcSel
	selUTF8String                 objcSel
	selLocalizedDescription       objcSel
	selName                       objcSel
	selMaxBufferLength            objcSel
	selMaxThreadgroupMemoryLength objcSel
	selSupportsFamily             objcSel
	selNewCommandQueue            objcSel
	selNewLibraryWithSource       objcSel
	selNewLibraryWithData         objcSel
	selNewFunctionWithName        objcSel
	selNewComputePipelineState    objcSel
	selMaxTotalThreadsPerGroup    objcSel
	selNewBufferWithLength        objcSel
	selNewBufferWithBytesNoCopy   objcSel
	selContents                   objcSel
	selCommandBuffer              objcSel
	selComputeCommandEncoder      objcSel
	selSetComputePipelineState    objcSel
	selSetBuffer                  objcSel
	selSetBuffers                 objcSel
	selSetBufferOffset            objcSel
	selSetThreadgroupMemoryLength objcSel
	selMemoryBarrierWithScope     objcSel
	selDispatchThreadgroups       objcSel
	selEndEncoding                objcSel
	selCommit                     objcSel
	selWaitUntilCompleted         objcSel
	selStatus                     objcSel
	selError                      objcSel
	selGPUStartTime               objcSel
	selGPUEndTime                 objcSel
}

func newMTL(rt objcRuntime) *mtl {
	r := rt.registerName
	return &mtl{
		rt:            rt,
		classNSString: rt.getClass("NSString"),

		// NSObject, NSString, NSError
		selRelease:              r("release"),
		selRetain:               r("retain"),
		selStringWithUTF8String: r("stringWithUTF8String:"),
		selUTF8String:           r("UTF8String"),
		selLocalizedDescription: r("localizedDescription"),

		// MTLDevice
		selName:                       r("name"),
		selMaxBufferLength:            r("maxBufferLength"),
		selMaxThreadgroupMemoryLength: r("maxThreadgroupMemoryLength"),
		selSupportsFamily:             r("supportsFamily:"),
		selNewCommandQueue:            r("newCommandQueue"),
		selNewLibraryWithSource:       r("newLibraryWithSource:options:error:"),
		selNewLibraryWithData:         r("newLibraryWithData:error:"),
		selNewComputePipelineState:    r("newComputePipelineStateWithFunction:error:"),
		selNewBufferWithLength:        r("newBufferWithLength:options:"),
		selNewBufferWithBytesNoCopy:   r("newBufferWithBytesNoCopy:length:options:deallocator:"),

		// MTLLibrary, MTLComputePipelineState, MTLBuffer
		selNewFunctionWithName:     r("newFunctionWithName:"),
		selMaxTotalThreadsPerGroup: r("maxTotalThreadsPerThreadgroup"),
		selContents:                r("contents"),

		// MTLCommandQueue, MTLCommandBuffer
		selCommandBuffer:         r("commandBufferWithUnretainedReferences"),
		selComputeCommandEncoder: r("computeCommandEncoderWithDispatchType:"),
		selCommit:                r("commit"),
		selWaitUntilCompleted:    r("waitUntilCompleted"),
		selStatus:                r("status"),
		selError:                 r("error"),
		selGPUStartTime:          r("GPUStartTime"),
		selGPUEndTime:            r("GPUEndTime"),

		// MTLComputeCommandEncoder
		selSetComputePipelineState:    r("setComputePipelineState:"),
		selSetBuffer:                  r("setBuffer:offset:atIndex:"),
		selSetBuffers:                 r("setBuffers:offsets:withRange:"),
		selSetBufferOffset:            r("setBufferOffset:atIndex:"),
		selSetThreadgroupMemoryLength: r("setThreadgroupMemoryLength:atIndex:"),
		selMemoryBarrierWithScope:     r("memoryBarrierWithScope:"),
		selDispatchThreadgroups:       r("dispatchThreadgroups:threadsPerThreadgroup:"),
		selEndEncoding:                r("endEncoding"),
	}
}

// Foundation.

func (m *mtl) release(o objcID) { m.rt.send(o, m.selRelease) }

// retain keeps an autoreleased object alive past its pool, until release.
func (m *mtl) retain(o objcID) { m.rt.obj(o, m.selRetain) }

// nsString returns an autoreleased NSString holding a copy of s.
func (m *mtl) nsString(s string) objcID {
	b := cString(s)
	return m.rt.objP(m.classNSString, m.selStringWithUTF8String, unsafe.Pointer(&b[0]))
}

func (m *mtl) goString(str objcID) string {
	if str == 0 {
		return ""
	}
	return goString(m.rt.pointer(str, m.selUTF8String))
}

// errorMessage is an NSError's localizedDescription.
func (m *mtl) errorMessage(nsError objcID) string {
	if nsError == 0 {
		return ""
	}
	return m.goString(m.rt.obj(nsError, m.selLocalizedDescription))
}

// MTLDevice.

func (m *mtl) deviceName(dev objcID) string { return m.goString(m.rt.obj(dev, m.selName)) }

func (m *mtl) maxBufferLength(dev objcID) uint { return m.rt.nsuint(dev, m.selMaxBufferLength) }

func (m *mtl) maxThreadgroupMemoryLength(dev objcID) uint {
	return m.rt.nsuint(dev, m.selMaxThreadgroupMemoryLength)
}

// appleFamily is the newest MTLGPUFamilyApple<n> the device supports (7 on
// an M1, 8 on an M2, 9 on an M3 or M4), 0 if none: what a benchmark report
// needs to tell GPU generations apart.
func (m *mtl) appleFamily(dev objcID) int {
	const apple1, newest = 1001, 10 // MTLGPUFamilyApple1; Apple10 is macOS 26's
	for n := newest; n >= 1; n-- {
		if m.rt.boolU(dev, m.selSupportsFamily, uint(apple1+n-1)) {
			return n
		}
	}
	return 0
}

func (m *mtl) newCommandQueue(dev objcID) objcID { return m.rt.obj(dev, m.selNewCommandQueue) }

// newLibraryWithSource compiles MSL source with the default compile
// options. *nsError is set on failure, and may be set with warnings on
// success.
func (m *mtl) newLibraryWithSource(dev, source objcID, nsError *objcID) objcID {
	return m.rt.objOOP(dev, m.selNewLibraryWithSource, source, 0, unsafe.Pointer(nsError))
}

func (m *mtl) newLibraryWithData(dev, data objcID, nsError *objcID) objcID {
	return m.rt.objOP(dev, m.selNewLibraryWithData, data, unsafe.Pointer(nsError))
}

func (m *mtl) newComputePipelineState(dev, function objcID, nsError *objcID) objcID {
	return m.rt.objOP(dev, m.selNewComputePipelineState, function, unsafe.Pointer(nsError))
}

func (m *mtl) newBufferWithLength(dev objcID, length, options uint) objcID {
	return m.rt.objUU(dev, m.selNewBufferWithLength, length, options)
}

// newBufferWithBytesNoCopy wraps memory the caller keeps alive; with no
// deallocator Metal never frees it.
func (m *mtl) newBufferWithBytesNoCopy(dev objcID, p unsafe.Pointer, length, options uint) objcID {
	return m.rt.objPUUO(dev, m.selNewBufferWithBytesNoCopy, p, length, options, 0)
}

// MTLLibrary, MTLComputePipelineState, MTLBuffer.

func (m *mtl) newFunctionWithName(lib, name objcID) objcID {
	return m.rt.objO(lib, m.selNewFunctionWithName, name)
}

func (m *mtl) maxTotalThreadsPerThreadgroup(pipeline objcID) uint {
	return m.rt.nsuint(pipeline, m.selMaxTotalThreadsPerGroup)
}

func (m *mtl) contents(buf objcID) unsafe.Pointer { return m.rt.pointer(buf, m.selContents) }

// MTLCommandQueue, MTLCommandBuffer.

// commandBuffer returns an autoreleased command buffer that does not retain
// the buffers it uses: the device keeps every buffer until Close, and
// waits for the GPU before, so the retains would only cost time.
func (m *mtl) commandBuffer(queue objcID) objcID { return m.rt.obj(queue, m.selCommandBuffer) }

func (m *mtl) computeCommandEncoder(cb objcID, dispatchType uint) objcID {
	return m.rt.objU(cb, m.selComputeCommandEncoder, dispatchType)
}

func (m *mtl) commit(cb objcID)                    { m.rt.send(cb, m.selCommit) }
func (m *mtl) waitUntilCompleted(cb objcID)        { m.rt.send(cb, m.selWaitUntilCompleted) }
func (m *mtl) status(cb objcID) uint               { return m.rt.nsuint(cb, m.selStatus) }
func (m *mtl) commandBufferError(cb objcID) objcID { return m.rt.obj(cb, m.selError) }

// gpuTime is GPUEndTime - GPUStartTime, in seconds.
func (m *mtl) gpuTime(cb objcID) float64 {
	return m.rt.double(cb, m.selGPUEndTime) - m.rt.double(cb, m.selGPUStartTime)
}

// MTLComputeCommandEncoder.

func (m *mtl) setComputePipelineState(enc, pipeline objcID) {
	m.rt.sendO(enc, m.selSetComputePipelineState, pipeline)
}

func (m *mtl) setBuffer(enc, buf objcID, offset, index uint) {
	m.rt.sendOUU(enc, m.selSetBuffer, buf, offset, index)
}

// setBuffers binds len(bufs) buffers at indices first, first+1, ...; bufs
// and offs must stay put during the call.
func (m *mtl) setBuffers(enc objcID, bufs []objcID, offs []uint, first uint) {
	m.rt.sendPPR(enc, m.selSetBuffers, unsafe.Pointer(&bufs[0]), unsafe.Pointer(&offs[0]),
		nsRange{location: first, length: uint(len(bufs))})
}

// setBufferOffset moves the binding at index to another offset of the same
// buffer.
func (m *mtl) setBufferOffset(enc objcID, offset, index uint) {
	m.rt.sendUU(enc, m.selSetBufferOffset, offset, index)
}

func (m *mtl) setThreadgroupMemoryLength(enc objcID, length, index uint) {
	m.rt.sendUU(enc, m.selSetThreadgroupMemoryLength, length, index)
}

func (m *mtl) memoryBarrier(enc objcID, scope uint) {
	m.rt.sendU(enc, m.selMemoryBarrierWithScope, scope)
}

func (m *mtl) dispatchThreadgroups(enc objcID, groups, threads mtlSize) {
	m.rt.sendSS(enc, m.selDispatchThreadgroups, groups, threads)
}

func (m *mtl) endEncoding(enc objcID) { m.rt.send(enc, m.selEndEncoding) }
