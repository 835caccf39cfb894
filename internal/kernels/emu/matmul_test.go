//go:build mslemu

package emu

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
)

// Tests of kernel_mul_mv_<type> and kernel_mul_mm_<type> (mul_mv.metal,
// mul_mm.metal, dequant.h) against the pure-Go reference: random weights are
// quantized with gguf.Quantize, dequantized back with gguf.Dequantize, and
// the dot products are taken in float64.

// weightTypes are the weight types the kernels read (kernels.ForWeight).
func weightTypes() []gguf.GGMLType {
	return []gguf.GGMLType{
		gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16,
		gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0,
		gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K,
	}
}

// weightKernels returns the kernels of typ, failing the test without them.
func weightKernels(t *testing.T, typ gguf.GGMLType) kernels.WeightKernels {
	names, ok := kernels.ForWeight(typ)
	if !ok {
		t.Fatalf("no kernels for weight type %s", typ)
	}
	return names
}

// matmulKernel is one of a weight type's matrix kernels.
type matmulKernel int

const (
	mulMV      matmulKernel = iota // WeightKernels.MulMV
	mulMVBatch                     // WeightKernels.MulMVBatch
	mulMM                          // WeightKernels.MulMM
)

// name is k's kernel among names.
func (k matmulKernel) name(names kernels.WeightKernels) string {
	return [...]string{names.MulMV, names.MulMVBatch, names.MulMM}[k]
}

// matmulKernelTests registers the matrix kernels' tests with kernelTests().
func matmulKernelTests() []kernelTest {
	var ts []kernelTest
	for _, typ := range weightTypes() {
		names, _ := kernels.ForWeight(typ)
		for _, k := range []matmulKernel{mulMV, mulMVBatch, mulMM} {
			ts = append(ts, kernelTest{k.name(names), func(t *testing.T, s Schedule, rng *rand.Rand) {
				if typ == gguf.TypeF32 && k == mulMV {
					testMulMvF32(t, s, rng) // arbitrary row lengths, 1-8 simdgroups, padded rows
				}
				testMatMul(t, k, typ, s, rng)
			}})
		}
		ts = append(ts, kernelTest{names.MulMVFused, func(t *testing.T, s Schedule, rng *rand.Rand) {
			testMulMVFused(t, typ, s, rng)
		}})
	}
	return append(ts, kernelTest{kernels.MulMVFusedMixed, testMulMVFusedMixed})
}

// matmulShape is one case: ne00 is an index into the type's row lengths
// (rowLengths), pad adds garbage bytes (0xFF: NaN for the float types and in
// every fp16 scale) after each weight row.
type matmulShape struct {
	ne00, ne01, ne11 int
	pad              bool
}

// rowLengths are short, medium and long rows for a type: one block, a few,
// and more blocks than a simdgroup of mul_mv has in flight (16 blocks of 32,
// 4 blocks of 256). The float types get lengths that are not multiples of 4
// or 32.
func rowLengths(typ gguf.GGMLType) [3]int {
	switch be := typ.BlockElems(); {
	case be == 1:
		return [3]int{37, 100, 544}
	case be == 32:
		return [3]int{32, 96, 544}
	default:
		return [3]int{256, 768, 1280}
	}
}

var (
	// mul_mv: rows not multiples of a simdgroup's rows (a simdgroup past
	// ne01, one with some rows past it), ne11 = 1 (decode) and more (one
	// threadgroup row each).
	mvShapes = []matmulShape{
		{0, 5, 1, false}, {1, 13, 3, false}, {2, 70, 1, false}, {0, 9, 6, false},
		{1, 16, 2, true}, {2, 12, 7, true}, {2, 3, 1, false},
	}
	// mul_mv_batch: the backend's 2..7 rows, a full batch, several batches
	// with a partial last one, one row; odd ne01 (a simdgroup past it).
	mvBatchShapes = []matmulShape{
		{0, 5, 2, false}, {1, 13, 3, false}, {2, 7, 7, false}, {0, 9, 8, true},
		{1, 16, 5, true}, {2, 3, 17, false}, {1, 11, 1, false}, {0, 4, 16, false},
	}
	// mul_mm (64x32 tiles): tails in both tile dimensions, whole tiles
	// (one, and two by two: stored straight into dst), a single activation
	// row, several tiles each way with partial last ones.
	mmShapes = []matmulShape{
		{0, 5, 3, false}, {1, 33, 33, false}, {0, 40, 1, false}, {2, 70, 40, false},
		{1, 64, 32, true}, {0, 128, 64, false}, {0, 64, 9, true}, {1, 130, 65, false},
	}
)

