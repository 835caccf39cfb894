//go:build mslemu

package emu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

// Tests of the SIMD-group matrices (simdgroup_matrix in shim/metal_stdlib)
// with the kernels of testdata/simdgroup_matrix.metal, against Go.

// matrixAddr is how one simdgroup_load or simdgroup_store addresses memory.
type matrixAddr struct {
	epr, x, y int
	transpose bool
}

// index is the memory index of element (r, c) of the matrix: the origin
// counts in the matrix's columns (x) and rows (y), and a transposed matrix
// lies in memory as its transpose.
func (a matrixAddr) index(r, c int) int {
	if a.transpose {
		return (a.x+c)*a.epr + a.y + r
	}
	return (a.y+r)*a.epr + a.x + c
}

// matrixCopyLen is the number of elements of the copy kernels' buffers:
// 16 rows of 16, room for an 8x8 matrix at every origin and row length the
// cases use.
const matrixCopyLen = 256

// TestMatrixLoadStore loads a matrix with one addressing and stores it with
// another, between device buffers and through threadgroup memory, for
// float and half: default row length, strides, origins and transpositions
// on either side.
func TestMatrixLoadStore(t *testing.T) {
	cases := []struct{ src, dst matrixAddr }{
		{matrixAddr{8, 0, 0, false}, matrixAddr{8, 0, 0, false}},
		{matrixAddr{16, 0, 0, false}, matrixAddr{8, 0, 0, false}},
		{matrixAddr{13, 3, 5, false}, matrixAddr{16, 7, 1, false}},
		{matrixAddr{8, 0, 0, true}, matrixAddr{8, 0, 0, false}},
		{matrixAddr{16, 2, 6, true}, matrixAddr{11, 1, 3, false}},
		{matrixAddr{9, 0, 0, false}, matrixAddr{16, 4, 8, true}},
		{matrixAddr{16, 8, 3, true}, matrixAddr{15, 6, 2, true}},
	}
	for _, half := range []bool{false, true} {
		for mem, where := range []string{"device", "threadgroup"} {
			for _, tc := range cases {
				name := fmt.Sprintf("half=%v/%s/%+v->%+v", half, where, tc.src, tc.dst)
				t.Run(name, func(t *testing.T) {
					for _, s := range Schedules(seedFor(t)) {
						testMatrixCopy(t, s, newRand(t), half, mem, tc.src, tc.dst)
					}
				})
			}
		}
	}
}

func testMatrixCopy(t *testing.T, s Schedule, rng *rand.Rand, half bool, mem int, src, dst matrixAddr) {
	in := make([]float32, matrixCopyLen)
	out := make([]float32, matrixCopyLen)
	for i := range in {
		in[i] = float32(rng.IntN(2000) - 1000) // exact in half
		out[i] = -float32(i + 1)
	}
	want := append([]float32(nil), out...)
	for r := range 8 {
		for c := range 8 {
			want[dst.index(r, c)] = in[src.index(r, c)]
		}
	}
	kernel, size, enc := "emu_selftest_matrix_copy_f32", 4, f32Bytes
	if half {
		kernel, size, enc = "emu_selftest_matrix_copy_f16", 2, f16Bytes
	}
	args := make([]byte, 0, 32)
	for _, a := range []matrixAddr{src, dst} {
		for _, v := range []int{a.epr, a.x, a.y, b2i(a.transpose)} {
			args = binary.LittleEndian.AppendUint32(args, uint32(v))
		}
	}
	nm := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, matrixCopyLen), uint32(mem))
	got := enc(out)
	err := Run(Dispatch{
		Kernel:      kernel,
		Bytes:       map[int][]byte{0: args},
		Buffers:     map[int]Binding{1: {Data: enc(in)}, 2: {Data: got}, 3: {Data: nm}},
		Threadgroup: map[int]int{0: size * matrixCopyLen},
		Grid:        [3]int{1, 1, 1},
		Group:       [3]int{32, 1, 1},
	}, s)
	if err != nil {
		t.Fatalf("%v: %v", s, err)
	}
	dec := f32s
	if half {
		dec = f16s
	}
	if m := mismatch(dec(got), want, func(int) float64 { return 0 }); m != "" {
		t.Errorf("%v: %s", s, m)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// f16Bytes encodes v as halves; f16s decodes them.
func f16Bytes(v []float32) []byte {
	b := make([]byte, 0, 2*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, gguf.FP32ToFP16(x))
	}
	return b
}

func f16s(b []byte) []float32 {
	v := make([]float32, len(b)/2)
	for i := range v {
		v[i] = gguf.FP16ToFP32(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return v
}

// matMulAdd is a*b + c for row-major 8x8 matrices, in float64: the test
// values are small integers, so every partial sum is exact in float.
func matMulAdd(a, b, c []float32) []float32 {
	d := make([]float32, 64)
	for r := range 8 {
		for col := range 8 {
			s := float64(c[8*r+col])
			for k := range 8 {
				s += float64(a[8*r+k]) * float64(b[8*k+col])
			}
			d[8*r+col] = float32(s)
		}
	}
	return d
}

// randInts returns n random integers in [-m, m] as floats.
func randInts(rng *rand.Rand, n, m int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.IntN(2*m+1) - m)
	}
	return v
}

