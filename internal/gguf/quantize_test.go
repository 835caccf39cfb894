package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestQuantizeMatchesLlamaCpp quantizes the F32 master's tensors to the type
// llama-quantize stored in each tiny-llama file and requires the very same
// bytes.
func TestQuantizeMatchesLlamaCpp(t *testing.T) {
	master := readTestTensors(t, "tiny-llama-f32.gguf")
	type tally struct{ identical, total int }
	tallies := map[GGMLType]*tally{}
	for _, file := range tinyLlamaFiles {
		tensors := readTestTensors(t, file)
		for _, name := range sortedNames(tensors) {
			tt := tensors[name]
			if tt.typ == TypeF32 {
				continue // norm weights are copied, not quantized
			}
			ref, ok := master[name]
			if !ok || ref.typ != TypeF32 {
				t.Errorf("%s: %s has no F32 counterpart in the master", file, name)
				continue
			}
			src := f32Values(ref.data)
			got, err := Quantize(tt.typ, src, nil)
			if err != nil {
				t.Errorf("%s: %s: %v", file, name, err)
				continue
			}
			c := tallies[tt.typ]
			if c == nil {
				c = &tally{}
				tallies[tt.typ] = c
			}
			c.total++
			if bytes.Equal(got, tt.data) {
				c.identical++
				continue
			}
			t.Errorf("%s: %s (%s): %s", file, name, tt.typ, describeMismatch(tt.typ, src, got, tt.data))
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(tallies)) {
		c := tallies[typ]
		t.Logf("%-5s %2d of %2d tensors byte-identical to llama-quantize", typ, c.identical, c.total)
	}
}

// describeMismatch says where our bytes differ from llama.cpp's and compares
// the dequantization errors of both against the source.
func describeMismatch(typ GGMLType, src []float32, got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes, llama.cpp %d", len(got), len(want))
	}
	bs := typ.BlockBytes()
	blocks, first := 0, -1
	for i := 0; i < len(got); i += bs {
		if !bytes.Equal(got[i:i+bs], want[i:i+bs]) {
			blocks++
			if first < 0 {
				first = i / bs
			}
		}
	}
	ours, theirs := make([]float32, len(src)), make([]float32, len(src))
	if err := Dequantize(typ, got, ours); err != nil {
		return err.Error()
	}
	if err := Dequantize(typ, want, theirs); err != nil {
		return err.Error()
	}
	e1, _ := relRMS(ours, src)
	e2, _ := relRMS(theirs, src)
	return fmt.Sprintf("%d of %d blocks differ (first %d); relative RMS error ours %.6f, llama.cpp %.6f",
		blocks, len(got)/bs, first, e1, e2)
}

// roundTripRelRMSBound is, per type, the largest accepted RMS error of
// Quantize→Dequantize relative to the RMS of N(0,1) data (measured value in
// the comment).
var roundTripRelRMSBound = map[GGMLType]float64{
	TypeF32:  0,
	TypeF16:  0.00025, // 0.00021
	TypeBF16: 0.0019,  // 0.00166
	TypeQ8_0: 0.0058,  // 0.00518
	TypeQ8_1: 0.0058,  // 0.00518
	TypeQ8_K: 0.0077,  // 0.00695
	TypeQ6_K: 0.0193,  // 0.01747
	TypeQ5_0: 0.046,   // 0.04164
	TypeQ5_1: 0.041,   // 0.03700
	TypeQ5_K: 0.039,   // 0.03539
	TypeQ4_0: 0.091,   // 0.08257
	TypeQ4_1: 0.085,   // 0.07687
	TypeQ4_K: 0.078,   // 0.07031
	TypeQ3_K: 0.164,   // 0.14837
	TypeQ2_K: 0.326,   // 0.29553
}

