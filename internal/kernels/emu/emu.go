//go:build mslemu

package emu

/*
#cgo CXXFLAGS: -std=c++14 -fno-omit-frame-pointer -I${SRCDIR}/shim
#cgo CXXFLAGS: -Wall -Wno-unknown-attributes -Wno-unused-function -Wno-unused-variable
#cgo amd64 CXXFLAGS: -march=x86-64-v3
#cgo LDFLAGS: -lstdc++ -lm -pthread
#include <stdlib.h>
#include "runtime.h"
*/
import "C"

import (
	"bytes"
	"embed"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	// The cgo code #includes the product .metal files and quant_args.h from
	// ../ and the shim and testdata kernels from subdirectories. The go command
	// does not track such includes, so it would keep running stale kernels
	// after an edit. Importing the package that embeds the product sources, and
	// embedding the rest here, puts them all into this package's build hash.
	_ "github.com/quant-llm/quant/internal/kernels"

	// The counted build of the kernels (CountLoads); its table is
	// emu_kernels_counted.
	_ "github.com/quant-llm/quant/internal/kernels/emu/counted"
)

//go:embed shim/metal_stdlib testdata/*.metal
var _ embed.FS

// Kernels returns the names of all kernels compiled into the emulator: the
// product kernels (../*.metal) and the test-only ones (testdata/*.metal).
func Kernels() []string {
	var names []string
	for i := 0; ; i++ {
		k := C.emu_kernel_at(C.int(i))
		if k == nil {
			return names
		}
		names = append(names, C.GoString(k.name))
	}
}

// region is a span of Go memory copied to C memory for a dispatch, with
// guard bytes on both sides. Overlapping buffers share one region.
type region struct {
	start, end uintptr        // Go addresses, for merging only
	base       unsafe.Pointer // Go pointer to start
	c          unsafe.Pointer // C allocation: guard, copy, guard
	binds      []binding      // the indices bound into the region
	readOnly   bool           // setBytes data: not copied back
	guard      [4]byte        // guard byte pattern
}

// guardPattern is the fill of the guard bytes of the k-th region. As a float
// it is a signalling NaN, as is its low half as a half: a read past the end
// poisons results, and arithmetic on it yields a quiet NaN, so even
// dst[n] += x[n] changes the guard. The payload differs between regions, so
// a value copied from another buffer's guard changes it too.
func guardPattern(k int) [4]byte {
	return [4]byte{byte(k), 0xFD, 0x80, 0xFF} // 0xFF80FD00 | k, little-endian
}

type binding struct {
	index int
	rel   uintptr // kernel pointer = copy of start + rel
}

// Run executes d on the CPU under schedule s. Buffer contents are copied in
// and, after the dispatch, back into the bound slices where they changed. It returns an error for
// a dispatch Metal would reject, a missing binding, barrier or SIMD-group
// divergence (with the call sites), and writes outside a buffer or
// threadgroup memory. Under AddressSanitizer (tag mslemu_asan) an
// out-of-bounds access aborts the process with ASan's report instead.
func Run(d Dispatch, s Schedule) error {
	_, err := run(d, s, false)
	return err
}

// Loads is what a dispatch read from one buffer (or setBytes data) in
// loads as the kernel source states them (see package counted). On the GPU
// the lanes of a simdgroup execute a load together, and a byte several
// lanes read is fetched once: a simdgroup load is the k-th execution of one
// load of the source by the lanes of one simdgroup.
type Loads struct {
	Loads     int // load instructions executed by threads
	Bytes     int // bytes they requested
	SIMDLoads int // simdgroup load instructions
	SIMDBytes int // bytes those fetched, each byte once per instruction
	Unique    int // distinct bytes read
	MaxReads  int // most simdgroup load instructions that read one byte
}

