//go:build mslemu

package emu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
)

// Emulated tests of the kernels of get_rows.metal, rope.metal and
// elementwise.metal against the pure-Go reference
// (internal/gguf, internal/cpu) or a float64 implementation here.
//
// Tolerances:
//   - get_rows: exact up to a fused multiply-add, 1e-6 of the row's largest value.
//   - rope_store: the kernel computes freq_base^(-2i/n_dims) directly, the
//     reference by i repeated float32 multiplications, so angles may differ
//     by about (i+4) * 2^-23 relative; see ropeTol (and normTol for the
//     per-head norms). The cache rows are exact.
//   - swiglu: 1e-6 relative; add, add_bias, argmax: exact.

func opsKernelTests() []kernelTest {
	tests := []kernelTest{
		{"kernel_rope_store", testRopeStore},
		{"kernel_swiglu", testSwiGLU},
		{"kernel_add_bias", testAddBias},
		{"kernel_argmax", testArgmax},
	}
	for _, typ := range weightTypes() {
		names, _ := kernels.ForWeight(typ)
		tests = append(tests, kernelTest{names.GetRows, func(t *testing.T, s Schedule, rng *rand.Rand) {
			testGetRows(t, typ, s, rng)
		}})
	}
	return tests
}

// ---- helpers

func i32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

// maxErr is the largest |got - want| (for reports in the test log).
func maxErr(got []float32, want []float32) float64 {
	e := 0.0
	for i := range got {
		e = max(e, math.Abs(float64(got[i])-float64(want[i])))
	}
	return e
}

// ---- the embedding lookups

func testGetRows(t *testing.T, typ gguf.GGMLType, s Schedule, rng *rand.Rand) {
	var widths []int
	switch typ.BlockElems() {
	case 1:
		widths = []int{1, 37, 300}
	case 32:
		widths = []int{32, 96, 576}
	default:
		widths = []int{256, 768}
	}
	const rows, pad = 6, 48 // pad: the tensor starts pad bytes into its buffer
	for _, ne0 := range widths {
		for _, group := range []int{64, 7} {
			src := randF32(rng, rows*ne0)
			for r := 0; r < rows; r++ { // rows of different magnitudes
				scale := float32(math.Pow(4, float64(r-2)))
				for i := range ne0 {
					src[r*ne0+i] *= scale
				}
			}
			data, err := gguf.Quantize(typ, src, make([]byte, pad))
			if err != nil {
				t.Fatal(err)
			}
			nb1 := (len(data) - pad) / rows
			ids := []int32{5, 0, 3, 3, int32(rows - 1), 1, 2}
			want := make([]float32, len(ids)*ne0)
			tol := make([]float64, len(want))
			for i, id := range ids {
				row := want[i*ne0 : (i+1)*ne0]
				if err := gguf.Dequantize(typ, data[pad+int(id)*nb1:pad+int(id+1)*nb1], row); err != nil {
					t.Fatal(err)
				}
				for j := range row {
					tol[i*ne0+j] = 1e-6 * maxAbs(row)
				}
			}
			dst := nanBuffer(len(want))
			err = Run(Dispatch{
				Kernel:  weightKernels(t, typ).GetRows,
				Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.GetRowsArgs{Ne0: int32(ne0), Nb1: uint32(nb1)})},
				Buffers: map[int]Binding{1: {Data: data, Offset: pad}, 2: {Data: i32Bytes(ids)}, 3: {Data: dst}},
				Grid:    [3]int{len(ids), 1, 1},
				Group:   [3]int{group, 1, 1},
			}, s)
			name := fmt.Sprintf("%s ne0=%d group=%d", typ, ne0, group)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got := f32s(dst)
			if m := mismatch(got, want, func(i int) float64 { return tol[i] }); m != "" {
				t.Errorf("%s: %s", name, m)
			}
			t.Logf("%s: max error %.3g", name, maxErr(got, want))
		}
	}
}

// ---- kernel_rope_store

type ropeCase struct {
	heads, kvHeads, headDim, nDims, pos0, rows int
	base, scale                                float32
	neox, ff, norm                             bool
	sections                                   [4]int // interleaved multimodal RoPE
	kType, vType                               gguf.GGMLType
}