// matmulTolerance is the allowed |got - want| relative to the sum of |terms|
// of a dot product. The kernels accumulate in float, in an order of their
// own, and round d*scale*q differently from gguf.Dequantize: each term may
// carry a few float roundings (~1e-7), the sums of up to 1280 terms a few
// more. 1e-5 leaves a wide margin (the largest error seen is ~2e-7 for every
// type) while a wrong scale, bit or offset is off by far more; the float
// types' weights convert exactly, the quantized types' scales are fp16 read
// exactly, so both get the same bound.
const matmulTolerance = 1e-5

// mmTolerance is the tolerance of kernel_mul_mm for typ: its weight tiles
// hold the quantized types' values in half, each rounded by at most 2^-11
// of its magnitude, so a sum may be off by 2^-11 of its sum of |terms| on
// top of matmulTolerance. The float types' tiles hold their values exactly.
func mmTolerance(typ gguf.GGMLType) float64 {
	if typ.BlockElems() == 1 {
		return matmulTolerance
	}
	return 0x1p-11 + matmulTolerance
}

// matmulCase holds the quantized weights, activations and the reference.
type matmulCase struct {
	typ  gguf.GGMLType
	w    []byte // ne01 rows of nb01 bytes
	nb01 int
	deq  []float32 // the weights dequantized, ne01 rows of ne00
	x    []float32
	want []float32
	mag  []float64 // sum of |w*x| per output
	ne00 int
	ne01 int
	ne11 int
}

func newMatmulCase(t *testing.T, typ gguf.GGMLType, ne00, ne01, ne11 int, pad bool, rng *rand.Rand) *matmulCase {
	t.Helper()
	rowBytes, err := typ.RowBytes(ne00)
	if err != nil {
		t.Fatal(err)
	}
	padBytes := 0
	if pad {
		padBytes = typ.BlockBytes()
		if typ.BlockElems() == 1 {
			padBytes = 3 * typ.BlockBytes() // rows no longer 4-value aligned
		}
	}
	c := &matmulCase{typ: typ, nb01: rowBytes + padBytes, ne00: ne00, ne01: ne01, deq: make([]float32, ne01*ne00)}
	src := make([]float32, ne00)
	for r := 0; r < ne01; r++ {
		scale := float32(math.Exp(rng.Float64()*4 - 3)) // rows of different magnitudes: 0.05 to 2.7
		for i := range src {
			src[i] = (rng.Float32()*2 - 1) * scale
		}
		start := len(c.w)
		if c.w, err = gguf.Quantize(typ, src, c.w); err != nil {
			t.Fatal(err)
		}
		if err := gguf.Dequantize(typ, c.w[start:], c.deq[r*ne00:(r+1)*ne00]); err != nil {
			t.Fatal(err)
		}
		c.w = append(c.w, bytes.Repeat([]byte{0xFF}, padBytes)...)
	}
	c.setActivations(ne11, rng)
	return c
}

// reshaped returns the case's weights, which must have no padding, as rows
// of ne00 values, with ne11 new activation rows: the blocks stay as they
// are, so the weights need not be quantized again.
func (c *matmulCase) reshaped(ne00, ne11 int, rng *rand.Rand) *matmulCase {
	r := &matmulCase{typ: c.typ, w: c.w, deq: c.deq, ne00: ne00, ne01: len(c.deq) / ne00}
	r.nb01 = len(c.w) / r.ne01
	r.setActivations(ne11, rng)
	return r
}