// CountLoads executes d like Run, forward on one worker, with the counted
// build of the kernels (product kernels only), and returns its loads from
// each buffer index of d.Buffers and d.Bytes (bindings that share memory
// share one entry). A load from an address that is not a multiple of its
// type's size (undefined in MSL; packed types state a smaller alignment)
// fails the dispatch.
func CountLoads(d Dispatch) (map[int]Loads, error) {
	c, err := Count(d)
	return c.Buffers, err
}

// Counts is what a dispatch of the counted kernels measured (Count).
type Counts struct {
	// Buffers: the loads from each buffer index, as CountLoads.
	Buffers map[int]Loads
	// Threadgroup: the loads from each [[threadgroup(i)]] memory.
	Threadgroup map[int]Loads
	// MatrixMultiplies counts the 8x8 SIMD-group matrix products
	// (simdgroup_multiply and simdgroup_multiply_accumulate) the
	// simdgroups executed, one per simdgroup and call.
	MatrixMultiplies int
}

// Count executes d like CountLoads and returns everything it counted.
func Count(d Dispatch) (Counts, error) {
	return run(d, Schedule{}, true)
}

func run(d Dispatch, s Schedule, count bool) (Counts, error) {
	var cd C.emu_dispatch
	name := C.CString(d.Kernel)
	defer C.free(unsafe.Pointer(name))
	cd.kernel = name
	for a := 0; a < 3; a++ {
		if d.Grid[a] < 1 || d.Group[a] < 1 || d.Grid[a] > 1<<31 || d.Group[a] > 1024 {
			return Counts{}, fmt.Errorf("%s: bad grid %v or threadgroup size %v", d.Kernel, d.Grid, d.Group)
		}
		cd.grid[a] = C.uint32_t(d.Grid[a])
		cd.group[a] = C.uint32_t(d.Group[a])
	}
	for i, n := range d.Threadgroup {
		if i < 0 || i >= C.EMU_MAX_BINDINGS || n < 0 || n > 1<<20 {
			return Counts{}, fmt.Errorf("%s: bad threadgroup memory length %d at index %d", d.Kernel, n, i)
		}
		cd.tg_len[i] = C.uint32_t(n)
	}
	cd.order = C.int(s.Order)
	cd.seed = C.uint64_t(s.Seed)
	cd.workers = C.int(s.Workers)

	regions, err := bind(d)
	guard := uintptr(C.emu_guard_bytes())
	defer func() {
		for _, r := range regions {
			if r.c != nil {
				C.emu_unpoison(r.c, C.size_t(r.end-r.start+2*guard))
				C.free(r.c)
			}
		}
	}()
	if err != nil {
		return Counts{}, err
	}
	for k, r := range regions {
		n := r.end - r.start
		r.c = C.malloc(C.size_t(n + 2*guard))
		mem := unsafe.Slice((*byte)(r.c), n+2*guard)
		r.guard = guardPattern(k)
		for i := uintptr(0); i < guard; i++ {
			mem[i], mem[guard+n+i] = r.guard[i%4], r.guard[i%4]
		}
		copy(mem[guard:], unsafe.Slice((*byte)(r.base), n))
		C.emu_poison(r.c, C.size_t(guard))
		C.emu_poison(unsafe.Add(r.c, guard+n), C.size_t(guard))
		for _, b := range r.binds {
			cd.buf[b.index] = unsafe.Add(r.c, guard+b.rel)
		}
		cd.regions[k].base = unsafe.Add(r.c, guard)
		cd.regions[k].len = C.size_t(n)
		if count {
			cd.regions[k].name = C.CString(r.describe())
			defer C.free(unsafe.Pointer(cd.regions[k].name))
		}
	}
	if count {
		cd.count_loads = 1
		cd.nregions = C.int(len(regions))
	}

	var runErr error
	if C.emu_run(&cd) != 0 {
		runErr = fmt.Errorf("%s", C.GoString(&cd.err[0]))
	}
	for _, r := range regions {
		n := r.end - r.start
		C.emu_unpoison(r.c, C.size_t(n+2*guard))
		mem := unsafe.Slice((*byte)(r.c), n+2*guard)
		// Only changed regions are written back, so buffers the kernel only
		// reads may be read-only mappings (weights).
		if goMem := unsafe.Slice((*byte)(r.base), n); !r.readOnly && !bytes.Equal(goMem, mem[guard:guard+n]) {
			copy(goMem, mem[guard:guard+n])
		}
		for i := uintptr(0); i < guard && runErr == nil; i++ {
			if mem[i] != r.guard[i%4] || mem[guard+n+i] != r.guard[i%4] {
				runErr = fmt.Errorf("%s: wrote outside the %d-byte buffer bound at %s", d.Kernel, n, r.describe())
			}
		}
	}
	runtime.KeepAlive(d)
	if runErr != nil || !count {
		return Counts{}, runErr
	}
	c := Counts{Buffers: map[int]Loads{}, Threadgroup: map[int]Loads{}, MatrixMultiplies: int(cd.matrix_multiplies)}
	for k, r := range regions {
		for _, b := range r.binds {
			c.Buffers[b.index] = loadsOf(&cd.regions[k])
		}
	}
	for i := range d.Threadgroup {
		c.Threadgroup[i] = loadsOf(&cd.tg[i])
	}
	return c, nil
}