// ropeTol bounds the difference from the reference for a pair of inputs
// x0, x1 rotated by theta, pair index i: the reference's angle carries up
// to about 2i+2 float32 roundings (i multiplications by a rounded ratio),
// the kernel's a few (pow, division by ff, scale), so they differ by at most
// (i+4) * 2^-23 relative; add the rounding of cos, sin and the rotation.
func ropeTol(x0, x1 float32, theta float64, i int) float64 {
	mag := math.Abs(float64(x0)) + math.Abs(float64(x1))
	return mag*(theta*float64(i+4)*0x1p-23+4*0x1p-24) + 1e-30
}

// normTol is the room a per-head RMSNorm adds to a value of magnitude v:
// the kernel sums the squares in its own order and rounds x*scale*w in
// float, as the CPU does in another order.
func normTol(v float32) float64 { return 1e-6 * math.Abs(float64(v)) }

// ropeRef is the reference of kernel_rope_store for the heads of x (rows of
// heads*headDim values): each head normalised with nw (when set) by
// cpu.RMSNorm, then rotated by cpu.Rope, with the tolerance of each value
// and the float64 rotation (for the log).
func ropeRef(tc ropeCase, x []float32, heads int, ff, nw []float32) (want []float32, tol, exact []float64) {
	rp := engine.Rope{Sections: tc.sections}
	ne0 := heads * tc.headDim
	want = append([]float32(nil), x...)
	tol = make([]float64, len(want))
	exact = make([]float64, len(want))
	cos, sin := make([]float32, tc.nDims/2), make([]float32, tc.nDims/2)
	for r := 0; r < tc.rows; r++ {
		pos := tc.pos0 + r
		cpu.RopeAngles(cos, sin, pos, tc.nDims, tc.base, tc.scale, ff)
		for i := range cos {
			if !rp.Rotates(i) {
				cos[i], sin[i] = 1, 0
			}
		}
		for h := 0; h < heads; h++ {
			o := r*ne0 + h*tc.headDim
			head := want[o : o+tc.headDim]
			if nw != nil {
				cpu.RMSNorm(head, head, nw, 1e-6)
			}
			x0 := append([]float32(nil), head...)
			for d, v := range x0 {
				exact[o+d] = float64(v)
				if nw != nil {
					tol[o+d] = normTol(v)
				}
			}
			cpu.Rope(head, cos, sin, tc.neox)
			for i := range cos {
				a, b := 2*i, 2*i+1
				if tc.neox {
					a, b = i, i+tc.nDims/2
				}
				theta := float64(pos) * math.Pow(float64(tc.base), -2*float64(i)/float64(tc.nDims)) * float64(tc.scale)
				if ff != nil {
					theta /= float64(ff[i])
				}
				if !rp.Rotates(i) {
					theta = 0
				}
				e := ropeTol(x0[a], x0[b], theta, i)
				if !rp.Rotates(i) {
					e = 0 // the pair must stay as it is (up to the norm)
				}
				tol[o+a] += e
				tol[o+b] += e
				c, s := math.Cos(theta), math.Sin(theta)
				exact[o+a] = float64(x0[a])*c - float64(x0[b])*s
				exact[o+b] = float64(x0[a])*s + float64(x0[b])*c
			}
		}
	}
	return want, tol, exact
}

// cacheTypes are the KV cache's types (kernels.ForCache).
var cacheTypes = []gguf.GGMLType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1}

