//go:build mslemu

package emu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/kernels"
)

// kernelTest is the emulated test of one product kernel. Every kernel in
// kernels.Source() must have one (TestEveryKernelHasATest).
type kernelTest struct {
	kernel string
	run    func(t *testing.T, s Schedule, rng *rand.Rand)
}

func kernelTests() []kernelTest {
	// matmul_test.go: kernel_mul_*; deltanet_test.go: Qwen3.5's;
	// attention_test.go: the KV cache's; ops_test.go: the others
	return append(append(append(append(matmulKernelTests(), opsKernelTests()...), deltaNetKernelTests()...), attentionKernelTests()...), []kernelTest{
		{"kernel_add", testAdd},
		{"kernel_rms_norm", func(t *testing.T, s Schedule, rng *rand.Rand) { testRmsNorm(t, "kernel_rms_norm", s, rng) }},
		{"kernel_gated_rms_norm", func(t *testing.T, s Schedule, rng *rand.Rand) { testRmsNorm(t, "kernel_gated_rms_norm", s, rng) }},
	}...)
}

func TestKernels(t *testing.T) {
	for _, kt := range kernelTests() {
		t.Run(kt.kernel, func(t *testing.T) {
			for _, s := range Schedules(seedFor(t)) {
				t.Run(s.String(), func(t *testing.T) { kt.run(t, s, newRand(t)) })
			}
		})
	}
}

func TestEveryKernelHasATest(t *testing.T) {
	product, err := ParseKernels(kernels.Source())
	if err != nil {
		t.Fatal(err)
	}
	if len(product) == 0 {
		t.Fatal("no kernels found in kernels.Source()")
	}
	tested := map[string]bool{}
	for _, kt := range kernelTests() {
		tested[kt.kernel] = true
	}
	compiled := map[string]bool{}
	for _, name := range Kernels() {
		if compiled[name] {
			t.Errorf("kernel %s is defined twice", name)
		}
		compiled[name] = true
	}
	for _, k := range product {
		if !tested[k.Name] {
			t.Errorf("kernel %s has no emulated test: add it to kernelTests()", k.Name)
		}
		if !compiled[k.Name] {
			t.Errorf("kernel %s is not compiled into the emulator: run go generate in internal/kernels/emu", k.Name)
		}
	}
}

// ---- kernel_add

func testAdd(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ n, group int }{
		{1, 32}, {7, 32}, {255, 256}, {256, 256}, {1000, 64}, {4097, 1024},
	} {
		dst, x := randF32(rng, tc.n), randF32(rng, tc.n)
		want := make([]float32, tc.n)
		for i := range want {
			want[i] = dst[i] + x[i]
		}
		inout := f32Bytes(dst)
		err := Run(Dispatch{
			Kernel:  "kernel_add",
			Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.ElementwiseArgs{N: int32(tc.n)})},
			Buffers: map[int]Binding{1: {Data: inout}, 2: {Data: f32Bytes(x)}},
			Grid:    [3]int{ceilDiv(tc.n, tc.group), 1, 1},
			Group:   [3]int{tc.group, 1, 1},
		}, s)
		if err != nil {
			t.Fatalf("n=%d: %v", tc.n, err)
		}
		if m := mismatch(f32s(inout), want, func(int) float64 { return 0 }); m != "" {
			t.Errorf("n=%d group=%d: %s", tc.n, tc.group, m)
		}
	}
}

// ---- kernel_rms_norm