func loadsOf(g *C.emu_region) Loads {
	return Loads{Loads: int(g.loads), Bytes: int(g.bytes), SIMDLoads: int(g.simd_loads),
		SIMDBytes: int(g.simd_bytes), Unique: int(g.unique), MaxReads: int(g.max_reads)}
}

// bind checks the bindings and groups them into regions of Go memory.
func bind(d Dispatch) ([]*region, error) {
	span := func(i int, data []byte, off int, readOnly bool) (*region, error) {
		if i < 0 || i >= C.EMU_MAX_BINDINGS {
			return nil, fmt.Errorf("%s: binding index %d out of range", d.Kernel, i)
		}
		if len(data) == 0 {
			return nil, fmt.Errorf("%s: empty buffer at index %d", d.Kernel, i)
		}
		p := unsafe.Pointer(unsafe.SliceData(data))
		return &region{start: uintptr(p), end: uintptr(p) + uintptr(len(data)), base: p,
			binds: []binding{{i, uintptr(off)}}, readOnly: readOnly}, nil
	}
	var bufs, regions []*region
	for i, b := range d.Buffers {
		if b.Offset < 0 || b.Offset >= len(b.Data) || b.Offset%4 != 0 {
			return nil, fmt.Errorf("%s: buffer(%d): offset %d is outside the buffer of %d bytes or not a multiple of 4", d.Kernel, i, b.Offset, len(b.Data))
		}
		r, err := span(i, b.Data, b.Offset, false)
		if err != nil {
			return nil, err
		}
		bufs = append(bufs, r)
	}
	// Views of one Go allocation bound at several indices must share memory.
	sort.Slice(bufs, func(a, b int) bool { return bufs[a].start < bufs[b].start })
	for _, s := range bufs {
		if last := len(regions) - 1; last >= 0 && s.start < regions[last].end {
			r := regions[last]
			for _, b := range s.binds {
				r.binds = append(r.binds, binding{b.index, s.start - r.start + b.rel})
			}
			r.end = max(r.end, s.end)
			continue
		}
		regions = append(regions, s)
	}
	for i, b := range d.Bytes { // setBytes copies: never shared
		if _, ok := d.Buffers[i]; ok {
			return nil, fmt.Errorf("%s: index %d has both a buffer and bytes", d.Kernel, i)
		}
		r, err := span(i, b, 0, true)
		if err != nil {
			return nil, err
		}
		regions = append(regions, r)
	}
	return regions, nil
}

func (r *region) describe() string {
	var s []string
	for _, b := range r.binds {
		s = append(s, fmt.Sprintf("buffer(%d)", b.index))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