// TestQuantizeRoundTrip quantizes N(0,1) data to every supported type and
// back, and checks special blocks (zeros, constants, a lone spike, tiny and
// large magnitudes) decode to finite values, zeros exactly.
func TestQuantizeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 16*QK_K)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	special := map[string]func(i int) float32{
		"zeros":    func(int) float32 { return 0 },
		"constant": func(int) float32 { return 0.75 },
		"negative": func(int) float32 { return -3 },
		"spike": func(i int) float32 {
			if i == 77 {
				return 40
			}
			return 0.01 * float32(i%7)
		},
		"tiny":  func(i int) float32 { return float32(i%13-6) * 1e-9 },
		"large": func(i int) float32 { return float32(i%17-8) * 100 },
	}
	for _, typ := range slices.Sorted(maps.Keys(roundTripRelRMSBound)) {
		q, err := Quantize(typ, x, []byte("prefix"))
		if err != nil {
			t.Errorf("Quantize(%s): %v", typ, err)
			continue
		}
		size, _ := typ.RowBytes(len(x))
		if string(q[:6]) != "prefix" || len(q) != 6+size {
			t.Errorf("Quantize(%s) did not append %d bytes to dst (len %d)", typ, size, len(q))
			continue
		}
		y := make([]float32, len(x))
		if err := Dequantize(typ, q[6:], y); err != nil {
			t.Errorf("Dequantize(%s): %v", typ, err)
			continue
		}
		rel, maxAbs := relRMS(y, x)
		t.Logf("%-5s round trip of N(0,1): relative RMS error %.5f, max abs error %.4f", typ, rel, maxAbs)
		if rel > roundTripRelRMSBound[typ] {
			t.Errorf("%s round trip: relative RMS error %.5f > bound %.5f", typ, rel, roundTripRelRMSBound[typ])
		}
		for _, name := range slices.Sorted(maps.Keys(special)) {
			in := make([]float32, QK_K)
			for i := range in {
				in[i] = special[name](i)
			}
			q, err := Quantize(typ, in, nil)
			if err != nil {
				t.Errorf("Quantize(%s, %s): %v", typ, name, err)
				continue
			}
			out := make([]float32, QK_K)
			if err := Dequantize(typ, q, out); err != nil {
				t.Errorf("Dequantize(%s, %s): %v", typ, name, err)
				continue
			}
			for i, v := range out {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || name == "zeros" && v != 0 {
					t.Errorf("%s %s block: value %d decodes to %g", typ, name, i, v)
					break
				}
			}
		}
	}
}

// TestQuantizeBadInput: unsupported types and lengths that are not a whole
// number of blocks are errors naming the problem.
func TestQuantizeBadInput(t *testing.T) {
	cases := []struct {
		typ  GGMLType
		n    int
		want string
	}{
		{GGMLType(20), 32, "type(20) is not supported"},
		{GGMLType(99), 32, "type(99)"},
		{TypeQ4_0, 33, "multiple of the Q4_0 block size 32"},
		{TypeQ4_K, 32, "multiple of the Q4_K block size 256"},
		{TypeQ8_K, 257, "Q8_K"},
	}
	for _, c := range cases {
		dst := []byte("keep")
		got, err := Quantize(c.typ, make([]float32, c.n), dst)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Quantize(%s, %d values) = %v, want error containing %q", c.typ, c.n, err, c.want)
		}
		if string(got) != "keep" {
			t.Errorf("Quantize(%s, %d values) changed dst to %q on error", c.typ, c.n, got)
		}
	}
	// Non-finite input gives meaningless blocks but no panic.
	for _, typ := range slices.Sorted(maps.Keys(roundTripRelRMSBound)) {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32} {
			x := make([]float32, QK_K)
			for i := range x {
				x[i] = float32(i%9) - 4
			}
			x[5] = bad
			if _, err := Quantize(typ, x, nil); err != nil {
				t.Errorf("Quantize(%s) with a %g: %v", typ, bad, err)
			}
		}
	}
	if got, err := Quantize(TypeQ6_K, nil, nil); err != nil || len(got) != 0 {
		t.Errorf("Quantize of zero values = %d bytes, %v", len(got), err)
	}
}

