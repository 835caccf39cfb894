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

// Tests of kernel_mul_mv_fused_<type> (mul_mv.metal): one activation row
// times up to three weights of the type, with each epilogue, against the
// float64 reference of the matrix kernels' tests (matmulCase) and the same
// tolerance.

// fusedCase is one dispatch: the op, the parts' row counts and the row
// length (an index into rowLengths), with padded rows or not.
type fusedCase struct {
	op   int32
	rows []int
	ne00 int
	pad  bool
}

var fusedCases = []fusedCase{
	// Q, K and V: three parts of different (odd) row counts, so that
	// threadgroups end inside each part.
	{kernels.MVStore, []int{13, 5, 7}, 1, false},
	{kernels.MVStore, []int{70, 9, 3}, 2, true},
	{kernels.MVStore, []int{4, 12}, 0, false},
	{kernels.MVStore, []int{5}, 2, false},
	// A projection added into the residual stream.
	{kernels.MVAdd, []int{13}, 1, false},
	{kernels.MVAdd, []int{70}, 2, true},
	{kernels.MVAdd, []int{3, 9}, 0, false},
	// Gate and up, the same shape.
	{kernels.MVSwiGLU, []int{13, 13}, 1, false},
	{kernels.MVSwiGLU, []int{70, 70}, 2, true},
	{kernels.MVSwiGLU, []int{5, 5}, 0, false},
}

func (fc fusedCase) String() string {
	return fmt.Sprintf("%s rows=%v ne00=%d pad=%v", [...]string{"store", "add", "swiglu"}[fc.op], fc.rows, fc.ne00, fc.pad)
}

// mixedTypes are the parts' types of kernel_mul_mv_fused_mixed's cases:
// Q4_K_M's and Q5_K_M's layers with V in Q6_K, and mixes of every other
// type; their rows have a length every type can hold.
var mixedTypes = [][]gguf.GGMLType{
	{gguf.TypeQ4_K, gguf.TypeQ4_K, gguf.TypeQ6_K},
	{gguf.TypeQ5_K, gguf.TypeQ6_K},
	{gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ8_0},
	{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16},
	{gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0},
	{gguf.TypeQ5_1, gguf.TypeQ8_0, gguf.TypeQ4_K},
}

func testMulMVFusedMixed(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, types := range mixedTypes {
		t.Run(fmt.Sprint(types), func(t *testing.T) { testFused(t, kernels.MulMVFusedMixed, types, s, rng) })
	}
}

func testMulMVFused(t *testing.T, typ gguf.GGMLType, s Schedule, rng *rand.Rand) {
	testFused(t, weightKernels(t, typ).MulMVFused, []gguf.GGMLType{typ}, s, rng)
}

// testFused runs fusedCases on kernel, part i of a case of type
// types[i % len(types)] (the mixed kernel's cases skip SwiGLU).
func testFused(t *testing.T, kernel string, types []gguf.GGMLType, s Schedule, rng *rand.Rand) {
	if asanBuild && (s.Order == Reverse || s.Workers > 1) {
		t.Skip("ASan build: forward and random schedules only")
	}
	mixed := kernel == kernels.MulMVFusedMixed
	worst := 0.0
	for _, fc := range fusedCases {
		if mixed && fc.op == kernels.MVSwiGLU {
			continue
		}
		ne00 := rowLengths(types[0])[fc.ne00]
		if mixed {
			ne00 = 256 * (1 + fc.ne00) // whole blocks of every type
		}
		x := randF32(rng, ne00)
		parts := make([]*matmulCase, len(fc.rows))
		dsts := make([][]byte, len(fc.rows))
		before := make([][]float32, len(fc.rows))
		for i, n := range fc.rows {
			parts[i] = newMatmulCase(t, types[i%len(types)], ne00, n, 1, fc.pad, rng)
			parts[i].setX(x)
			dsts[i] = nanBuffer(n)
			if fc.op == kernels.MVAdd {
				before[i] = randF32(rng, n)
				dsts[i] = f32Bytes(before[i])
			}
		}
		d := fusedDispatch(kernel, fc.op, parts, x, dsts)
		if err := Run(d, s); err != nil {
			t.Fatalf("%v: %v", fc, err)
		}
		outs := len(parts)
		if fc.op == kernels.MVSwiGLU {
			outs = 1 // the up part's dst is not written
		}
		for i := range outs {
			c := parts[i]
			want, tol := append([]float32(nil), c.want...), make([]float64, len(c.want))
			for o := range want {
				tol[o] = matmulTolerance*c.mag[o] + 1e-6
				switch fc.op {
				case kernels.MVAdd:
					want[o] += before[i][o]
				case kernels.MVSwiGLU:
					g, u := float64(c.want[o]), float64(parts[1].want[o])
					silu := g / (1 + math.Exp(-g))
					want[o] = float32(silu * u)
					// silu' is within [-0.1, 1.1]
					tol[o] = 1.1*matmulTolerance*c.mag[o]*math.Abs(u) + math.Abs(silu)*matmulTolerance*parts[1].mag[o] + 1e-6
				}
			}
			got := f32s(dsts[i])
			if m := mismatch(got, want, func(o int) float64 { return tol[o] }); m != "" {
				t.Errorf("%v: part %d: %s", fc, i, m)
			}
			for o := range got {
				worst = max(worst, math.Abs(float64(got[o])-float64(want[o]))/tol[o])
			}
		}
		if fc.op == kernels.MVSwiGLU && !bytes.Equal(dsts[1], nanBuffer(fc.rows[1])) {
			t.Errorf("%v: wrote into the up part's dst", fc)
		}
	}
	t.Logf("max error %.2f of the tolerance", worst)
}