// runRmsNorm runs an rms_norm-shaped kernel on random rows and returns its
// output and the float64 reference. kernel_gated_rms_norm also multiplies
// by silu(z), z at buffer 4 (values up to +-12, where silu saturates).
func runRmsNorm(kernel string, rows, ne0, group int, s Schedule, rng *rand.Rand) (got, want []float32, err error) {
	const eps = 1e-6
	x, w := randF32(rng, rows*ne0), randF32(rng, ne0)
	gated := kernel == "kernel_gated_rms_norm"
	z := randF32(rng, rows*ne0)
	for i := range z {
		z[i] *= 12
	}
	want = make([]float32, rows*ne0)
	for r := 0; r < rows; r++ {
		row := x[r*ne0 : (r+1)*ne0]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		scale := 1 / math.Sqrt(ss/float64(ne0)+eps)
		for i, v := range row {
			y := float64(v) * scale * float64(w[i])
			if g := float64(z[r*ne0+i]); gated {
				y *= g / (1 + math.Exp(-g))
			}
			want[r*ne0+i] = float32(y)
		}
	}
	dst := nanBuffer(rows * ne0)
	bufs := map[int]Binding{1: {Data: f32Bytes(x)}, 2: {Data: f32Bytes(w)}, 3: {Data: dst}}
	if gated {
		bufs[4] = Binding{Data: f32Bytes(z)}
	}
	err = Run(Dispatch{
		Kernel:      kernel,
		Bytes:       map[int][]byte{0: kernels.Bytes(&kernels.RMSNormArgs{Ne0: int32(ne0), Eps: eps})},
		Buffers:     bufs,
		Threadgroup: map[int]int{0: (ceilDiv(group, 32)*4 + 15) / 16 * 16}, // a float per simdgroup
		Grid:        [3]int{rows, 1, 1},
		Group:       [3]int{group, 1, 1},
	}, s)
	return f32s(dst), want, err
}

func relTol(want []float32, rel float64) func(int) float64 {
	return func(i int) float64 { return rel*math.Abs(float64(want[i])) + 1e-7 }
}

func testRmsNorm(t *testing.T, kernel string, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ rows, ne0, group int }{
		{1, 1, 32}, {3, 31, 32}, {2, 33, 64}, {4, 77, 33}, {5, 100, 96},
		{3, 576, 256}, {2, 1000, 1024}, {1, 2049, 1024}, {2, 300, 1000},
	} {
		got, want, err := runRmsNorm(kernel, tc.rows, tc.ne0, tc.group, s, rng)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if m := mismatch(got, want, relTol(want, 1e-5)); m != "" {
			t.Errorf("rows=%d ne0=%d group=%d: %s", tc.rows, tc.ne0, tc.group, m)
		}
	}
}

// ---- kernel_mul_mv_f32

func testMulMvF32(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ ne00, ne01, ne11, nsg, pad int }{
		{1, 1, 1, 1, 0}, {3, 5, 1, 1, 0}, {31, 17, 2, 2, 0}, {33, 9, 1, 4, 0}, {100, 64, 1, 2, 0},
		{257, 100, 3, 2, 0}, {576, 33, 1, 2, 0}, {128, 7, 2, 1, 0}, {1030, 13, 1, 8, 0},
		{64, 10, 2, 2, 4}, {64, 10, 1, 2, 3}, // weight rows further apart than ne00 (views)
	} {
		rowStride := tc.ne00 + tc.pad // floats between weight rows
		w, x := randF32(rng, tc.ne01*rowStride), randF32(rng, tc.ne11*tc.ne00)
		want := make([]float32, tc.ne11*tc.ne01)
		mag := make([]float64, len(want)) // sum of |terms|: the scale of rounding errors
		for j := 0; j < tc.ne11; j++ {
			for r := 0; r < tc.ne01; r++ {
				var sum, abs float64
				for c := 0; c < tc.ne00; c++ {
					p := float64(w[r*rowStride+c]) * float64(x[j*tc.ne00+c])
					sum, abs = sum+p, abs+math.Abs(p)
				}
				want[j*tc.ne01+r], mag[j*tc.ne01+r] = float32(sum), abs
			}
		}
		dst := nanBuffer(tc.ne11 * tc.ne01)
		err := Run(Dispatch{
			Kernel:  "kernel_mul_mv_f32",
			Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.MatMulArgs{Ne00: int32(tc.ne00), Ne01: int32(tc.ne01), Nb01: uint32(4 * rowStride), Ne11: int32(tc.ne11)})},
			Buffers: map[int]Binding{1: {Data: f32Bytes(w)}, 2: {Data: f32Bytes(x)}, 3: {Data: dst}},
			Grid:    [3]int{ceilDiv(tc.ne01, kernels.MVRowsPerSG*tc.nsg), tc.ne11, 1},
			Group:   [3]int{kernels.SIMDWidth * tc.nsg, 1, 1},
		}, s)
		name := fmt.Sprintf("%+v", tc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m := mismatch(f32s(dst), want, func(i int) float64 { return 1e-5*mag[i] + 1e-7 }); m != "" {
			t.Errorf("%s: %s", name, m)
		}
	}
}
