//go:build darwin

package metal

import (
	"encoding/binary"
	"math"
	"strings"
	"syscall"
	"testing"
)

// These tests need a Mac with a Metal GPU; elsewhere they skip. They check
// the purego binding itself — the part the fake runtime stands in for —
// with a kernel of their own, independent of internal/kernels.

const deviceTestSource = `
#include <metal_stdlib>
using namespace metal;

struct AxpyArgs { uint n; float a; };

// y += a * x, staged through threadgroup memory.
kernel void test_axpy(constant AxpyArgs &args [[buffer(0)]],
                      device const float *x [[buffer(1)]],
                      device float *y [[buffer(2)]],
                      threadgroup float *stage [[threadgroup(0)]],
                      uint gid [[thread_position_in_grid]],
                      uint lid [[thread_position_in_threadgroup]]) {
    stage[lid] = gid < args.n ? x[gid] : 0.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (gid < args.n) {
        y[gid] += args.a * stage[lid];
    }
}

kernel void test_double(constant uint &n [[buffer(0)]],
                        device float *y [[buffer(1)]],
                        uint gid [[thread_position_in_grid]]) {
    if (gid < n) {
        y[gid] *= 2.0f;
    }
}
`

func openMetal(t *testing.T) Device {
	t.Helper()
	if !Available() {
		t.Skip("no Metal device")
	}
	d, err := newDevice(deviceTestSource, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func putFloats(b []byte, v func(i int) float32) {
	for i := 0; i+4 <= len(b); i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(v(i/4)))
	}
}

func TestMetalRunsKernels(t *testing.T) {
	d := openMetal(t)
	if d.Name() == "" || d.MaxBufferLength() <= 0 {
		t.Errorf("name %q, max buffer %d", d.Name(), d.MaxBufferLength())
	}
	const n = 1000
	page := syscall.Getpagesize()
	// x lives in a wrapped mapping whose last page is partial, as the tail
	// of a model file is.
	mem, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	xs, err := d.WrapNoCopy(mem[:page+4*n])
	if err != nil {
		t.Fatal(err)
	}
	putFloats(xs.Contents()[page:], func(i int) float32 { return float32(i) })
	ys, err := d.NewBuffer(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	putFloats(ys.Contents(), func(i int) float32 { return 1 })

	// AxpyArgs{n, 0.5} and the count, as the kernels read them.
	axpy := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, n), math.Float32bits(0.5))
	count := binary.LittleEndian.AppendUint32(nil, n)
	groups := (n + 63) / 64
	elapsed, err := run(d, []Dispatch{
		{
			Pipeline: pipeline(t, d, "test_axpy"), Args: axpy,
			Buffers:     []Binding{{xs, page}, {ys, 0}},
			Threadgroup: []int{64 * 4},
			Grid:        [3]int{groups, 1, 1}, Group: [3]int{64, 1, 1},
		},
		{
			Pipeline: pipeline(t, d, "test_double"), Args: count,
			Buffers: []Binding{{ys, 0}},
			Grid:    [3]int{groups, 1, 1}, Group: [3]int{64, 1, 1},
			Barrier: true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed <= 0 {
		t.Errorf("GPU time %v", elapsed)
	}
	y := ys.Contents()
	for i := range n {
		got := math.Float32frombits(binary.LittleEndian.Uint32(y[4*i:]))
		if want := 2 * (1 + 0.5*float32(i)); got != want {
			t.Fatalf("y[%d] = %v, want %v", i, got, want)
		}
	}
}

func TestMetalErrors(t *testing.T) {
	if !Available() {
		t.Skip("no Metal device")
	}
	_, err := newDevice("kernel void broken(", nil)
	if err == nil || !strings.Contains(err.Error(), "compile kernel source") {
		t.Errorf("compile error: %v", err)
	}
	d := openMetal(t)
	_, err = d.Pipeline("missing")
	if err == nil || !strings.Contains(err.Error(), "not in the library") {
		t.Errorf("missing kernel: %v", err)
	}
	if _, err := d.WrapNoCopy(make([]byte, 100)[1:]); err == nil {
		t.Error("wrapped unaligned memory")
	}
}