// fusedDispatch is the record internal/metal makes for parts of one
// activation row x: part i's weights and dst at buffers 2+2i and 3+2i, the
// last part's bound again for absent parts; for SwiGLU, part 1 is the up
// weight, whose rows the threadgroups of part 0 compute too.
func fusedDispatch(kernel string, op int32, parts []*matmulCase, x []float32, dsts [][]byte) Dispatch {
	args := kernels.FusedMVArgs{Ne00: int32(parts[0].ne00), Op: op}
	bufs := map[int]Binding{1: {Data: f32Bytes(x)}}
	tgs := [3]int{}
	types := [3]*int32{&args.Type_0, &args.Type_1, &args.Type_2}
	total := 0
	for i := range 3 {
		p := min(i, len(parts)-1)
		bufs[2+2*i], bufs[3+2*i] = Binding{Data: parts[p].w}, Binding{Data: dsts[p]}
		*types[i] = int32(parts[p].typ)
		tgs[i] = total // an absent part starts at the grid's end
		if i < len(parts) && (op != kernels.MVSwiGLU || i == 0) {
			names, _ := kernels.ForWeight(parts[i].typ)
			total += ceilDiv(parts[i].ne01, names.MulMVRows*kernels.MVSG)
		}
	}
	args.Ne01_0, args.Nb01_0 = int32(parts[0].ne01), uint32(parts[0].nb01)
	args.Tg_1, args.Tg_2 = int32(tgs[1]), int32(tgs[2])
	if len(parts) > 1 {
		args.Ne01_1, args.Nb01_1 = int32(parts[1].ne01), uint32(parts[1].nb01)
	}
	if len(parts) > 2 {
		args.Ne01_2, args.Nb01_2 = int32(parts[2].ne01), uint32(parts[2].nb01)
	}
	return Dispatch{
		Kernel:  kernel,
		Bytes:   map[int][]byte{0: kernels.Bytes(&args)},
		Buffers: bufs,
		Grid:    [3]int{total, 1, 1},
		Group:   [3]int{kernels.MVThreads, 1, 1},
	}
}

// TestMulMVFusedReadsWeightsOnce: the fused mat-vec fetches every byte of
// each part's weights once (for SwiGLU, the gate's and the up's from one
// pass over the activations), for every type and for mixed types.
func TestMulMVFusedReadsWeightsOnce(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	type run struct {
		kernel string
		types  []gguf.GGMLType
	}
	var runs []run
	for _, typ := range weightTypes() {
		runs = append(runs, run{weightKernels(t, typ).MulMVFused, []gguf.GGMLType{typ}})
	}
	for _, types := range mixedTypes {
		runs = append(runs, run{kernels.MulMVFusedMixed, types})
	}
	rng := newRand(t)
	for _, r := range runs {
		for _, fc := range []fusedCase{
			{kernels.MVStore, []int{13, 5, 7}, 0, false},
			{kernels.MVAdd, []int{9}, 0, false},
			{kernels.MVSwiGLU, []int{11, 11}, 0, false},
		} {
			if r.kernel == kernels.MulMVFusedMixed && fc.op == kernels.MVSwiGLU {
				continue
			}
			const ne00 = 512
			parts := make([]*matmulCase, len(fc.rows))
			dsts := make([][]byte, len(fc.rows))
			for i, n := range fc.rows {
				parts[i] = newMatmulCase(t, r.types[i%len(r.types)], ne00, n, 1, false, rng)
				dsts[i] = nanBuffer(n)
			}
			loads, err := CountLoads(fusedDispatch(r.kernel, fc.op, parts, randF32(rng, ne00), dsts))
			if err != nil {
				t.Fatalf("%s %v: %v", r.kernel, fc, err)
			}
			for i, c := range parts {
				w := loads[2+2*i]
				if w.Unique != len(c.w) || w.MaxReads > 1 {
					t.Errorf("%s %v: part %d (%s): %d of %d weight bytes read, one of them %d times",
						r.kernel, fc, i, c.typ, w.Unique, len(c.w), w.MaxReads)
				}
			}
		}
	}
}