// TestMatrixProducts checks simdgroup_multiply_accumulate,
// simdgroup_multiply, make_filled_simdgroup_matrix and the diagonal
// constructor for float and half, and a product of half operands into a
// float accumulator. The half sums straddle 2048, where half has no odd
// integers: a half result is the exact sum rounded once to half (2049 ->
// 2048, 2051 -> 2052), while the float accumulator of half operands keeps
// it exactly.
func TestMatrixProducts(t *testing.T) {
	const fill = 1.5
	for _, s := range Schedules(seedFor(t)) {
		rng := newRand(t)
		zero := make([]float32, 64)
		diag := make([]float32, 64)
		filled := make([]float32, 64)
		for i := range 64 {
			filled[i] = fill
			if i/8 == i%8 {
				diag[i] = fill
			}
		}

		// float: a, b, c small integers; the mixed product's half a, b
		// with c from 2048 up.
		a, b, c := randInts(rng, 64, 8), randInts(rng, 64, 8), randInts(rng, 64, 100)
		ha, hb := randInts(rng, 64, 4), randInts(rng, 64, 4)
		for i := range c {
			c[i] = 2048 + float32(rng.IntN(4))
		}
		fills := append(f32Bytes([]float32{fill, 0, 0, 0}), f16Bytes(append(append([]float32(nil), ha...), hb...))...)
		out := nanBuffer(5 * 64)
		err := Run(Dispatch{
			Kernel:  "emu_selftest_matrix_products_f32",
			Buffers: map[int]Binding{0: {Data: f32Bytes(append(append(append([]float32(nil), a...), b...), c...))}, 1: {Data: fills}, 2: {Data: out}},
			Grid:    [3]int{1, 1, 1}, Group: [3]int{32, 1, 1},
		}, s)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		want := append(append(append(append(matMulAdd(a, b, c), matMulAdd(a, b, zero)...), filled...), diag...), matMulAdd(ha, hb, c)...)
		if m := mismatch(f32s(out), want, func(int) float64 { return 0 }); m != "" {
			t.Errorf("%v: float: %s", s, m)
		}

		// half: sums 2048 + small integers, rounded to half.
		a, b = randInts(rng, 64, 3), randInts(rng, 64, 3)
		for i := range c {
			c[i] = 2048
		}
		out = make([]byte, 2*4*64)
		err = Run(Dispatch{
			Kernel:  "emu_selftest_matrix_products_f16",
			Buffers: map[int]Binding{0: {Data: f16Bytes(append(append(append([]float32(nil), a...), b...), c...))}, 1: {Data: f32Bytes([]float32{fill})}, 2: {Data: out}},
			Grid:    [3]int{1, 1, 1}, Group: [3]int{32, 1, 1},
		}, s)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		want = append(append(append(matMulAdd(a, b, c), matMulAdd(a, b, zero)...), filled...), diag...)
		odd := 0
		for i, v := range want {
			if i < 64 && int(v)%2 != 0 {
				odd++
			}
			want[i] = gguf.FP16ToFP32(gguf.FP32ToFP16(v))
		}
		if odd == 0 {
			t.Fatalf("no sum needs rounding to half")
		}
		if m := mismatch(f16s(out), want, func(int) float64 { return 0 }); m != "" {
			t.Errorf("%v: half: %s", s, m)
		}
	}
}

// TestBrokenMatrix: matrix functions called by some lanes only, with
// arguments that differ between lanes, or by a partial simdgroup fail with
// the call site.
func TestBrokenMatrix(t *testing.T) {
	for _, tc := range []struct {
		kernel, mark, phrase string
		group                int
	}{
		{"broken_matrix_divergent_load", "divergent matrix load", "divergent control flow", 32},
		{"broken_matrix_lane_stride", "lane stride", "different arguments", 32},
		{"broken_matrix_partial_simdgroup", "partial simdgroup", "needs all 32 lanes", 16},
		{"broken_matrix_partial_simdgroup", "partial simdgroup", "needs all 32 lanes", 48},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.kernel, tc.group), func(t *testing.T) {
			for _, s := range Schedules(seedFor(t)) {
				err := Run(Dispatch{
					Kernel:  tc.kernel,
					Buffers: map[int]Binding{0: {Data: f32Bytes(randF32(newRand(t), 256))}, 1: {Data: nanBuffer(256)}},
					Grid:    [3]int{1, 1, 1}, Group: [3]int{tc.group, 1, 1},
				}, s)
				wantError(t, s, err, tc.mark, tc.phrase)
			}
		})
	}
}
