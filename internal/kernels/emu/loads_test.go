//go:build mslemu

package emu

import (
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

// countMulMV runs the type's mat-vec kernel on random weights with the
// counted kernels, checks its result and returns the loads from the weight
// buffer (binding 1) and the dispatch.
func countMulMV(t *testing.T, typ gguf.GGMLType, ne00, ne01, ne11 int) (Loads, Dispatch) {
	t.Helper()
	c := newMatmulCase(t, typ, ne00, ne01, ne11, false, newRand(t))
	dst := nanBuffer(ne11 * ne01)
	d := c.dispatch(weightKernels(t, typ).MulMV, false, dst)
	loads, err := CountLoads(d)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := c.check(f32s(dst), matmulTolerance); m != "" {
		t.Fatalf("%s ne00=%d ne01=%d ne11=%d: %s", d.Kernel, ne00, ne01, ne11, m)
	}
	return loads[1], d
}

// TestMulMVLoads logs, per weight type, the mat-vec kernel's load
// instructions per weight block and activation row (as threads execute
// them, and as simdgroup instructions), the bytes they request per unique
// weight byte (threads; simdgroups, where lanes reading one byte together
// fetch it once), and the most times one weight byte is fetched.
func TestMulMVLoads(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	t.Logf("%-5s %12s %12s %14s %14s %9s", "type", "loads/block", "simd/block", "requested/uniq", "fetched/uniq", "max reads")
	for _, typ := range weightTypes() {
		l, d := countMulMV(t, typ, mvLoadCols, mvLoadRows, 1)
		blocks := float64(mvLoadRows * mvLoadCols / blockValues(typ) * d.Grid[1])
		t.Logf("%-5s %12.2f %12.3f %14.3f %14.3f %9d", typ,
			float64(l.Loads)/blocks, float64(l.SIMDLoads)/blocks,
			float64(l.Bytes)/float64(l.Unique), float64(l.SIMDBytes)/float64(l.Unique), l.MaxReads)
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
