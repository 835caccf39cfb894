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

// matmulKernelTests registers the matrix kernels' tests with kernelTests().
func matmulKernelTests() []kernelTest {
	var ts []kernelTest
	for _, typ := range weightTypes() {
		names, _ := kernels.ForWeight(typ)
		ts = append(ts,
			kernelTest{names.MulMV, func(t *testing.T, s Schedule, rng *rand.Rand) {
				if typ == gguf.TypeF32 {
					testMulMvF32(t, s, rng) // arbitrary row lengths, 1-8 simdgroups, padded rows
				}
				testMatMul(t, false, typ, s, rng)
			}},
			kernelTest{names.MulMM, func(t *testing.T, s Schedule, rng *rand.Rand) {
				testMatMul(t, true, typ, s, rng)
			}})
	}
	return ts
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
	// mul_mv: rows not multiples of 8 (a simdgroup past ne01, one with some
	// rows past it), ne11 = 1 (decode) up to 7 (the backend switches to
	// mul_mm at 8).
	mvShapes = []matmulShape{
		{0, 5, 1, false}, {1, 13, 3, false}, {2, 70, 1, false}, {0, 9, 6, false},
		{1, 16, 2, true}, {2, 12, 7, true},
	}
	// mul_mm: tails in both tile dimensions, exact tiles, a single activation
	// row, several tiles each way.
	mmShapes = []matmulShape{
		{0, 5, 3, false}, {1, 33, 33, false}, {0, 40, 1, false}, {2, 70, 40, false},
		{1, 32, 32, true}, {0, 64, 9, true},
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

// matmulCase holds the quantized weights, activations and the reference.
type matmulCase struct {
	w    []byte // ne01 rows of nb01 bytes
	nb01 int
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
	c := &matmulCase{nb01: rowBytes + padBytes, ne00: ne00, ne01: ne01, ne11: ne11}
	deq := make([]float32, ne01*ne00)
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
		if err := gguf.Dequantize(typ, c.w[start:], deq[r*ne00:(r+1)*ne00]); err != nil {
			t.Fatal(err)
		}
		c.w = append(c.w, bytes.Repeat([]byte{0xFF}, padBytes)...)
	}
	c.x = randF32(rng, ne11*ne00)
	// The kernels round activations to the precision of F16 and BF16
	// weights, as the CPU backend does; so does the reference.
	xr := make([]float32, len(c.x))
	for i, v := range c.x {
		switch typ {
		case gguf.TypeF16:
			v = gguf.FP16ToFP32(gguf.FP32ToFP16(v))
		case gguf.TypeBF16:
			v = gguf.BF16ToFP32(gguf.FP32ToBF16(v))
		}
		xr[i] = v
	}
	c.want = make([]float32, ne11*ne01)
	c.mag = make([]float64, ne11*ne01)
	for j := 0; j < ne11; j++ {
		for r := 0; r < ne01; r++ {
			var sum, abs float64
			for i := 0; i < ne00; i++ {
				p := float64(deq[r*ne00+i]) * float64(xr[j*ne00+i])
				sum, abs = sum+p, abs+math.Abs(p)
			}
			c.want[j*ne01+r], c.mag[j*ne01+r] = float32(sum), abs
		}
	}
	return c
}

// dispatch is the record internal/metal's MatMul makes for the case.
func (c *matmulCase) dispatch(kernel string, mm bool, dst []byte) Dispatch {
	d := Dispatch{
		Kernel:  kernel,
		Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.MatMulArgs{Ne00: int32(c.ne00), Ne01: int32(c.ne01), Nb01: uint32(c.nb01), Ne11: int32(c.ne11)})},
		Buffers: map[int]Binding{1: {Data: c.w}, 2: {Data: f32Bytes(c.x)}, 3: {Data: dst}},
	}
	if mm {
		const tile = kernels.MMTile
		d.Threadgroup = map[int]int{0: 4 * tile * tile, 1: 4 * tile * tile}
		d.Grid = [3]int{ceilDiv(c.ne01, tile), ceilDiv(c.ne11, tile), 1}
		d.Group = [3]int{kernels.MMThreads, 1, 1}
	} else {
		d.Grid = [3]int{ceilDiv(c.ne01, kernels.MVRowsPerGroup), c.ne11, 1}
		d.Group = [3]int{kernels.MVThreads, 1, 1}
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

func testMatMul(t *testing.T, mm bool, typ gguf.GGMLType, s Schedule, rng *rand.Rand) {
	if asanBuild && (s.Order == Reverse || s.Workers > 1) {
		// Out-of-bounds accesses do not depend on the order of threads; the
		// ASan build is slow, so it checks forward and random order only.
		t.Skip("ASan build: forward and random schedules only")
	}
	names := weightKernels(t, typ)
	kernel, shapes := names.MulMV, mvShapes
	if mm {
		kernel, shapes = names.MulMM, mmShapes
	}
	rel := matmulTolerance
	worst := 0.0
	for _, sh := range shapes {
		ne00 := rowLengths(typ)[sh.ne00]
		c := newMatmulCase(t, typ, ne00, sh.ne01, sh.ne11, sh.pad, rng)
		dst := nanBuffer(sh.ne11 * sh.ne01)
		desc := fmt.Sprintf("ne00=%d ne01=%d ne11=%d pad=%v", ne00, sh.ne01, sh.ne11, sh.pad)
		if err := Run(c.dispatch(kernel, mm, dst), s); err != nil {
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

// TestBrokenMulMM runs the f32 tiled kernel with one of its barriers removed
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
					if err := Run(c.dispatch(k, true, dst), s); err != nil {
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