// setActivations draws ne11 rows of activations and computes the reference.
func (c *matmulCase) setActivations(ne11 int, rng *rand.Rand) {
	c.setX(randF32(rng, ne11*c.ne00))
}

// setX makes x (whole rows of ne00 values) the activations and computes the
// reference.
func (c *matmulCase) setX(x []float32) {
	ne11 := len(x) / c.ne00
	c.ne11 = ne11
	c.x = x
	// The kernels round activations to the precision of F16 and BF16
	// weights, as the CPU backend does; so does the reference.
	xr := make([]float32, len(c.x))
	for i, v := range c.x {
		switch c.typ {
		case gguf.TypeF16:
			v = gguf.FP16ToFP32(gguf.FP32ToFP16(v))
		case gguf.TypeBF16:
			v = gguf.BF16ToFP32(gguf.FP32ToBF16(v))
		}
		xr[i] = v
	}
	ne00, ne01 := c.ne00, c.ne01
	c.want = make([]float32, ne11*ne01)
	c.mag = make([]float64, ne11*ne01)
	for j := 0; j < ne11; j++ {
		for r := 0; r < ne01; r++ {
			var sum, abs float64
			for i := 0; i < ne00; i++ {
				p := float64(c.deq[r*ne00+i]) * float64(xr[j*ne00+i])
				sum, abs = sum+p, abs+math.Abs(p)
			}
			c.want[j*ne01+r], c.mag[j*ne01+r] = float32(sum), abs
		}
	}
}

// dispatch is the record of kernel k of names (internal/metal's MatMul
// makes the same) for the case.
func (c *matmulCase) dispatch(names kernels.WeightKernels, k matmulKernel, dst []byte) Dispatch {
	d := Dispatch{
		Kernel:  k.name(names),
		Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.MatMulArgs{Ne00: int32(c.ne00), Ne01: int32(c.ne01), Nb01: uint32(c.nb01), Ne11: int32(c.ne11)})},
		Buffers: map[int]Binding{1: {Data: c.w}, 2: {Data: f32Bytes(c.x)}, 3: {Data: dst}},
		Group:   [3]int{kernels.MVThreads, 1, 1},
	}
	switch k {
	case mulMV:
		d.Grid = [3]int{ceilDiv(c.ne01, names.MulMVRows*kernels.MVSG), c.ne11, 1}
	case mulMVBatch:
		d.Grid = [3]int{ceilDiv(c.ne01, kernels.MVSG), ceilDiv(c.ne11, kernels.MVBatch), 1}
	case mulMM:
		d.Threadgroup = map[int]int{0: kernels.MMTGW, 1: kernels.MMTGX}
		d.Grid = [3]int{ceilDiv(c.ne01, kernels.MMRows), ceilDiv(c.ne11, kernels.MMCols), 1}
		d.Group = [3]int{kernels.MMThreads, 1, 1}
	}
	return d
}

// check compares got with the reference and returns a mismatch description
// (or "") and the largest error relative to the sum of |terms|.
func (c *matmulCase) check(got []float32, rel float64) (string, float64) {
	worst := 0.0
	for i := range got {
		if e := math.Abs(float64(got[i])-float64(c.want[i])) / (c.mag[i] + 1e-30); e > worst || math.IsNaN(e) {
			worst = e
		}
	}
	return mismatch(got, c.want, func(i int) float64 { return rel*c.mag[i] + 1e-6 }), worst
}

