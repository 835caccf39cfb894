//go:build mslemu

package emu

import (
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
)

// Load accounting of the mat-vec kernels (CountLoads): how many load
// instructions each weight block costs and how many bytes they request
// beyond the weights' own.

// mvLoadShape is the shape the figures are taken on: a 2048-wide weight
// (SmolLM2-1.7B's projections) of 64 rows, one activation row (decode).
const (
	mvLoadCols = 2048
	mvLoadRows = 64
)

// blockValues is what the figures count per: the type's block, or 32 values
// for the float types.
func blockValues(typ gguf.GGMLType) int {
	return max(typ.BlockElems(), 32)
}

// countMatMul runs kernel k of the type on random weights with the counted
// kernels, checks its result and returns the loads from the weights
// (binding 1) and the activations (binding 2), and the dispatch.
func countMatMul(t *testing.T, typ gguf.GGMLType, k matmulKernel, ne00, ne01, ne11 int) (w, x Loads, d Dispatch) {
	t.Helper()
	c := newMatmulCase(t, typ, ne00, ne01, ne11, false, newRand(t))
	dst := nanBuffer(ne11 * ne01)
	d = c.dispatch(weightKernels(t, typ), k, dst)
	loads, err := CountLoads(d)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := c.check(f32s(dst), matmulTolerance); m != "" {
		t.Fatalf("%s ne00=%d ne01=%d ne11=%d: %s", d.Kernel, ne00, ne01, ne11, m)
	}
	return loads[1], loads[2], d
}

// TestMulMVLoads logs, per weight type, the mat-vec kernels' load
// instructions per weight block and pass over the weights (as threads
// execute them, and as simdgroup instructions), the bytes they request per
// unique weight byte (threads; simdgroups, where lanes reading one byte
// together fetch it once), the most times one weight byte is fetched, and
// the activation loads per weight block and activation row: mul_mv for one
// activation row, mul_mv_batch for seven.
func TestMulMVLoads(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	for _, run := range []struct {
		k    matmulKernel
		ne11 int
	}{{mulMV, 1}, {mulMVBatch, 7}} {
		t.Logf("%s, %d x %d weights, %d activation rows:", [...]string{"mul_mv", "mul_mv_batch"}[run.k], mvLoadRows, mvLoadCols, run.ne11)
		t.Logf("%-5s %11s %10s %14s %12s %9s %13s", "type", "loads/block", "simd/block", "requested/uniq", "fetched/uniq", "max reads", "x loads/block")
		for _, typ := range weightTypes() {
			w, x, d := countMatMul(t, typ, run.k, mvLoadCols, mvLoadRows, run.ne11)
			blocks := float64(mvLoadRows * mvLoadCols / blockValues(typ))
			passes := float64(d.Grid[1])
			t.Logf("%-5s %11.2f %10.3f %14.3f %12.3f %9d %13.2f", typ,
				float64(w.Loads)/blocks/passes, float64(w.SIMDLoads)/blocks/passes,
				float64(w.Bytes)/float64(w.Unique), float64(w.SIMDBytes)/float64(w.Unique), w.MaxReads,
				float64(x.Loads)/blocks/float64(run.ne11))
		}
	}
}

// TestMulMVReadsWeightsOnce: a mat-vec dispatch fetches every weight byte,
// and none more than once per pass over the weights: once per activation
// row for mul_mv (grid y = ne11), once per QUANT_MV_BATCH rows for
// mul_mv_batch. Rows that are not a multiple of a simdgroup's rows must not
// be read again for the missing ones.
func TestMulMVReadsWeightsOnce(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	for _, typ := range weightTypes() {
		for _, k := range []matmulKernel{mulMV, mulMVBatch} {
			for _, sh := range []struct{ ne00, ne01, ne11 int }{
				{512, 13, 1}, {512, 16, 2}, {256, 7, 3}, {768, 5, 7}, {512, 9, 8}, {256, 3, 9},
			} {
				w, _, d := countMatMul(t, typ, k, sh.ne00, sh.ne01, sh.ne11)
				rowBytes, _ := typ.RowBytes(sh.ne00)
				if w.Unique != sh.ne01*rowBytes || w.MaxReads > d.Grid[1] {
					t.Errorf("%s %+v: %d of %d weight bytes read, one of them %d times in %d passes over the weights",
						d.Kernel, sh, w.Unique, sh.ne01*rowBytes, w.MaxReads, d.Grid[1])
				}
			}
		}
	}
}

// TestCountLoads checks the counting against a kernel whose loads are known:
// each of kernel_swiglu's n threads reads its gate and up value (4 bytes
// each) and args.n, which the threads of a simdgroup read together; the
// output is not read. (A load that the same basic block follows with a
// store to the same address, as in dst[i] += x[i], is not seen: the
// instrumentation leaves it out as subsumed by the store.)
func TestCountLoads(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	const n, group = 100, 64
	rng := newRand(t)
	loads, err := CountLoads(Dispatch{
		Kernel:  "kernel_swiglu",
		Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.ElementwiseArgs{N: n})},
		Buffers: map[int]Binding{1: {Data: f32Bytes(randF32(rng, n))}, 2: {Data: f32Bytes(randF32(rng, n))}, 3: {Data: nanBuffer(n)}},
		Grid:    [3]int{ceilDiv(n, group), 1, 1},
		Group:   [3]int{group, 1, 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	sgs := ceilDiv(n, 32) // simdgroups with a thread below n (all of the second threadgroup's read args.n)
	value := Loads{Loads: n, Bytes: 4 * n, SIMDLoads: sgs, SIMDBytes: 4 * n, Unique: 4 * n, MaxReads: 1}
	for i, want := range map[int]Loads{
		0: {Loads: 2 * group, Bytes: 4 * 2 * group, SIMDLoads: 4, SIMDBytes: 4 * 4, Unique: 4, MaxReads: 4},
		1: value, 2: value, 3: {},
	} {
		if loads[i] != want {
			t.Errorf("buffer(%d): got %+v, want %+v", i, loads[i], want)
		}
	}
	if _, err := CountLoads(Dispatch{Kernel: "emu_selftest_vectors", Buffers: map[int]Binding{0: {Data: make([]byte, 8)}, 1: {Data: nanBuffer(14)}},
		Grid: [3]int{1, 1, 1}, Group: [3]int{1, 1, 1}}); err == nil {
		t.Error("counting a test-only kernel: want an error (only product kernels have a counted build)")
	}
}

// TestCountLoadsAlignment: a load of a vector type from an address that is
// not a multiple of its size, which MSL leaves undefined, fails the
// dispatch: here the float4 loads of activations bound 4 bytes into their
// buffer.
func TestCountLoadsAlignment(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	c := newMatmulCase(t, gguf.TypeQ4_K, 256, 2, 1, false, newRand(t))
	d := c.dispatch(weightKernels(t, gguf.TypeQ4_K), mulMV, nanBuffer(2))
	d.Buffers[2] = Binding{Data: append(make([]byte, 4), f32Bytes(c.x)...), Offset: 4}
	if _, err := CountLoads(d); err == nil || !strings.Contains(err.Error(), "16-byte load at byte 4 of buffer(2) is not aligned") {
		t.Errorf("got %v, want a misaligned 16-byte load of buffer(2)", err)
	}
}
