//go:build mslemu

package emu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/kernels"
)

// Emulated tests of Qwen3.5's kernels (deltanet.metal, and kernel_split_heads
// and kernel_sigmoid_mul of elementwise.metal) against internal/cpu's
// references, which the CPU backend runs. The recurrent kernels run two
// dispatches on the same state, so what the first leaves behind is checked
// by the second as well as directly.
//
// Tolerances:
//   - ssm_conv_silu: outputs 1e-5 relative + 1e-6 (the same products summed
//     in the same order; exp may differ in the last bits); the state is a
//     copy of inputs: exact.
//   - gated_delta_rule: outputs and state 1e-6 absolute (values are O(1):
//     q and k are unit vectors, beta <= 1, decay <= 1, v and the initial
//     state within +-1); the kernel sums like the reference, but fast-math
//     exp, log and sqrt may differ in the last bits.
//   - split_heads: exact; sigmoid_mul: 1e-6 relative.

func deltaNetKernelTests() []kernelTest {
	return []kernelTest{
		{"kernel_ssm_conv_silu", testConvSiLU},
		{"kernel_gated_delta_rule", testGatedDeltaRule},
		{"kernel_split_heads", testSplitHeads},
		{"kernel_sigmoid_mul", testSigmoidMul},
	}
}

func testConvSiLU(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ channels, k, rows, group int }{
		{1, 2, 1, 32}, {7, 4, 3, 32}, {300, 4, 5, 256}, {257, 16, 2, 256}, {33, 3, 1, 7},
	} {
		x := randF32(rng, 2*tc.rows*tc.channels) // two batches of rows
		w := randF32(rng, tc.channels*tc.k)
		for i := range x {
			x[i] *= 4
		}
		state := randF32(rng, tc.channels*(tc.k-1))
		want := make([]float32, len(x))
		wantState := append([]float32(nil), state...)
		half := tc.rows * tc.channels
		cpu.ConvSiLU(want[:half], x[:half], wantState, w, tc.channels, tc.k)
		cpu.ConvSiLU(want[half:], x[half:], wantState, w, tc.channels, tc.k)

		stateBuf, dst := f32Bytes(state), nanBuffer(len(x))
		wBuf := f32Bytes(w)
		name := fmt.Sprintf("%+v", tc)
		for batch := range 2 {
			err := Run(Dispatch{
				Kernel: "kernel_ssm_conv_silu",
				Bytes:  map[int][]byte{0: kernels.Bytes(&kernels.ConvArgs{Channels: int32(tc.channels), Taps: int32(tc.k), NRows: int32(tc.rows)})},
				Buffers: map[int]Binding{
					1: {Data: f32Bytes(x[batch*half : (batch+1)*half])}, 2: {Data: wBuf},
					3: {Data: stateBuf}, 4: {Data: dst, Offset: 4 * batch * half},
				},
				Grid:  [3]int{ceilDiv(tc.channels, tc.group), 1, 1},
				Group: [3]int{tc.group, 1, 1},
			}, s)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		got := f32s(dst)
		if m := mismatch(got, want, func(i int) float64 { return 1e-5*math.Abs(float64(want[i])) + 1e-6 }); m != "" {
			t.Errorf("%s: output %s", name, m)
		}
		if m := mismatch(f32s(stateBuf), wantState, func(int) float64 { return 0 }); m != "" {
			t.Errorf("%s: state %s", name, m)
		}
		t.Logf("%s: max output error %.3g", name, maxErr(got, want))
	}
}

