package gguf

import (
	"encoding/binary"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// tinyLlamaFiles are the llama-quantize outputs (no imatrix) of the F32
// master tiny-llama-f32.gguf, see the test data README.
var tinyLlamaFiles = []string{
	"tiny-llama-f16.gguf",
	"tiny-llama-bf16.gguf",
	"tiny-llama-q8_0.gguf",
	"tiny-llama-q4_0.gguf",
	"tiny-llama-q5_0.gguf",
	"tiny-llama-q4_k_m.gguf",
	"tiny-llama-q5_k_m.gguf",
	"tiny-llama-q6_k.gguf",
}

// dequantRelRMSBound is, per quantized type, the largest accepted RMS error
// of a dequantized tensor relative to the RMS of the master tensor. The
// measured worst case over the test files (normal random weights) is noted;
// the bounds leave about 10% margin.
var dequantRelRMSBound = map[GGMLType]float64{
	TypeQ8_0: 0.0060, // measured 0.00536
	TypeQ6_K: 0.0196, // measured 0.01781
	TypeQ5_0: 0.0472, // measured 0.04288
	TypeQ5_K: 0.0400, // measured 0.03627
	TypeQ4_0: 0.0950, // measured 0.08622
	TypeQ4_K: 0.0790, // measured 0.07158
}

// f32Values decodes little-endian float32 data without going through the
// code under test.
func f32Values(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// errStats are the errors of one type over several tensors.
type errStats struct {
	tensors int
	maxAbs  float64 // largest |got−want| of any value
	maxRel  float64 // largest RMS(got−want)/RMS(want) of any tensor
}

// relRMS returns RMS(got−want)/RMS(want) and max |got−want|.
func relRMS(got, want []float32) (rel, maxAbs float64) {
	var se, sw float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		se += d * d
		sw += float64(want[i]) * float64(want[i])
		maxAbs = max(maxAbs, math.Abs(d))
	}
	if sw == 0 {
		return math.Sqrt(se), maxAbs
	}
	return math.Sqrt(se / sw), maxAbs
}

func sortedNames(m map[string]testTensor) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TestDequantizeModels decodes every tensor of every tiny-llama file and
// compares it with the F32 master: float types exactly (to the rounding of
// the master value), quantized types within dequantRelRMSBound.
func TestDequantizeModels(t *testing.T) {
	master := readTestTensors(t, "tiny-llama-f32.gguf")
	stats := map[GGMLType]*errStats{}
	for _, file := range append([]string{"tiny-llama-f32.gguf"}, tinyLlamaFiles...) {
		tensors := readTestTensors(t, file)
		if len(tensors) != len(master) {
			t.Errorf("%s: %d tensors, master has %d", file, len(tensors), len(master))
		}
		for _, name := range sortedNames(tensors) {
			tt := tensors[name]
			ref, ok := master[name]
			if !ok || ref.typ != TypeF32 || !slices.Equal(ref.dims, tt.dims) {
				t.Errorf("%s: %s %v has no F32 counterpart of that shape in the master", file, name, tt.dims)
				continue
			}
			want := f32Values(ref.data)
			got := make([]float32, tt.elems())
			if err := Dequantize(tt.typ, tt.data, got); err != nil {
				t.Errorf("%s: %s: %v", file, name, err)
				continue
			}
			var round func(float32) float32
			switch tt.typ {
			case TypeF32:
				round = func(f float32) float32 { return f }
			case TypeF16:
				round = func(f float32) float32 { return FP16ToFP32(FP32ToFP16(f)) }
			case TypeBF16:
				round = func(f float32) float32 { return BF16ToFP32(FP32ToBF16(f)) }
			}
			rel, maxAbs := relRMS(got, want)
			if round != nil {
				for i := range want {
					if w := round(want[i]); math.Float32bits(got[i]) != math.Float32bits(w) {
						t.Errorf("%s: %s[%d] = %g, want %g (master %g)", file, name, i, got[i], w, want[i])
						break
					}
				}
			} else if bound, ok := dequantRelRMSBound[tt.typ]; !ok {
				t.Errorf("%s: %s: no error bound for type %s", file, name, tt.typ)
			} else if rel > bound {
				t.Errorf("%s: %s (%s): relative RMS error %.5f > bound %.5f", file, name, tt.typ, rel, bound)
			}
			s := stats[tt.typ]
			if s == nil {
				s = &errStats{}
				stats[tt.typ] = s
			}
			s.tensors++
			s.maxAbs = max(s.maxAbs, maxAbs)
			s.maxRel = max(s.maxRel, rel)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(stats)) {
		s := stats[typ]
		t.Logf("%-5s %3d tensors: max abs error %.3g, worst relative RMS error %.5f", typ, s.tensors, s.maxAbs, s.maxRel)
	}
}

// TestDequantizeSmoke decodes the other test models: stories260K (all F32,
// checked bit for bit against the raw data) and tiny-bpe-q4_k_m (no master:
// every value finite and each matrix's standard deviation close to the one
// it was drawn with).
func TestDequantizeSmoke(t *testing.T) {
	for name, tt := range readTestTensors(t, "stories260K.gguf") {
		got := make([]float32, tt.elems())
		if err := Dequantize(tt.typ, tt.data, got); err != nil {
			t.Fatalf("stories260K %s: %v", name, err)
		}
		if tt.typ != TypeF32 {
			t.Errorf("stories260K %s: type %s, want F32", name, tt.typ)
			continue
		}
		if want := f32Values(tt.data); !slices.Equal(got, want) {
			t.Errorf("stories260K %s: F32 values differ", name)
		}
	}
	// Standard deviations the tiny-bpe weights were drawn with (README).
	drawnStd := func(name string) float64 {
		switch {
		case strings.HasPrefix(name, "token_embd"):
			return 0.1
		case strings.Contains(name, ".attn_") && !strings.Contains(name, "norm"):
			return 0.08
		case strings.Contains(name, ".ffn_") && !strings.Contains(name, "norm"):
			return 0.07
		}
		return 0 // norm weights: 1 + 0.1·N(0,1)
	}
	types := map[GGMLType]int{}
	bpe := readTestTensors(t, "tiny-bpe-q4_k_m.gguf")
	for _, name := range sortedNames(bpe) {
		tt := bpe[name]
		got := make([]float32, tt.elems())
		if err := Dequantize(tt.typ, tt.data, got); err != nil {
			t.Fatalf("tiny-bpe %s: %v", name, err)
		}
		types[tt.typ]++
		var sum, sum2 float64
		for _, v := range got {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("tiny-bpe %s (%s): non-finite value %g", name, tt.typ, v)
			}
			sum += float64(v)
			sum2 += float64(v) * float64(v)
		}
		n := float64(len(got))
		mean, std := sum/n, math.Sqrt(sum2/n-(sum/n)*(sum/n))
		if want := drawnStd(name); want != 0 && math.Abs(std/want-1) > 0.03 {
			t.Errorf("tiny-bpe %s (%s): std %.4f, weights were drawn with %.2f", name, tt.typ, std, want)
		} else if want == 0 && (math.Abs(mean-1) > 0.05 || std > 0.13) {
			t.Errorf("tiny-bpe %s (%s): mean %.3f std %.3f, want about 1 and 0.1", name, tt.typ, mean, std)
		}
	}
	if types[TypeQ4_K] != 12 || types[TypeQ6_K] != 3 || types[TypeF32] != 5 {
		t.Errorf("tiny-bpe tensor types %v, want 12 Q4_K, 3 Q6_K, 5 F32", types)
	}
}

// TestDequantizeHandBuiltQ2_K checks one Q2_K block built by hand against
// values computed directly from the layout: value i is in group i/16 and in
// byte 32·(i/128) + i%32 of qs at bit 2·((i%128)/32).
func TestDequantizeHandBuiltQ2_K(t *testing.T) {
	b := make([]byte, TypeQ2_K.BlockBytes())
	for g := 0; g < 16; g++ {
		b[g] = uint8(g%16) | uint8(15-g)<<4 // scale g, min 15−g
	}
	for i := 0; i < 64; i++ {
		b[16+i] = uint8(i*37 + 11)
	}
	binary.LittleEndian.PutUint16(b[80:], 0x3800) // d = 0.5
	binary.LittleEndian.PutUint16(b[82:], 0x3400) // dmin = 0.25
	got := make([]float32, QK_K)
	if err := Dequantize(TypeQ2_K, b, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		g := i / 16
		q := b[16+32*(i/128)+i%32] >> (2 * ((i % 128) / 32)) & 3
		want := 0.5*float32(g)*float32(q) - 0.25*float32(15-g)
		if got[i] != want {
			t.Errorf("Q2_K value %d = %g, want %g", i, got[i], want)
		}
	}
	// Spot checks worked out by hand: value 0 is group 0 (scale 0, min 15):
	// −0.25·15; value 200 is group 12 (scale 12, min 3), byte 32+8 = 40 of qs
	// (40·37+11 = 1491 = 0xd3 as a byte), bit pair 4-5 of 0b11010011 = 1:
	// 0.5·12·1 − 0.25·3 = 5.25.
	if got[0] != -3.75 || got[200] != 5.25 {
		t.Errorf("Q2_K values 0 and 200 = %g, %g, want -3.75, 5.25", got[0], got[200])
	}
}

// TestDequantizeHandBuiltQ3_K checks one Q3_K block built by hand: the 6-bit
// scale of group g is stored biased by 32, its low nibble in byte g%8 (low or
// high nibble for g < 8 or ≥ 8), its top two bits in byte 8+g%4 at bit
// 2·(g/4); value i has its two low bits like Q2_K and its third bit in
// hmask[i%32] at bit i/32, a clear bit meaning q−4.
func TestDequantizeHandBuiltQ3_K(t *testing.T) {
	scale := func(g int) int { return 4*g - 31 } // −31 … 29, all 6-bit values with bias 32
	b := make([]byte, TypeQ3_K.BlockBytes())
	sc := b[96:108]
	for g := 0; g < 16; g++ {
		v := uint8(scale(g) + 32)
		sc[g%8] |= (v & 0xf) << (4 * (g / 8))
		sc[8+g%4] |= (v >> 4) << (2 * (g / 4))
	}
	for i := 0; i < 32; i++ {
		b[i] = uint8(i*53 + 7) // hmask
	}
	for i := 0; i < 64; i++ {
		b[32+i] = uint8(i*29 + 3) // qs
	}
	binary.LittleEndian.PutUint16(b[108:], 0x3c00) // d = 1
	got := make([]float32, QK_K)
	if err := Dequantize(TypeQ3_K, b, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		q := int(b[32+32*(i/128)+i%32] >> (2 * ((i % 128) / 32)) & 3)
		if b[i%32]>>(i/32)&1 == 0 {
			q -= 4
		}
		if want := float32(scale(i/16) * q); got[i] != want {
			t.Errorf("Q3_K value %d = %g, want %g", i, got[i], want)
		}
	}
	// By hand: value 0: scale −31, qs[0] = 3 → low bits 3, hmask[0] = 7 has
	// bit 0 set → q = 3: −93.
	if got[0] != -93 {
		t.Errorf("Q3_K value 0 = %g, want -93", got[0])
	}
}

// TestDequantizeBadInput: wrong lengths and unknown types are errors, and
// garbage blocks of every type decode without panicking.
func TestDequantizeBadInput(t *testing.T) {
	cases := []struct {
		typ      GGMLType
		src, dst int
		want     string
	}{
		{TypeQ4_0, 18, 31, "multiple"},
		{TypeQ4_0, 17, 32, "take 18 bytes, got 17"},
		{TypeQ4_0, 36, 32, "take 18 bytes, got 36"},
		{TypeQ4_K, 144, 255, "multiple"},
		{TypeQ6_K, 0, 256, "got 0"},
		{TypeF32, 3, 1, "got 3"},
		{TypeF16, 4, 1, "got 4"},
		{GGMLType(99), 4, 1, "type(99)"},
		{GGMLType(20), 18, 32, "type(20)"}, // IQ4_NL: not known here
	}
	for _, c := range cases {
		err := Dequantize(c.typ, make([]byte, c.src), make([]float32, c.dst))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Dequantize(%s, %d bytes, %d values) = %v, want error containing %q", c.typ, c.src, c.dst, err, c.want)
		}
	}
	if err := Dequantize(TypeQ4_K, nil, nil); err != nil {
		t.Errorf("Dequantize of zero values: %v", err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range allTypes() {
		b := make([]byte, 4*typ.BlockBytes())
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := Dequantize(typ, b, make([]float32, 4*typ.BlockElems())); err != nil {
			t.Errorf("Dequantize(%s) of random blocks: %v", typ, err)
		}
	}
}

// allTypes lists every type with a known layout.
func allTypes() []GGMLType {
	var ts []GGMLType
	for t := range traits {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

func benchmarkDequantize(b *testing.B, typ GGMLType) {
	const n = 256 * 1024
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.05)
	}
	q, err := Quantize(typ, x, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * 4)
	for b.Loop() {
		if err := Dequantize(typ, q, x); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDequantizeQ4_K(b *testing.B) { benchmarkDequantize(b, TypeQ4_K) }
func BenchmarkDequantizeQ8_0(b *testing.B) { benchmarkDequantize(b, TypeQ8_0) }
