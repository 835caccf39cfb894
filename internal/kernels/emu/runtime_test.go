//go:build mslemu

package emu

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/kernels"
)

// TestSelftestSimd checks the SIMD-group functions against their MSL
// definitions, including a partial last simdgroup (40 = 32 + 8 threads),
// where reading an inactive lane gives NaN.
func TestSelftestSimd(t *testing.T) {
	const fields = 12
	nan := math.NaN()
	for _, group := range []int{40, 64} {
		for _, s := range Schedules(seedFor(t)) {
			out := nanBuffer(2 * group * fields)
			err := Run(Dispatch{
				Kernel:  "emu_selftest_simd",
				Buffers: map[int]Binding{0: {Data: out}},
				Grid:    [3]int{2, 1, 1},
				Group:   [3]int{group, 1, 1},
			}, s)
			if err != nil {
				t.Fatal(err)
			}
			got := f32s(out)
			for th := 0; th < 2*group; th++ {
				lane, n := th%group%32, min(32, group-th%group/32*32)
				from := func(src int) float64 { // value of lane src, NaN if inactive
					if src < n {
						return float64(src)
					}
					return nan
				}
				keep := func(src int) float64 { // shuffle_up/down keep their own value off the end
					if src < 0 || src >= 32 {
						return float64(lane)
					}
					return from(src)
				}
				any5 := 0.0
				if n > 5 {
					any5 = 2
				}
				want := []float64{
					float64(n * (n - 1) / 2), float64(n - 1), 1,
					float64(lane * (lane - 1) / 2), float64(lane * (lane + 1) / 2),
					keep(lane + 1), keep(lane - 2), from(lane ^ 1), from(3), from(31 - lane), 10, any5,
				}
				for f, w := range want {
					g := float64(got[th*fields+f])
					if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
						t.Errorf("%v group %d thread %d field %d: got %g, want %g", s, group, th, f, g, w)
					}
				}
			}
		}
	}
}

func TestSelftestVectors(t *testing.T) {
	in := make([]byte, 8)
	for i, h := range []uint16{0x3E00, 0xC000, 0x4280, 0x3800} { // 1.5, -2, 3.25, 0.5 as half
		binary.LittleEndian.PutUint16(in[2*i:], h)
	}
	out := nanBuffer(14)
	err := Run(Dispatch{
		Kernel:  "emu_selftest_vectors",
		Buffers: map[int]Binding{0: {Data: in}, 1: {Data: out}},
		Grid:    [3]int{1, 1, 1},
		Group:   [3]int{1, 1, 1},
	}, Schedule{})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1.5, -2, 3.25, 0.5, 5, 6, 7, -1, 2, 3, 0, 127, 11, 1.5 - 2 + 5 + 6 + 8}
	if m := mismatch(f32s(out), want, func(int) float64 { return 0 }); m != "" {
		t.Error(m)
	}
}

// TestBufferViews binds two views of one allocation, as the backend binds
// activations: the kernel must see (and write) one shared memory.
func TestBufferViews(t *testing.T) {
	const n = 100
	rng := newRand(t)
	a, b := randF32(rng, n), randF32(rng, n)
	mem := append(f32Bytes(a), f32Bytes(b)...)
	err := Run(Dispatch{
		Kernel:  "kernel_add",
		Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.ElementwiseArgs{N: n})},
		Buffers: map[int]Binding{1: {Data: mem[4*n:]}, 2: {Data: mem, Offset: 0}},
		Grid:    [3]int{2, 1, 1},
		Group:   [3]int{64, 1, 1},
	}, Schedule{})
	if err != nil {
		t.Fatal(err)
	}
	got := f32s(mem)
	for i := 0; i < n; i++ {
		if got[i] != a[i] || got[n+i] != a[i]+b[i] {
			t.Fatalf("element %d: a %g dst %g, want %g and %g", i, got[i], got[n+i], a[i], a[i]+b[i])
		}
	}
}

func TestDispatchErrors(t *testing.T) {
	buf := func() Binding { return Binding{Data: nanBuffer(64)} }
	norm := func(change func(d *Dispatch)) Dispatch {
		d := Dispatch{
			Kernel:      "kernel_rms_norm",
			Bytes:       map[int][]byte{0: kernels.Bytes(&kernels.RMSNormArgs{Ne0: 64, Eps: 1e-6})},
			Buffers:     map[int]Binding{1: buf(), 2: buf(), 3: buf()},
			Threadgroup: map[int]int{0: 128},
			Grid:        [3]int{1, 1, 1},
			Group:       [3]int{64, 1, 1},
		}
		change(&d)
		return d
	}
	for _, tc := range []struct {
		name string
		d    Dispatch
		want string
	}{
		{"ok", norm(func(d *Dispatch) {}), ""},
		{"unknown kernel", norm(func(d *Dispatch) { d.Kernel = "kernel_nope" }), "unknown kernel kernel_nope"},
		{"threads", norm(func(d *Dispatch) { d.Group = [3]int{64, 4, 5} }), "1280 threads per threadgroup exceed the limit of 1024"},
		{"zero grid", norm(func(d *Dispatch) { d.Grid = [3]int{0, 1, 1} }), "bad grid"},
		{"tg memory", norm(func(d *Dispatch) { d.Threadgroup = map[int]int{0: 128, 1: 32768} }), "32896 bytes of threadgroup memory exceed the limit of 32768"},
		{"tg alignment", norm(func(d *Dispatch) { d.Threadgroup = map[int]int{0: 100} }), "not a multiple of 16"},
		{"tg unset", norm(func(d *Dispatch) { d.Threadgroup = nil }), "threadgroup(0) memory length is not set"},
		{"buffer unset", norm(func(d *Dispatch) { delete(d.Buffers, 1) }), "buffer(1) is not bound"},
		{"bytes unset", norm(func(d *Dispatch) { d.Bytes = nil }), "buffer(0) is not bound"},
		{"offset", norm(func(d *Dispatch) { d.Buffers[1] = Binding{Data: nanBuffer(4), Offset: 16} }), "offset 16 is outside"},
		{"both", norm(func(d *Dispatch) { d.Buffers[0] = buf() }), "both a buffer and bytes"},
	} {
		err := Run(tc.d, Schedule{})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got error %v, want %q", tc.name, err, tc.want)
		}
	}
}