// ropeCases: the rotations of every model family (plain and NeoX pairs,
// partial rotation, frequency factors, scaling, multimodal sections, late
// positions), with and without per-head norms, head dims 64 and 128 with
// every cache type for keys and values, odd head counts and dims for the
// float caches.
func ropeCases() []ropeCase {
	cases := []ropeCase{
		{heads: 3, kvHeads: 1, headDim: 64, nDims: 64, pos0: 0, rows: 3, base: 10000, scale: 1},
		{heads: 2, kvHeads: 2, headDim: 128, nDims: 128, pos0: 7, rows: 2, base: 100000, scale: 1, neox: true, norm: true},
		{heads: 2, kvHeads: 1, headDim: 256, nDims: 64, pos0: 1000, rows: 2, base: 1e7, scale: 1, neox: true, ff: true, norm: true},
		{heads: 3, kvHeads: 3, headDim: 32, nDims: 16, pos0: 3000, rows: 2, base: 10000, scale: 0.25},
		{heads: 1, kvHeads: 1, headDim: 80, nDims: 80, pos0: 4090, rows: 3, base: 130000, scale: 1, ff: true},
		{heads: 5, kvHeads: 1, headDim: 64, nDims: 32, pos0: 17, rows: 1, base: 500000, scale: 0.5, neox: true, norm: true},
		// Qwen3.5's sections (every pair turns) and sections whose e sectors do not.
		{heads: 2, kvHeads: 1, headDim: 256, nDims: 64, pos0: 5, rows: 3, base: 1e7, scale: 1, neox: true, norm: true, sections: [4]int{11, 11, 10, 0}},
		{heads: 3, kvHeads: 3, headDim: 40, nDims: 40, pos0: 300, rows: 2, base: 10000, scale: 1, neox: true, sections: [4]int{2, 3, 1, 4}},
		{heads: 2, kvHeads: 2, headDim: 24, nDims: 24, pos0: 9, rows: 2, base: 10000, scale: 1, sections: [4]int{1, 1, 1, 2}},
	}
	for i := range cases {
		if cases[i].headDim%32 == 0 {
			cases[i].kType, cases[i].vType = cacheTypes[(i+3)%8], cacheTypes[(i+6)%8]
		} else {
			cases[i].kType, cases[i].vType = cacheTypes[i%3], cacheTypes[(i+1)%3]
		}
	}
	// Every type as keys and as values, at head dims 64 and 128 (SmolLM2
	// and Qwen3 shapes, the decode row of a deep position and a batch).
	for i, typ := range cacheTypes {
		cases = append(cases,
			ropeCase{heads: 4, kvHeads: 2, headDim: 64, nDims: 64, pos0: 700, rows: 1, base: 130000, scale: 1, kType: typ, vType: cacheTypes[(i+1)%8]},
			ropeCase{heads: 4, kvHeads: 1, headDim: 128, nDims: 128, pos0: 33, rows: 3, base: 1e6, scale: 1, neox: true, norm: true,
				kType: cacheTypes[(i+5)%8], vType: typ})
	}
	return cases
}