func testMatMul(t *testing.T, k matmulKernel, typ gguf.GGMLType, s Schedule, rng *rand.Rand) {
	if asanBuild && (s.Order == Reverse || s.Workers > 1) {
		// Out-of-bounds accesses do not depend on the order of threads; the
		// ASan build is slow, so it checks forward and random order only.
		t.Skip("ASan build: forward and random schedules only")
	}
	names := weightKernels(t, typ)
	shapes := [...][]matmulShape{mvShapes, mvBatchShapes, mmShapes}[k]
	rel := matmulTolerance
	if k == mulMM {
		rel = mmTolerance(typ)
	}
	worst := 0.0
	for _, sh := range shapes {
		ne00 := rowLengths(typ)[sh.ne00]
		c := newMatmulCase(t, typ, ne00, sh.ne01, sh.ne11, sh.pad, rng)
		dst := nanBuffer(sh.ne11 * sh.ne01)
		desc := fmt.Sprintf("ne00=%d ne01=%d ne11=%d pad=%v", ne00, sh.ne01, sh.ne11, sh.pad)
		if err := Run(c.dispatch(names, k, dst), s); err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		m, e := c.check(f32s(dst), rel)
		if m != "" {
			t.Errorf("%s: %s", desc, m)
		}
		worst = max(worst, e)
	}
	t.Logf("max |error| / sum|terms| = %.2g (tolerance %.0e)", worst, rel)
}

// ---- deliberately broken tiled kernels (testdata/broken.metal)

// TestBrokenMulMM runs a tiled f32 kernel with one of its barriers removed
// on a case with several 32-value slices and full tiles: the result must
// differ from the reference under every schedule, while the correct kernel
// matches it on the same data.
func TestBrokenMulMM(t *testing.T) {
	for _, kernel := range []string{"broken_mul_mm_no_load_barrier", "broken_mul_mm_no_reuse_barrier"} {
		t.Run(kernel, func(t *testing.T) {
			for _, s := range Schedules(seedFor(t)) {
				rng := newRand(t)
				c := newMatmulCase(t, gguf.TypeF32, 100, 40, 40, false, rng)
				for _, k := range []string{kernel, "kernel_mul_mm_f32"} {
					dst := nanBuffer(c.ne11 * c.ne01)
					d := c.dispatch(weightKernels(t, gguf.TypeF32), mulMM, dst)
					if k == kernel { // 32x32 tiles of floats
						d.Kernel, d.Threadgroup = k, map[int]int{0: 4 * 32 * 32, 1: 4 * 32 * 32}
						d.Grid = [3]int{ceilDiv(c.ne01, 32), ceilDiv(c.ne11, 32), 1}
					}
					if err := Run(d, s); err != nil {
						t.Fatalf("%v: %s: %v", s, k, err)
					}
					m, _ := c.check(f32s(dst), 1e-5)
					if k == kernel && m == "" {
						t.Errorf("%v: %s: the missing barrier was not caught: results match the reference", s, k)
					}
					if k != kernel && m != "" {
						t.Errorf("%v: the correct kernel fails on the same data: %s", s, m)
					}
				}
			}
		})
	}
}

// TestMatMulModelShapes runs the mat-vec kernels on SmolLM2-1.7B's FFN
// shapes (2048 -> 8192 and 8192 -> 2048) for the types of Q4_K_M and Q8_0
// models: one activation row (decode) and a short batch.
func TestMatMulModelShapes(t *testing.T) {
	if asanBuild || testing.Short() {
		t.Skip("large shapes: not in the ASan build or -short")
	}
	s := Schedule{Order: Random, Seed: seedFor(t), Workers: 2}
	for _, typ := range []gguf.GGMLType{gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeQ8_0, gguf.TypeF16} {
		rng := newRand(t)
		up := newMatmulCase(t, typ, 2048, 8192, 1, false, rng)
		for _, c := range []*matmulCase{up, up.reshaped(8192, 5, rng), up.reshaped(2048, 3, rng), up.reshaped(8192, 1, rng)} {
			k := mulMV
			if c.ne11 > 1 {
				k = mulMVBatch
			}
			dst := nanBuffer(c.ne11 * c.ne01)
			d := c.dispatch(weightKernels(t, typ), k, dst)
			if err := Run(d, s); err != nil {
				t.Fatalf("%s %dx%d: %v", d.Kernel, c.ne01, c.ne00, err)
			}
			if m, _ := c.check(f32s(dst), matmulTolerance); m != "" {
				t.Errorf("%s %d rows of %d, %d activation rows: %s", d.Kernel, c.ne01, c.ne00, c.ne11, m)
			}
		}
	}
}
