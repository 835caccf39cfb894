package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

// TestFloatOrdersSIMDMatchGeneric checks the float assembly kernels against
// the pure-Go ones in both orders, bit for bit, on lengths around the
// 16-, 32- and 64-value steps.
func TestFloatOrdersSIMDMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range []gguf.GGMLType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16} {
		for _, n := range []int{1, 15, 16, 32, 63, 64, 96, 130, 172, 2048, 2080} {
			for _, order := range []SumOrder{VecOrder, GemmOrder} {
				const rows = 3
				w := testWeights(r, typ, n*rows, -1)
				a := testActivations(r, typ, n, "random")
				rowBytes := len(w) / rows
				got := make([]float32, rows)
				DotMatrix(typ, order, n, w, rowBytes, rows, a, 0, 1, got, 0)
				for i := range rows {
					want := dotGeneric(typ, order, n, w[i*rowBytes:], a)
					if math.Float32bits(got[i]) != math.Float32bits(want) {
						t.Errorf("%v n=%d order %d row %d: %g, pure Go %g", typ, n, order, i, got[i], want)
					}
				}
			}
		}
	}
}

// TestSumOrders checks the two orders on terms chosen so that every
// grouping gives a different float32 result: a large term cancels in one
// lane only if the small ones were added to it in the expected lanes.
func TestSumOrders(t *testing.T) {
	const n = 128
	w, a := make([]float32, n), make([]float32, n)
	for i := range a {
		a[i] = 1
	}
	// Value 0 is 2^24 and value 64 is -2^24. In VecOrder both sit in lane 0
	// of 64, with value 0's lane-mates 0 and 64 only: the 1s at 16, 32, 48
	// go to lanes 16, 32, 48 and survive the cancellation. In GemmOrder all
	// of 0, 16, 32, 48, 64 share lane 0 of 16, where 2^24+1 rounds back to
	// 2^24 and the 1s vanish.
	w[0], w[64] = 1<<24, -(1 << 24)
	w[16], w[32], w[48] = 1, 1, 1
	wb := QuantizeRow(gguf.TypeF32, w, nil)
	ab := QuantizeRow(gguf.TypeF32, a, nil)
	for _, tc := range []struct {
		order SumOrder
		want  float32
	}{{VecOrder, 3}, {GemmOrder, 0}} {
		var got [1]float32
		DotMatrix(gguf.TypeF32, tc.order, n, wb, 0, 1, ab, 0, 1, got[:], 0)
		if got[0] != tc.want {
			t.Errorf("order %d: %g, want %g", tc.order, got[0], tc.want)
		}
	}
}

// TestBF16PairOrder checks that a lane adds the odd value's product before
// the even one's, as VDPBF16PS does (measured on AVX512-BF16 hardware):
// 2^24 + 1 rounds to 2^24, then + 2 is exact; the other way round,
// 2^24 + 2 + 1 is a tie that rounds up to 2^24 + 4.
func TestBF16PairOrder(t *testing.T) {
	bf := func(v ...float32) []byte {
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], gguf.FP32ToBF16(x))
		}
		return b
	}
	if got := bf16Pair(1<<24, bf(2, 1), bf(1, 1), 2); got != 1<<24+2 {
		t.Errorf("bf16Pair = %.0f, want %.0f", got, float32(1<<24+2))
	}
}

// TestPairwiseSum checks the halving order on lanes where it matters.
func TestPairwiseSum(t *testing.T) {
	// Lane 0 += lane 2 rounds 2^24 + 1 to 2^24 (a tie, to even), lane 1
	// += lane 3 makes 2, and 2^24 + 2 is exact. Left to right, each 1 would
	// be lost and the sum stay 2^24.
	v := []float32{1 << 24, 1, 1, 1}
	if got := pairwiseSum(v); got != 1<<24+2 {
		t.Errorf("pairwiseSum = %.0f, want %.0f", got, float32(1<<24+2))
	}
}

// TestF16RowMatchesScalar converts every float32 exponent with random
// mantissas (and the halfway cases) through QuantizeRow, whose F16C path
// must round exactly like gguf.FP32ToFP16.
func TestF16RowMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 0, 1<<16)
	for len(x) < cap(x)-3 {
		bits := r.Uint32()
		x = append(x, math.Float32frombits(bits), math.Float32frombits(bits&^0xfff|0x1000))
	}
	x = append(x, float32(math.Inf(1)), float32(math.Inf(-1)), 65520) // 65520 rounds to infinity
	got := QuantizeRow(gguf.TypeF16, x, nil)
	for i, v := range x {
		h := binary.LittleEndian.Uint16(got[2*i:])
		want := gguf.FP32ToFP16(v)
		if v != v { // NaN: any NaN half
			if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
				t.Fatalf("%d: NaN %#08x -> %#04x, not a NaN", i, math.Float32bits(v), h)
			}
			continue
		}
		if h != want {
			t.Fatalf("%d: %g (%#08x) -> %#04x, FP32ToFP16 %#04x", i, v, math.Float32bits(v), h, want)
		}
	}
}

// TestExpRowMatchesVecExpf checks the vectorised exponential against VecExpf,
// bit for bit, across its whole range and on the special values.
func TestExpRowMatchesVecExpf(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.7, 88.8, -87, -103, -104, -150, 200, -200,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32}
	for len(x) < 1<<16 {
		x = append(x, float32(r.Float64()*240-130), math.Float32frombits(r.Uint32()))
	}
	for _, k := range []float32{1, -1} {
		for _, sub := range []float32{0, 3.5} {
			got := make([]float32, len(x))
			expRow(got, x, k, sub)
			for i, v := range x {
				want := VecExpf(k*v - sub)
				if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
					t.Fatalf("k=%g sub=%g: exp(%g) = %g (%#08x), VecExpf %g (%#08x)", k, sub, k*v-sub,
						got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
				}
			}
		}
	}
}