// TestNearestInt pins ggml's magic-number rounding: ties go to even.
func TestQuantizeNearestInt(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want int
	}{{0, 0}, {0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {0.49999997, 0}, {-7.6, -8}, {4194303, 4194303}} {
		if got := NearestInt(c.in); got != c.want {
			t.Errorf("NearestInt(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestQuantizeQ8_KLayout checks the Q8_K fields other code reads directly:
// d as float32, and bsums as the sums of each 16 quants.
func TestQuantizeQ8_KLayout(t *testing.T) {
	x := make([]float32, QK_K)
	for i := range x {
		x[i] = float32(i%32) - 12.7
	}
	b, err := Quantize(TypeQ8_K, x, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The largest magnitude is 31−12.7 = 18.3, which maps to −127: d = −18.3/127.
	if d := math.Float32frombits(binary.LittleEndian.Uint32(b)); math.Abs(float64(d)*127/-18.3-1) > 1e-6 {
		t.Errorf("Q8_K d = %g, want %g", d, -18.3/127)
	}
	if q := int8(b[4+31]); q != -127 {
		t.Errorf("Q8_K quant of the largest value = %d, want -127", q)
	}
	for j := 0; j < 16; j++ {
		sum := 0
		for _, q := range b[4+16*j : 4+16*j+16] {
			sum += int(int8(q))
		}
		if got := int(int16(binary.LittleEndian.Uint16(b[4+QK_K+2*j:]))); got != sum {
			t.Errorf("Q8_K bsums[%d] = %d, want %d", j, got, sum)
		}
	}
}

// TestFP16RoundTrip: every half converts to float32 and back unchanged
// (NaNs stay NaN), and decodes to its textbook value.
func TestFP16RoundTrip(t *testing.T) {
	for h := 0; h <= 0xffff; h++ {
		f := FP16ToFP32(uint16(h))
		exp, mant := h>>10&0x1f, h&0x3ff
		var want float64
		switch exp {
		case 0x1f:
			want = math.Inf(1)
			if mant != 0 {
				want = math.NaN()
			}
		case 0:
			want = math.Ldexp(float64(mant), -24)
		default:
			want = math.Ldexp(float64(1024+mant), exp-25)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if math.IsNaN(want) {
			if !math.IsNaN(float64(f)) || FP32ToFP16(f)&0x7fff != 0x7e00 {
				t.Fatalf("half %#04x: NaN decodes to %g, re-encodes to %#04x", h, f, FP32ToFP16(f))
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
			t.Fatalf("FP16ToFP32(%#04x) = %g, want %g", h, f, want)
		}
		if back := FP32ToFP16(f); back != uint16(h) {
			t.Fatalf("FP32ToFP16(FP16ToFP32(%#04x)) = %#04x", h, back)
		}
	}
}

// TestFP32ToFP16Rounding compares FP32ToFP16 with an independent oracle, the
// nearest of all finite halves with ties to the even one (infinity acting as
// 2¹⁶ for overflow), on a sweep of float32 bit patterns and on edge cases.
func TestFP32ToFP16Rounding(t *testing.T) {
	// Positive finite halves in increasing order, then infinity as 65536.
	var table []float64
	for h := 0; h < 0x7c00; h++ {
		table = append(table, float64(FP16ToFP32(uint16(h))))
	}
	table = append(table, 65536)
	oracle := func(f float32) uint16 {
		a := math.Abs(float64(f))
		i, _ := slices.BinarySearch(table, a) // first index with table[i] ≥ a
		var h int
		switch {
		case i == len(table):
			h = 0x7c00
		case table[i] == a || i == 0:
			h = i
		default:
			lo, hi := a-table[i-1], table[i]-a
			if lo < hi || lo == hi && (i-1)%2 == 0 {
				h = i - 1
			} else {
				h = i
			}
		}
		if math.Signbit(float64(f)) {
			h |= 0x8000
		}
		return uint16(h)
	}
	check := func(f float32) {
		if math.IsNaN(float64(f)) {
			return
		}
		if got, want := FP32ToFP16(f), oracle(f); got != want {
			t.Fatalf("FP32ToFP16(%g = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	for b := uint64(0); b < 1<<32; b += 4093 {
		check(math.Float32frombits(uint32(b)))
	}
	for _, f := range []float32{0, 65504, 65519.996, 65520, 1e9, float32(math.Inf(1)), 0x1p-24, 0x1p-25,
		0x1.000002p-25, 0x1.8p-24, 0x1.4p-24, 0x1p-14, 0x1.ffcp-15, 0x1.ffep-15, 0x1.002p0, 0x1.003p0, 0x1.001p0} {
		check(f)
		check(-f)
	}
	for _, c := range []struct {
		f    float32
		want uint16
	}{{0.1, 0x2e66}, {-2, 0xc000}, {65520, 0x7c00}, {65519.996, 0x7bff}, {0x1p-25, 0}, {0x1.000002p-25, 1},
		{0x1.8p-24, 2}, {float32(math.Copysign(0, -1)), 0x8000}, {float32(math.NaN()), 0x7e00}} {
		if got := FP32ToFP16(c.f); got != c.want {
			t.Errorf("FP32ToFP16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}

// TestBF16Rounding compares FP32ToBF16 with an oracle choosing the nearer of
// the two bfloat16 neighbours (ties to even) and pins ggml's NaN handling.
func TestBF16Rounding(t *testing.T) {
	check := func(b uint32) {
		f := math.Float32frombits(b)
		got := FP32ToBF16(f)
		if math.IsNaN(float64(f)) {
			if got != uint16(b>>16)|0x40 || !math.IsNaN(float64(BF16ToFP32(got))) {
				t.Fatalf("FP32ToBF16(NaN %#08x) = %#04x, want quiet NaN %#04x", b, got, uint16(b>>16)|0x40)
			}
			return
		}
		lo := b &^ 0xffff
		loV := math.Abs(float64(math.Float32frombits(lo)))
		hiV := math.Ldexp(1, 128) // the step above the largest bfloat16 rounds to infinity
		if lo&0x7fffffff != 0x7f7f0000 {
			hiV = math.Abs(float64(math.Float32frombits(lo + 0x10000)))
		}
		a := math.Abs(float64(f))
		want := uint16(lo >> 16)
		if d1, d2 := a-loV, hiV-a; d2 < d1 || d1 == d2 && want&1 == 1 {
			want++
		}
		if lo&0x7fffffff == 0x7f800000 { // infinity stays infinity
			want = uint16(lo >> 16)
		}
		if got != want {
			t.Fatalf("FP32ToBF16(%g = %#08x) = %#04x, want %#04x", f, b, got, want)
		}
		if BF16ToFP32(got) != float32(math.Copysign(float64(BF16ToFP32(got)), float64(f))) {
			t.Fatalf("FP32ToBF16(%#08x) lost the sign", b)
		}
	}
	for b := uint64(0); b < 1<<32; b += 4093 {
		check(uint32(b))
	}
	for _, b := range []uint32{0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff, 0x7f7f8000, 0x7f7f7fff, 0x00008000,
		0x00018000, 0x7f800000, 0xff800000, 0x7f800001, 0xffc12345, 0x80000000} {
		check(b)
	}
	if got := FP32ToBF16(math.Float32frombits(0x7f800001)); got != 0x7fc0 {
		t.Errorf("signalling NaN 0x7f800001 -> %#04x, want 0x7fc0", got)
	}
}

func TestNearestInt(t *testing.T) {
	for _, c := range []struct {
		v    float32
		want int
	}{{0, 0}, {0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2}, {126.5, 126}, {-127.4, -127}, {0.49999997, 0}} {
		if got := NearestInt(c.v); got != c.want {
			t.Errorf("NearestInt(%g) = %d, want %d", c.v, got, c.want)
		}
	}
}