func testGatedDeltaRule(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ kHeads, vHeads, dim, rows, group int }{
		{1, 1, 1, 1, 32}, {2, 4, 16, 3, 32}, {1, 3, 33, 2, 32}, {3, 3, 20, 2, 48},
		{2, 2, 64, 4, 64}, {1, 2, 128, 2, 64}, {1, 1, 256, 1, 64},
	} {
		d := &engine.DeltaNet{KHeads: tc.kHeads, VHeads: tc.vHeads, StateDim: tc.dim, Eps: 1e-6}
		width := (2*tc.kHeads + tc.vHeads) * tc.dim
		rows := 2 * tc.rows // two batches
		x := randF32(rng, rows*width)
		// A q head of the first row below eps: it is divided by eps, not its norm.
		for i := range tc.dim {
			x[i] *= 1e-9
		}
		beta, alpha := randF32(rng, rows*tc.vHeads), randF32(rng, rows*tc.vHeads)
		for i := range beta {
			beta[i] *= 4
			alpha[i] *= 3
		}
		alpha[len(alpha)-1] = 25 // softplus's linear branch
		a, dtBias := randF32(rng, tc.vHeads), randF32(rng, tc.vHeads)
		for i := range a {
			a[i] = -float32(math.Exp(float64(2 * a[i])))
		}
		state := randF32(rng, tc.vHeads*tc.dim*tc.dim)

		want := make([]float32, rows*tc.vHeads*tc.dim)
		wantState := append([]float32(nil), state...)
		xh, oh, bh := tc.rows*width, tc.rows*tc.vHeads*tc.dim, tc.rows*tc.vHeads
		cpu.GatedDeltaRule(want[:oh], x[:xh], beta[:bh], alpha[:bh], wantState, a, dtBias, d)
		cpu.GatedDeltaRule(want[oh:], x[xh:], beta[bh:], alpha[bh:], wantState, a, dtBias, d)

		stateBuf, dst := f32Bytes(state), nanBuffer(len(want))
		name := fmt.Sprintf("%+v", tc)
		args := kernels.DeltaArgs{KHeads: int32(tc.kHeads), VHeads: int32(tc.vHeads), StateDim: int32(tc.dim), NRows: int32(tc.rows),
			Eps: d.Eps, Scale: float32(1 / math.Sqrt(float64(tc.dim)))}
		for batch := range 2 {
			err := Run(Dispatch{
				Kernel: "kernel_gated_delta_rule",
				Bytes:  map[int][]byte{0: kernels.Bytes(&args)},
				Buffers: map[int]Binding{
					1: {Data: f32Bytes(x[batch*xh : (batch+1)*xh])},
					2: {Data: f32Bytes(beta[batch*bh : (batch+1)*bh])}, 3: {Data: f32Bytes(alpha[batch*bh : (batch+1)*bh])},
					4: {Data: f32Bytes(a)}, 5: {Data: f32Bytes(dtBias)},
					6: {Data: stateBuf}, 7: {Data: dst, Offset: 4 * batch * oh},
				},
				Threadgroup: map[int]int{0: 16 * ceilDiv(8*tc.dim, 16), 1: 4 * 2 * 32},
				Grid:        [3]int{tc.vHeads, ceilDiv(tc.dim, tc.group), 1},
				Group:       [3]int{tc.group, 1, 1},
			}, s)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		got, gotState := f32s(dst), f32s(stateBuf)
		const tol = 1e-6
		if m := mismatch(got, want, func(int) float64 { return tol }); m != "" {
			t.Errorf("%s: output %s", name, m)
		}
		if m := mismatch(gotState, wantState, func(int) float64 { return tol }); m != "" {
			t.Errorf("%s: state %s", name, m)
		}
		t.Logf("%s: max error: output %.3g (largest %.3g), state %.3g (largest %.3g)",
			name, maxErr(got, want), maxAbs(want), maxErr(gotState, wantState), maxAbs(wantState))
	}
}

func testSplitHeads(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ rows, heads, width, pad int }{
		{1, 1, 1, 0}, {3, 2, 5, 0}, {2, 16, 64, 0}, {5, 3, 100, 0}, {3, 4, 7, 3},
	} {
		ne0 := tc.heads * tc.width
		srcNe0 := 2*ne0 + tc.pad // a wider source row: the kernel strides by src_ne0
		src := randF32(rng, tc.rows*srcNe0)
		wantA, wantB := make([]float32, tc.rows*ne0), make([]float32, tc.rows*ne0)
		for r := range tc.rows {
			cpu.SplitHeads(wantA[r*ne0:(r+1)*ne0], wantB[r*ne0:(r+1)*ne0], src[r*srcNe0:(r+1)*srcNe0], tc.width)
		}
		n := tc.rows * ne0
		a, b := nanBuffer(n), nanBuffer(n)
		err := runElementwise("kernel_split_heads", kernels.SplitHeadsArgs{Width: int32(tc.width), Ne0: int32(ne0), SrcNe0: int32(srcNe0), N: int32(n)}, n, map[int]Binding{1: {Data: f32Bytes(src)}, 2: {Data: a}, 3: {Data: b}}, s)
		name := fmt.Sprintf("%+v", tc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		exact := func(int) float64 { return 0 }
		if m := mismatch(f32s(a), wantA, exact); m != "" {
			t.Errorf("%s: a %s", name, m)
		}
		if m := mismatch(f32s(b), wantB, exact); m != "" {
			t.Errorf("%s: b %s", name, m)
		}
	}
}

func testSigmoidMul(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, n := range eltSizes {
		dst, gate := randF32(rng, n), gateValues(rng, n)
		want := make([]float32, n)
		for i, g := range gate {
			want[i] = float32(float64(dst[i]) / (1 + math.Exp(-float64(g))))
		}
		inout := f32Bytes(dst)
		err := runElementwise("kernel_sigmoid_mul", kernels.ElementwiseArgs{N: int32(n)}, n, map[int]Binding{1: {Data: inout}, 2: {Data: f32Bytes(gate)}}, s)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if m := mismatch(f32s(inout), want, relTol(want, 1e-6)); m != "" {
			t.Errorf("n=%d: %s", n, m)
		}
	}
}