// testRopeStore checks the rotated q and k against the reference with
// ropeTol, and the cache rows byte for byte against gguf.Quantize of the
// kernel's own rotated keys and of the values; the rest of the caches must
// stay as they were.
func testRopeStore(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range ropeCases() {
		name := fmt.Sprintf("%+v", tc)
		qDim, kvDim := tc.heads*tc.headDim, tc.kvHeads*tc.headDim
		q, k := randF32(rng, tc.rows*qDim), randF32(rng, tc.rows*kvDim)
		v := storeValues(rng, ceilDiv(tc.rows*kvDim, 32)*32)[:tc.rows*kvDim]
		var ff, qn, kn []float32
		if tc.ff {
			ff = make([]float32, tc.nDims/2)
			for i := range ff {
				ff[i] = 1 + 40*rng.Float32()
			}
		}
		if tc.norm {
			qn, kn = randF32(rng, tc.headDim), randF32(rng, tc.headDim)
		}
		wantQ, tolQ, exactQ := ropeRef(tc, q, tc.heads, ff, qn)
		wantK, tolK, _ := ropeRef(tc, k, tc.kvHeads, ff, kn)

		args := kernels.RopeStoreArgs{HeadDim: int32(tc.headDim), NDims: int32(tc.nDims), NHeads: int32(tc.heads),
			NKVHeads: int32(tc.kvHeads), Pos0: int32(tc.pos0), FreqBase: tc.base, FreqScale: tc.scale,
			Sec0: int32(tc.sections[0]), Sec1: int32(tc.sections[1]), Sec2: int32(tc.sections[2]), Sec3: int32(tc.sections[3]),
			Eps: 1e-6, KType: int32(tc.kType), VType: int32(tc.vType)}
		if tc.neox {
			args.NeoX = 1
		}
		qb, kb := f32Bytes(q), f32Bytes(k)
		// Unused inputs are bound to q, as the backend binds them.
		bufs := map[int]Binding{1: {Data: qb}, 2: {Data: kb}, 3: {Data: f32Bytes(v)}, 4: {Data: qb}, 5: {Data: qb}, 6: {Data: qb}}
		if tc.ff {
			args.HasFF = 1
			bufs[4] = Binding{Data: f32Bytes(ff)}
		}
		if tc.norm {
			args.HasNorm = 1
			bufs[5], bufs[6] = Binding{Data: f32Bytes(qn)}, Binding{Data: f32Bytes(kn)}
		}
		// The caches: 16 bytes before the layer's first row, pos0+rows+2 rows.
		const pad = 16
		caches := [2][]byte{}
		rowBytes := [2]int{}
		for i, typ := range []gguf.GGMLType{tc.kType, tc.vType} {
			rb, err := typ.RowBytes(kvDim)
			if err != nil {
				t.Fatal(err)
			}
			rowBytes[i] = rb
			caches[i] = make([]byte, pad+rb*(tc.pos0+tc.rows+2))
			for j := range caches[i] {
				caches[i][j] = byte(j*7 + 1)
			}
			bufs[7+i] = Binding{Data: caches[i], Offset: pad}
		}
		orig := [2][]byte{append([]byte(nil), caches[0]...), append([]byte(nil), caches[1]...)}
		err := Run(Dispatch{
			Kernel:  "kernel_rope_store",
			Bytes:   map[int][]byte{0: kernels.Bytes(&args)},
			Buffers: bufs,
			Grid:    [3]int{tc.rows, tc.heads + 2*tc.kvHeads, 1},
			Group:   [3]int{32, 1, 1},
		}, s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		gotQ, gotK := f32s(qb), f32s(kb)
		if m := mismatch(gotQ, wantQ, func(i int) float64 { return tolQ[i] }); m != "" {
			t.Errorf("%s: q: %s", name, m)
		}
		if m := mismatch(gotK, wantK, func(i int) float64 { return tolK[i] }); m != "" {
			t.Errorf("%s: k: %s", name, m)
		}
		for i, rows := range [2][]float32{gotK, v} {
			typ := []gguf.GGMLType{tc.kType, tc.vType}[i]
			want, err := gguf.Quantize(typ, rows, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := pad + tc.pos0*rowBytes[i]
			end := start + tc.rows*rowBytes[i]
			if got := caches[i][start:end]; !bytes.Equal(got, want) {
				t.Errorf("%s: %s cache (%s) rows differ from gguf.Quantize of the rows", name, []string{"key", "value"}[i], typ)
			}
			if !bytes.Equal(caches[i][:start], orig[i][:start]) || !bytes.Equal(caches[i][end:], orig[i][end:]) {
				t.Errorf("%s: %s cache: wrote outside the rows", name, []string{"key", "value"}[i])
			}
		}
		worst, gotExact := 0.0, 0.0
		for i := range gotQ {
			if tolQ[i] > 1e-30 {
				worst = max(worst, math.Abs(float64(gotQ[i])-float64(wantQ[i]))/tolQ[i])
			}
			if !tc.norm {
				gotExact = max(gotExact, math.Abs(float64(gotQ[i])-exactQ[i]))
			}
		}
		t.Logf("%s: max difference from the reference %.3g (%.2f of the tolerance); from float64 %.3g",
			name, maxErr(gotQ, wantQ), worst, gotExact)
	}
}

// ---- elementwise kernels

var eltSizes = []int{1, 7, 255, 256, 1000, 4097}

func testSwiGLU(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, n := range eltSizes {
		for _, alias := range []bool{false, true} {
			gate, up := gateValues(rng, n), randF32(rng, n)
			want := make([]float32, n)
			cpu.SwiGLU(want, gate, up)
			g := f32Bytes(gate)
			bufs := map[int]Binding{1: {Data: g}, 2: {Data: f32Bytes(up)}}
			dst := g
			if !alias {
				dst = nanBuffer(n)
			}
			bufs[3] = Binding{Data: dst}
			err := runElementwise("kernel_swiglu", kernels.ElementwiseArgs{N: int32(n)}, n, bufs, s)
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if m := mismatch(f32s(dst), want, relTol(want, 1e-6)); m != "" {
				t.Errorf("n=%d alias=%v: %s", n, alias, m)
			}
		}
	}
}

// runElementwise runs a kernel over n values as the backend launches the
// elementwise kernels: threadgroups of 256 threads.
func runElementwise[T kernels.Args](kernel string, args T, n int, bufs map[int]Binding, s Schedule) error {
	return Run(Dispatch{
		Kernel: kernel, Bytes: map[int][]byte{0: kernels.Bytes(&args)}, Buffers: bufs,
		Grid: [3]int{ceilDiv(n, 256), 1, 1}, Group: [3]int{256, 1, 1},
	}, s)
}

// gateValues returns n random arguments of a sigmoid (or silu): within +-12,
// with saturated and overflowing exponentials here and there.
func gateValues(rng *rand.Rand, n int) []float32 {
	gate := randF32(rng, n)
	for i := range gate {
		gate[i] *= 12
		if i%97 == 5 {
			gate[i] = []float32{-100, 100, -1e30, 89, -89}[i%5]
		}
	}
	return gate
}

func testAddBias(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ ne0, rows int }{{1, 1}, {7, 3}, {576, 2}, {100, 41}, {1, 300}} {
		n := tc.ne0 * tc.rows
		x, b := randF32(rng, n), randF32(rng, tc.ne0)
		want := make([]float32, n)
		for i := range want {
			want[i] = x[i] + b[i%tc.ne0]
		}
		inout := f32Bytes(x)
		err := runElementwise("kernel_add_bias", kernels.BiasArgs{Ne0: int32(tc.ne0), N: int32(n)}, n, map[int]Binding{1: {Data: inout}, 2: {Data: f32Bytes(b)}}, s)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if m := mismatch(f32s(inout), want, func(int) float64 { return 0 }); m != "" {
			t.Errorf("%+v: %s", tc, m)
		}
	}
}

func testArgmax(t *testing.T, s Schedule, rng *rand.Rand) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		n, group int
		fill     string
	}{
		{1, 1024, "random"}, {31, 1024, "random"}, {1000, 1024, "ties"}, {4097, 1024, "ties"},
		{49152, 1024, "ties"}, {3000, 1024, "equal"}, {300, 1024, "-inf"}, {50, 1024, "all -inf"},
		{2000, 96, "ties"}, {500, 33, "ties"}, {151936, 1024, "+inf"}, {700, 64, "nan"},
	} {
		x := randF32(rng, tc.n)
		switch tc.fill {
		case "ties": // the maximum at three places
			m := float32(2)
			for _, i := range []int{tc.n * 2 / 3, tc.n/3 + 5, tc.n - 1} {
				x[i] = m
			}
		case "equal":
			for i := range x {
				x[i] = 0.25
			}
		case "-inf", "all -inf":
			for i := range x {
				x[i] = -inf
			}
			if tc.fill == "-inf" {
				x[tc.n-7] = -1e30
				x[100] = float32(math.NaN())
			}
		case "+inf":
			x[tc.n-3] = inf
		case "nan": // in the last simdgroup's last lane's values only
			x[tc.n-1] = float32(math.NaN())
		}
		bad := int32(0)
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				bad = 1
			}
		}
		want := int32(0)
		for i, v := range x {
			if v > x[want] {
				want = int32(i)
			}
		}
		out := nanBuffer(2)
		err := Run(Dispatch{
			Kernel:      "kernel_argmax",
			Bytes:       map[int][]byte{0: kernels.Bytes(&kernels.ElementwiseArgs{N: int32(tc.n)})},
			Buffers:     map[int]Binding{1: {Data: f32Bytes(x)}, 2: {Data: out}},
			Threadgroup: map[int]int{0: 4 * 32, 1: 4 * 32, 2: 4 * 32},
			Grid:        [3]int{1, 1, 1},
			Group:       [3]int{tc.group, 1, 1},
		}, s)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if got := int32(binary.LittleEndian.Uint32(out)); got != want {
			t.Errorf("%+v: got %d, want %d", tc, got, want)
		}
		if got := int32(binary.LittleEndian.Uint32(out[4:])); got != bad {
			t.Errorf("%+v: non-finite flag %d, want %d", tc, got, bad)
		}
	}
}
