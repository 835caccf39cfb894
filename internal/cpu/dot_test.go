package cpu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

// dotFunc is the signature of Dot.
type dotFunc func(t gguf.GGMLType, n int, w, a []byte) float32

// dotImpls are the implementations the reference tests check: Dot (with
// the assembly kernels where the CPU has them) and the pure-Go kernels
// alone, so that the fallback stays tested on every machine.
var dotImpls = []struct {
	name string
	dot  dotFunc
}{
	{"Dot", Dot},
	{"generic", func(t gguf.GGMLType, n int, w, a []byte) float32 { return dotGeneric(t, VecOrder, n, w, a) }},
}

// dotTypes are the weight types Dot supports, with their activation types.
var dotTypes = []struct {
	t  gguf.GGMLType
	vt gguf.GGMLType
}{
	{gguf.TypeF32, gguf.TypeF32},
	{gguf.TypeF16, gguf.TypeF16},
	{gguf.TypeBF16, gguf.TypeBF16},
	{gguf.TypeQ4_0, gguf.TypeQ8_0},
	{gguf.TypeQ4_1, gguf.TypeQ8_1},
	{gguf.TypeQ5_0, gguf.TypeQ8_0},
	{gguf.TypeQ5_1, gguf.TypeQ8_1},
	{gguf.TypeQ8_0, gguf.TypeQ8_0},
	{gguf.TypeQ2_K, gguf.TypeQ8_K},
	{gguf.TypeQ3_K, gguf.TypeQ8_K},
	{gguf.TypeQ4_K, gguf.TypeQ8_K},
	{gguf.TypeQ5_K, gguf.TypeQ8_K},
	{gguf.TypeQ6_K, gguf.TypeQ8_K},
}

func TestVecDotTypeAndSupport(t *testing.T) {
	for _, tc := range dotTypes {
		if got := VecDotType(tc.t); got != tc.vt {
			t.Errorf("VecDotType(%v) = %v, want %v", tc.t, got, tc.vt)
		}
		if !DotSupported(tc.t) {
			t.Errorf("DotSupported(%v) = false", tc.t)
		}
	}
	for _, typ := range []gguf.GGMLType{gguf.TypeQ8_1, gguf.TypeQ8_K, gguf.GGMLType(99)} {
		if DotSupported(typ) {
			t.Errorf("DotSupported(%v) = true", typ)
		}
		mustPanic(t, "not supported", func() { VecDotType(typ) })
		mustPanic(t, "not supported", func() { Dot(typ, 0, nil, nil) })
	}
}

// The kernels' block layouts must agree with gguf's type table.
func TestBlockSizes(t *testing.T) {
	for _, c := range []struct {
		t          gguf.GGMLType
		elems, len int
	}{
		{gguf.TypeQ4_0, gguf.QK8_0, gguf.BlockQ4_0}, {gguf.TypeQ4_1, gguf.QK8_0, gguf.BlockQ4_1},
		{gguf.TypeQ5_0, gguf.QK8_0, gguf.BlockQ5_0}, {gguf.TypeQ5_1, gguf.QK8_0, gguf.BlockQ5_1},
		{gguf.TypeQ8_0, gguf.QK8_0, gguf.BlockQ8_0}, {gguf.TypeQ8_1, gguf.QK8_0, gguf.BlockQ8_1},
		{gguf.TypeQ2_K, gguf.QK_K, gguf.BlockQ2_K}, {gguf.TypeQ3_K, gguf.QK_K, gguf.BlockQ3_K},
		{gguf.TypeQ4_K, gguf.QK_K, gguf.BlockQ4_K}, {gguf.TypeQ5_K, gguf.QK_K, gguf.BlockQ5_K},
		{gguf.TypeQ6_K, gguf.QK_K, gguf.BlockQ6_K}, {gguf.TypeQ8_K, gguf.QK_K, gguf.BlockQ8_K},
	} {
		if c.t.BlockElems() != c.elems || c.t.BlockBytes() != c.len {
			t.Errorf("%v: kernel block %d values / %d bytes, gguf %d / %d",
				c.t, c.elems, c.len, c.t.BlockElems(), c.t.BlockBytes())
		}
	}
}

// randVec returns n roughly normal values with a few outliers, like
// activations after a norm.
func randVec(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		v := r.NormFloat64() * scale
		if r.IntN(64) == 0 {
			v *= 8
		}
		x[i] = float32(v)
	}
	return x
}

// weightRow returns a row of n weights of type t and its dequantization by
// gguf. The row is gguf's quantization of random values (what model files
// hold) or, when random is set, random valid blocks: random quant bytes with
// moderate fp16 scales, which reach every quant and sub-scale value.
func weightRow(t *testing.T, r *rand.Rand, typ gguf.GGMLType, n int, random bool) ([]byte, []float32) {
	t.Helper()
	var w []byte
	if random {
		w = randomBlocks(r, typ, n)
	} else {
		var err error
		if w, err = gguf.Quantize(typ, randVec(r, n, 0.05), nil); err != nil {
			t.Fatalf("gguf.Quantize(%v): %v", typ, err)
		}
	}
	wf := make([]float32, n)
	if err := gguf.Dequantize(typ, w, wf); err != nil {
		t.Fatalf("gguf.Dequantize(%v): %v", typ, err)
	}
	return w, wf
}

// scaleFields are the offsets of the fp16 scales in a block of each type.
var scaleFields = map[gguf.GGMLType][]int{
	gguf.TypeQ4_0: {0}, gguf.TypeQ4_1: {0, 2}, gguf.TypeQ5_0: {0}, gguf.TypeQ5_1: {0, 2},
	gguf.TypeQ8_0: {0}, gguf.TypeQ2_K: {80, 82}, gguf.TypeQ3_K: {108},
	gguf.TypeQ4_K: {0, 2}, gguf.TypeQ5_K: {0, 2}, gguf.TypeQ6_K: {208},
}

func randomBlocks(r *rand.Rand, typ gguf.GGMLType, n int) []byte {
	size, err := typ.RowBytes(n)
	if err != nil {
		panic(err)
	}
	b := make([]byte, size)
	switch typ {
	case gguf.TypeF32:
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(r.NormFloat64())))
		}
		return b
	case gguf.TypeF16:
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], gguf.FP32ToFP16(float32(r.NormFloat64())))
		}
		return b
	case gguf.TypeBF16:
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], gguf.FP32ToBF16(float32(r.NormFloat64())))
		}
		return b
	}
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	bs := typ.BlockBytes()
	for off := 0; off < size; off += bs {
		for _, f := range scaleFields[typ] {
			d := float32(0.001 + 0.01*r.Float64())
			binary.LittleEndian.PutUint16(b[off+f:], gguf.FP32ToFP16(d))
		}
	}
	return b
}

func dequantAct(t *testing.T, vt gguf.GGMLType, a []byte, n int) []float32 {
	t.Helper()
	af := make([]float32, n)
	if err := gguf.Dequantize(vt, a, af); err != nil {
		t.Fatalf("gguf.Dequantize(%v): %v", vt, err)
	}
	return af
}

// actErrBound is how far the dequantized activation of x[i] may be from
// x[i]: half a quantization step, plus the rounding of the stored scale.
func actErrBound(vt gguf.GGMLType, x []float32) []float64 {
	e := make([]float64, len(x))
	block := func(qk int, rel float64) {
		for i := 0; i < len(x); i += qk {
			var amax float64
			for _, v := range x[i : i+qk] {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			for j := i; j < i+qk; j++ {
				e[j] = amax/127*0.5*(1+1e-6) + amax*rel
			}
		}
	}
	switch vt {
	case gguf.TypeF32:
	case gguf.TypeF16: // plus the subnormal spacing for tiny values
		for i, v := range x {
			e[i] = math.Abs(float64(v))*0x1p-11 + 0x1p-25
		}
	case gguf.TypeBF16:
		for i, v := range x {
			e[i] = math.Abs(float64(v)) * 0x1p-8
		}
	case gguf.TypeQ8_0, gguf.TypeQ8_1:
		block(gguf.QK8_0, 0x1p-11) // d is stored as fp16: 127 * rel. error 2^-11 * d
	case gguf.TypeQ8_K:
		block(gguf.QK_K, 1e-6)
	}
	return e
}

// TestDotMatchesReference checks every kernel against the float64 dot
// product of gguf's dequantization of both operands (the same math, so
// only float32 rounding may differ), and against the plain dot product of
// the unquantized activations (within the activation quantization error).
func TestDotMatchesReference(t *testing.T) {
	for _, impl := range dotImpls {
		for _, tc := range dotTypes {
			for _, n := range []int{tc.t.BlockElems() * max(1, 32/tc.t.BlockElems()), 2048} {
				t.Run(fmt.Sprintf("%s/%v/%d", impl.name, tc.t, n), func(t *testing.T) {
					testDotMatchesReference(t, impl.dot, tc.t, tc.vt, n)
				})
			}
		}
	}
}

func testDotMatchesReference(t *testing.T, dot dotFunc, typ, vt gguf.GGMLType, n int) {
	r := rand.New(rand.NewPCG(uint64(typ), uint64(n)))
	var worstRef, worstPlain float64
	defer func() {
		t.Logf("max error: %.2g of sum|terms| vs dequantized reference; %.2g of the activation-quantization bound vs float dot",
			worstRef, worstPlain)
	}()
	for trial := range 8 {
		w, wf := weightRow(t, r, typ, n, trial%2 == 1)
		x := randVec(r, n, 1)
		if trial == 1 { // a block of zeros and a constant block
			clear(x[:min(n, 256)])
		}
		a := QuantizeRow(vt, x, nil)
		af := dequantAct(t, vt, a, n)
		bound := actErrBound(vt, x)

		var ref, mag, plain, qerr float64
		for i := range n {
			p := float64(wf[i]) * float64(af[i])
			ref += p
			mag += math.Abs(p)
			plain += float64(wf[i]) * float64(x[i])
			qerr += math.Abs(float64(wf[i])) * bound[i]
		}
		if vt == gguf.TypeQ8_1 {
			// ggml applies the weights' offset m through the
			// block's s = d*sum(q) (rounded to fp16), not through
			// the dequantized activations.
			fix, fmag := q8_1OffsetCorrection(w, a, af, typ.BlockBytes())
			ref += fix
			mag += fmag
		}
		got := float64(dot(typ, n, w, a))
		// Relative to the sum of |terms|: float32 rounding of
		// the block sums and scales, nothing else.
		if mag > 0 {
			worstRef = max(worstRef, math.Abs(got-ref)/mag)
			worstPlain = max(worstPlain, math.Abs(got-plain)/(qerr+1e-5*mag))
		}
		if diff := math.Abs(got - ref); diff > 1e-5*mag+1e-30 {
			t.Fatalf("trial %d: Dot = %g, dequantized reference %g: error %.3g of magnitude %.3g",
				trial, got, ref, diff/mag, mag)
		}
		if diff := math.Abs(got - plain); diff > qerr+1e-5*mag {
			t.Fatalf("trial %d: Dot = %g, float dot %g: off by %g, activation quantization allows %g",
				trial, got, plain, diff, qerr)
		}
	}
}

// q8_1OffsetCorrection returns, summed over blocks, m*s - m*sum(af) (what
// a Q4_1/Q5_1 dot product computes minus the dequantized reference) and
// |m*s|, with m the weight block's offset (bytes 2-3) and s the activation
// block's sum.
func q8_1OffsetCorrection(w, a []byte, af []float32, wLen int) (fix, mag float64) {
	for b := range len(af) / gguf.QK8_0 {
		m := float64(gguf.FP16ToFP32(binary.LittleEndian.Uint16(w[b*wLen+2:])))
		s := float64(gguf.FP16ToFP32(binary.LittleEndian.Uint16(a[b*gguf.BlockQ8_1+2:])))
		var sum float64
		for _, v := range af[b*gguf.QK8_0 : (b+1)*gguf.QK8_0] {
			sum += float64(v)
		}
		fix += m * (s - sum)
		mag += math.Abs(m * s)
	}
	return fix, mag
}

// TestDotExtremes drives every lane sum to its largest magnitude: weights
// at the ends of their range against activations of +-127, the case the
// packed-lane bounds in the kernels are computed for.
func TestDotExtremes(t *testing.T) {
	for _, impl := range dotImpls {
		t.Run(impl.name, func(t *testing.T) { testDotExtremes(t, impl.dot) })
	}
}

func testDotExtremes(t *testing.T, dot dotFunc) {
	const n = 512
	for _, tc := range dotTypes {
		if tc.t.BlockElems() == 1 {
			continue
		}
		for _, wb := range []byte{0x00, 0xff, 0x55, 0xaa, 0x0f, 0xf0} {
			for _, av := range []int8{127, -127} {
				r := rand.New(rand.NewPCG(uint64(wb), uint64(tc.t)))
				w := randomBlocks(r, tc.t, n)
				bs := tc.t.BlockBytes()
				for off := 0; off < len(w); off += bs {
					f := scaleFields[tc.t]
					for i := off; i < off+bs; i++ {
						if !isScaleByte(i-off, f) {
							w[i] = wb
						}
					}
				}
				a := constActivations(tc.vt, n, av)
				wf := make([]float32, n)
				if err := gguf.Dequantize(tc.t, w, wf); err != nil {
					t.Fatal(err)
				}
				af := dequantAct(t, tc.vt, a, n)
				var ref, mag float64
				for i := range n {
					ref += float64(wf[i]) * float64(af[i])
					mag += math.Abs(float64(wf[i]) * float64(af[i]))
				}
				if tc.vt == gguf.TypeQ8_1 {
					fix, fmag := q8_1OffsetCorrection(w, a, af, tc.t.BlockBytes())
					ref += fix
					mag += fmag
				}
				if got := float64(dot(tc.t, n, w, a)); math.Abs(got-ref) > 1e-5*mag+1e-30 {
					t.Errorf("%v weights %#02x, activations %d: Dot = %g, want %g", tc.t, wb, av, got, ref)
				}
			}
		}
	}
}

func isScaleByte(i int, fields []int) bool {
	for _, f := range fields {
		if i == f || i == f+1 {
			return true
		}
	}
	return false
}

// constActivations builds an activation row whose quants are all q, with
// scale 1/64 (and consistent Q8_K bsums and Q8_1 sums).
func constActivations(vt gguf.GGMLType, n int, q int8) []byte {
	var out []byte
	switch vt {
	case gguf.TypeQ8_0, gguf.TypeQ8_1:
		for range n / gguf.QK8_0 {
			out = binary.LittleEndian.AppendUint16(out, gguf.FP32ToFP16(1.0/64))
			if vt == gguf.TypeQ8_1 {
				out = binary.LittleEndian.AppendUint16(out, gguf.FP32ToFP16(float32(q)*gguf.QK8_0/64))
			}
			out = append(out, bytes.Repeat([]byte{byte(q)}, gguf.QK8_0)...)
		}
	case gguf.TypeQ8_K:
		for range n / gguf.QK_K {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(1.0/64))
			out = append(out, bytes.Repeat([]byte{byte(q)}, gguf.QK_K)...)
			for range gguf.QK_K / 16 {
				out = binary.LittleEndian.AppendUint16(out, uint16(int16(q)*16))
			}
		}
	}
	return out
}

// Q8_0 follows llama.cpp's x86 AVX quantize_row_q8_0, not the _ref function
// gguf uses for model files: the scales are identical, and a quant may
// differ by one only where x*127/amax is within rounding of a half-integer.
func TestQuantizeRowQ8_0VersusReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randVec(r, 64*gguf.QK8_0, 1)
	want, err := gguf.Quantize(gguf.TypeQ8_0, x, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := QuantizeRow(gguf.TypeQ8_0, x, nil)
	diffs := 0
	for b := range len(x) / gguf.QK8_0 {
		g, w := got[b*gguf.BlockQ8_0:], want[b*gguf.BlockQ8_0:]
		if g[0] != w[0] || g[1] != w[1] {
			t.Fatalf("block %d: scale %#04x, reference %#04x", b, g[:2], w[:2])
		}
		blk := (*[gguf.QK8_0]float32)(x[b*gguf.QK8_0:])
		amax := absMax32(blk)
		for j := range gguf.QK8_0 {
			qg, qw := int8(g[2+j]), int8(w[2+j])
			if qg == qw {
				continue
			}
			diffs++
			v := float64(blk[j]) * 127 / float64(amax)
			if frac := math.Abs(v - math.Trunc(v)); qg-qw != 1 && qw-qg != 1 || math.Abs(frac-0.5) > 1e-4 {
				t.Errorf("block %d value %d (%g): quant %d, reference %d", b, j, v, qg, qw)
			}
		}
	}
	t.Logf("%d of %d quants differ from quantize_row_q8_0_ref (ties)", diffs, len(x))
}

// Hand-checked quantizations, including the rounding rules that tell the
// x86 CPU path from the _ref functions.
func TestQuantizeRowExact(t *testing.T) {
	// Q8_0: amax 127 makes the multiplier exactly 1; 2.5 and -0.5 are ties,
	// rounded to even (the reference's roundf gives 3 and -1).
	x := make([]float32, gguf.QK8_0)
	x[0], x[1], x[2], x[3] = 127, 2.5, -0.5, 3.5
	b := QuantizeRow(gguf.TypeQ8_0, x, nil)
	if d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(b)); d != 1 {
		t.Errorf("Q8_0 d = %g, want 1", d)
	}
	if q := []int8{int8(b[2]), int8(b[3]), int8(b[4]), int8(b[5])}; q[0] != 127 || q[1] != 2 || q[2] != 0 || q[3] != 4 {
		t.Errorf("Q8_0 quants %v, want [127 2 0 4]", q)
	}

	// Q8_1: the same quants, s = d * sum(q) = 133.
	b = QuantizeRow(gguf.TypeQ8_1, x, nil)
	if s := gguf.FP16ToFP32(binary.LittleEndian.Uint16(b[2:])); s != 133 {
		t.Errorf("Q8_1 s = %g, want 133", s)
	}

	// Q8_K: the scale follows the signed maximum: here -254 maps to -127
	// (d = 2), so +254 would map to +127; 3 is a tie (1.5) rounded to 2.
	xk := make([]float32, gguf.QK_K)
	xk[5], xk[6], xk[7] = -254, 3, 254
	b = QuantizeRow(gguf.TypeQ8_K, xk, nil)
	if d := math.Float32frombits(binary.LittleEndian.Uint32(b)); d != 2 {
		t.Errorf("Q8_K d = %g, want 2", d)
	}
	if q := []int8{int8(b[4+5]), int8(b[4+6]), int8(b[4+7])}; q[0] != -127 || q[1] != 2 || q[2] != 127 {
		t.Errorf("Q8_K quants %v, want [-127 2 127]", q)
	}
	if s := int16(binary.LittleEndian.Uint16(b[q8KBOff:])); s != 2 {
		t.Errorf("Q8_K bsums[0] = %d, want 2", s)
	}

	// F32 / F16 / BF16 are plain conversions.
	xf := []float32{1, -2.5, 65504, 1e-8}
	b = QuantizeRow(gguf.TypeF32, xf, nil)
	for i, v := range xf {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])); got != v {
			t.Errorf("F32 %d: %g, want %g", i, got, v)
		}
	}
	b = QuantizeRow(gguf.TypeF16, xf, nil)
	for i, v := range xf {
		if got := binary.LittleEndian.Uint16(b[2*i:]); got != gguf.FP32ToFP16(v) {
			t.Errorf("F16 %d: %#04x, want %#04x", i, got, gguf.FP32ToFP16(v))
		}
	}
	// BF16 rounds to nearest even: 1+2^-8 is a tie (stays 1), 1+3*2^-8
	// rounds up to 1+2^-6.
	b = QuantizeRow(gguf.TypeBF16, []float32{1 + 0x1p-8, 1 + 3*0x1p-8}, nil)
	if got := []uint16{binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])}; got[0] != 0x3f80 || got[1] != 0x3f82 {
		t.Errorf("BF16 %#04x, want [0x3f80 0x3f82]", got)
	}
}

func TestQuantizeRowAppendsWithoutAllocating(t *testing.T) {
	x := randVec(rand.New(rand.NewPCG(5, 6)), 512, 1)
	for _, vt := range []gguf.GGMLType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ8_1, gguf.TypeQ8_K} {
		want := QuantizeRow(vt, x, nil)
		buf := make([]byte, 3, 3+len(want))
		copy(buf, "abc")
		got := QuantizeRow(vt, x, buf)
		if string(got[:3]) != "abc" || !bytes.Equal(got[3:], want) {
			t.Errorf("%v: appending to a non-empty slice changed the result", vt)
		}
		if allocs := testing.AllocsPerRun(10, func() { QuantizeRow(vt, x, buf[:3]) }); allocs != 0 {
			t.Errorf("%v: QuantizeRow allocates %v times with spare capacity", vt, allocs)
		}
	}
}

func TestDotDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range dotTypes {
		w := randomBlocks(r, tc.t, 512)
		a := QuantizeRow(tc.vt, randVec(r, 512, 1), nil)
		if allocs := testing.AllocsPerRun(10, func() { Dot(tc.t, 512, w, a) }); allocs != 0 {
			t.Errorf("%v: Dot allocates %v times", tc.t, allocs)
		}
		out := make([]float32, 1)
		if allocs := testing.AllocsPerRun(10, func() { dotRows(tc.t, 512, w, 0, 1, a, out) }); allocs != 0 {
			t.Errorf("%v: dotRows allocates %v times", tc.t, allocs)
		}
	}
}

func TestBadSizesPanic(t *testing.T) {
	w := make([]byte, 2*gguf.BlockQ4_K)
	a := make([]byte, 2*gguf.BlockQ8_K)
	mustPanic(t, "not a multiple of the block size 256", func() { Dot(gguf.TypeQ4_K, 300, w, a) })
	mustPanic(t, "not a multiple of the block size 256", func() { Dot(gguf.TypeQ4_K, -256, w, a) })
	mustPanic(t, "needs 288 weight and 584 activation bytes, got 287 and 584",
		func() { Dot(gguf.TypeQ4_K, 512, w[:287], a) })
	mustPanic(t, "got 288 and 583", func() { Dot(gguf.TypeQ4_K, 512, w, a[:583]) })
	mustPanic(t, "got 7 and 8", func() { Dot(gguf.TypeF32, 2, w[:7], a[:8]) })
	mustPanic(t, "not a multiple of the Q8_0 block size 32", func() { QuantizeRow(gguf.TypeQ8_0, make([]float32, 40), nil) })
	mustPanic(t, "not an activation format", func() { QuantizeRow(gguf.TypeQ4_K, make([]float32, 256), nil) })

	// Longer buffers are fine: only the n values are read.
	if got := Dot(gguf.TypeQ4_K, 256, w, a); got != 0 {
		t.Errorf("Dot of zero blocks = %g", got)
	}
	if got := Dot(gguf.TypeQ8_0, 0, nil, nil); got != 0 {
		t.Errorf("empty Dot = %g", got)
	}
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want one mentioning %q", want)
			return
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, want) {
			t.Errorf("panic %q does not mention %q", msg, want)
		}
	}()
	f()
}

// actModes are the activation rows TestDotSIMDMatchesGeneric tries: a
// QuantizeRow result, and raw quants (with consistent bsums) at and near
// the ends of [-127, 127].
var actModes = []string{"quantized", "random", "+-127", "+127", "-127"}

// testActivations returns n activations of type vt in the given mode.
func testActivations(r *rand.Rand, vt gguf.GGMLType, n int, mode string) []byte {
	if mode == "quantized" || (vt != gguf.TypeQ8_0 && vt != gguf.TypeQ8_K) {
		return QuantizeRow(vt, randVec(r, n, 1), nil)
	}
	q := make([]int8, n)
	for i := range q {
		switch mode {
		case "random":
			q[i] = int8(r.IntN(255) - 127)
		case "+-127":
			q[i] = int8(127 - 254*r.IntN(2))
		case "+127":
			q[i] = 127
		case "-127":
			q[i] = -127
		}
	}
	var out []byte
	if vt == gguf.TypeQ8_0 {
		for b := 0; b < n; b += gguf.QK8_0 {
			out = binary.LittleEndian.AppendUint16(out, gguf.FP32ToFP16(float32(0.001+0.01*r.Float64())))
			for _, v := range q[b : b+gguf.QK8_0] {
				out = append(out, byte(v))
			}
		}
		return out
	}
	for b := 0; b < n; b += gguf.QK_K {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(0.001+0.01*r.Float64())))
		for _, v := range q[b : b+gguf.QK_K] {
			out = append(out, byte(v))
		}
		for j := b; j < b+gguf.QK_K; j += 16 {
			var s int16
			for _, v := range q[j : j+16] {
				s += int16(v)
			}
			out = binary.LittleEndian.AppendUint16(out, uint16(s))
		}
	}
	return out
}

// testWeights returns a row of n weights of type typ: random valid blocks,
// or with every non-scale byte set to fill (fill >= 0).
func testWeights(r *rand.Rand, typ gguf.GGMLType, n, fill int) []byte {
	w := randomBlocks(r, typ, n)
	if fill < 0 || typ.BlockElems() == 1 {
		return w
	}
	bs := typ.BlockBytes()
	for off := 0; off < len(w); off += bs {
		for i := off; i < off+bs; i++ {
			if !isScaleByte(i-off, scaleFields[typ]) {
				w[i] = byte(fill)
			}
		}
	}
	return w
}

// testLengths returns row lengths of typ to test: odd and even block
// counts around the assembly kernels' four-block steps, and for the
// float types lengths around their 16-value steps.
func testLengths(typ gguf.GGMLType) []int {
	if typ.BlockElems() == 1 {
		return []int{1, 2, 7, 15, 16, 17, 31, 32, 33, 100, 2048}
	}
	var ns []int
	for _, blocks := range []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 33} {
		ns = append(ns, blocks*typ.BlockElems())
	}
	return ns
}

// sameDot reports whether got (an assembly kernel's result) agrees with
// want (the pure-Go kernel's): bit for bit if exact, otherwise within
// float32 rounding, bounded by 1e-6 of mag (the sum of |terms|).
func sameDot(got, want float32, mag float64, exact bool) bool {
	if exact {
		return math.Float32bits(got) == math.Float32bits(want)
	}
	return math.Abs(float64(got)-float64(want)) <= 1e-6*mag
}

// bitIdentical reports whether Dot's result for weight type t must equal
// the pure-Go kernel's bit for bit: for types without an assembly kernel,
// and for F32, F16 and BF16, whose kernels and pure-Go code sum in the
// same order with the same FMAs. The quantized kernels accumulate in float
// lanes as ggml does.
func bitIdentical(t gguf.GGMLType) bool {
	switch t {
	case gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0:
		return false
	}
	return true
}

// dotMagnitude is the sum of |w_i * a_i| over the dequantized rows.
func dotMagnitude(t *testing.T, typ, vt gguf.GGMLType, n int, w, a []byte) float64 {
	t.Helper()
	wf := make([]float32, n)
	if err := gguf.Dequantize(typ, w, wf); err != nil {
		t.Fatal(err)
	}
	af := dequantAct(t, vt, a, n)
	var mag float64
	for i := range n {
		mag += math.Abs(float64(wf[i]) * float64(af[i]))
	}
	return mag
}

// TestDotSIMDMatchesGeneric compares Dot (the assembly kernels, where the
// CPU has them) with the pure-Go kernels on random rows with odd and even
// block counts, random and extreme weight bytes, and activations at the
// ends of their range. Both compute the same exact integer block sums;
// the float parts agree as bitIdentical says.
func TestDotSIMDMatchesGeneric(t *testing.T) {
	for _, tc := range dotTypes {
		exact := bitIdentical(tc.t)
		t.Run(tc.t.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, uint64(tc.t)))
			checked, mismatched := 0, 0
			for _, n := range testLengths(tc.t) {
				for _, fill := range []int{-1, -1, 0x00, 0xff, 0x80, 0x7f, 0x55, 0xaa, 0x0f, 0xf0} {
					for _, mode := range actModes {
						w := testWeights(r, tc.t, n, fill)
						a := testActivations(r, tc.vt, n, mode)
						got, want := Dot(tc.t, n, w, a), dotGeneric(tc.t, VecOrder, n, w, a)
						checked++
						if sameDot(got, want, dotMagnitude(t, tc.t, tc.vt, n, w, a), exact) {
							continue
						}
						if mismatched++; mismatched <= 5 {
							t.Errorf("n=%d, weight bytes %#x, activations %s: Dot = %g (%#08x), pure Go %g (%#08x)",
								n, fill, mode, got, math.Float32bits(got), want, math.Float32bits(want))
						}
					}
				}
			}
			if mismatched > 0 {
				t.Errorf("%d of %d results differ (exact comparison: %v)", mismatched, checked, exact)
			}
		})
	}
}

// TestDotSIMDExactArithmetic checks the integer parts of the kernels that
// accumulate in float lanes bit for bit: with unit scales and quants
// small enough that every partial sum stays below 2^24, every float
// operation in either kernel is exact, whatever its order, so any
// difference is an integer error. The activations are in [-15, 15]; Q6_K
// scales in [-16, 16]. Then a Q4_K block sums to at most
// 63*15*15*256 + 63*16*15*16 < 3.9e6 in magnitude, a Q6_K block to at most
// 16*32*15*256 < 2e6, and rows of up to four blocks stay below 2^24.
func TestDotSIMDExactArithmetic(t *testing.T) {
	one := gguf.FP32ToFP16(1)
	for _, typ := range []gguf.GGMLType{gguf.TypeQ4_K, gguf.TypeQ6_K} {
		r := rand.New(rand.NewPCG(14, uint64(typ)))
		for blocks := 1; blocks <= 4; blocks++ {
			n := blocks * gguf.QK_K
			for _, fill := range []int{-1, -1, -1, 0x00, 0xff, 0x80, 0x7f, 0x55, 0xaa} {
				w := testWeights(r, typ, n, fill)
				bs := typ.BlockBytes()
				for off := 0; off < len(w); off += bs {
					for _, f := range scaleFields[typ] {
						binary.LittleEndian.PutUint16(w[off+f:], one)
					}
					if typ == gguf.TypeQ6_K {
						for j := range 16 {
							w[off+192+j] = byte(int8(r.IntN(33) - 16))
						}
					}
				}
				for _, q := range []int{0, 15, -15} {
					a := testActivations(r, gguf.TypeQ8_K, n, "random")
					for b := 0; b < len(a); b += gguf.BlockQ8_K {
						binary.LittleEndian.PutUint32(a[b:], math.Float32bits(1))
						for j := range gguf.QK_K {
							v := int8(r.IntN(31) - 15)
							if q != 0 {
								v = int8(q)
							}
							a[b+q8KQOff+j] = byte(v)
						}
						for j := range gguf.QK_K / 16 {
							var s int16
							for _, v := range a[b+q8KQOff+16*j : b+q8KQOff+16*j+16] {
								s += int16(int8(v))
							}
							binary.LittleEndian.PutUint16(a[b+q8KBOff+2*j:], uint16(s))
						}
					}
					got, want := Dot(typ, n, w, a), dotGeneric(typ, VecOrder, n, w, a)
					if got != want || want != float32(int32(want)) {
						t.Errorf("%v, %d blocks, weight bytes %#x, activations %d: Dot = %g, pure Go %g (want equal integers)",
							typ, blocks, fill, q, got, want)
					}
				}
			}
		}
	}
}

// TestDotMatrix checks DotMatrix against Dot pair by pair
// (against DotMatrix of the single pair in GemmOrder): the assembly
// kernels must give each pair's result exactly, whether they handle it
// alone or among four activation rows. Strides are longer than the rows,
// so rows start at odd addresses, and the outputs of the activation rows
// are interleaved with untouched gaps.
func TestDotMatrix(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	for _, tc := range dotTypes {
		for _, n := range []int{tc.t.BlockElems() * 3, 2048} {
			for _, order := range []SumOrder{VecOrder, GemmOrder} {
				const wRows = 5
				w, wStride := testMatrix(t, r, tc.t, n, wRows, func() []byte { return testWeights(r, tc.t, n, -1) })
				for _, aRows := range []int{1, 3, 4, 5, 8, 9} {
					a, aStride := testMatrix(t, r, tc.vt, n, aRows, func() []byte { return testActivations(r, tc.vt, n, "quantized") })
					const sentinel = 42
					outStride := wRows + 2
					out := make([]float32, aRows*outStride)
					for i := range out {
						out[i] = sentinel
					}
					DotMatrix(tc.t, order, n, w, wStride, wRows, a, aStride, aRows, out, outStride)
					for ar := range aRows {
						for i := range outStride {
							got := out[ar*outStride+i]
							if i >= wRows {
								if got != sentinel {
									t.Fatalf("%v n=%d, %d activation rows: output %d of row %d overwritten", tc.t, n, aRows, i, ar)
								}
								continue
							}
							want := Dot(tc.t, n, w[i*wStride:], a[ar*aStride:])
							if order == GemmOrder {
								var single [1]float32
								DotMatrix(tc.t, order, n, w[i*wStride:], 0, 1, a[ar*aStride:], 0, 1, single[:], 0)
								want = single[0]
							}
							if math.Float32bits(got) != math.Float32bits(want) {
								t.Errorf("%v n=%d order %d, %d activation rows: weight row %d x activation row %d = %g, want %g",
									tc.t, n, order, aRows, i, ar, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// dotRows sets out[i] = Dot(t, n, w[i*wStride:], a) for i < rows: a
// matrix-vector product, DotMatrix with one activation row.
func dotRows(t gguf.GGMLType, n int, w []byte, wStride, rows int, a []byte, out []float32) {
	DotMatrix(t, VecOrder, n, w, wStride, rows, a, 0, 1, out, 0)
}

// testMatrix lays out rows made by row() with 7 bytes of padding between
// them, returning the matrix and its stride.
func testMatrix(t *testing.T, r *rand.Rand, typ gguf.GGMLType, n, rows int, row func() []byte) ([]byte, int) {
	t.Helper()
	rowBytes, err := typ.RowBytes(n)
	if err != nil {
		t.Fatal(err)
	}
	stride := rowBytes + 7
	m := make([]byte, (rows-1)*stride+rowBytes)
	for i := range rows {
		copy(m[i*stride:], row())
	}
	return m, stride
}

func TestDotMatrixArguments(t *testing.T) {
	w := make([]byte, 3*gguf.BlockQ4_K)
	a := make([]byte, 2*gguf.BlockQ8_K)
	out := make([]float32, 6)
	dotRows(gguf.TypeQ4_K, 0, nil, 0, 0, nil, nil) // no rows: nothing to check
	DotMatrix(gguf.TypeQ4_K, VecOrder, 256, w, gguf.BlockQ4_K, 3, a, gguf.BlockQ8_K, 0, nil, 0)
	DotMatrix(gguf.TypeQ4_K, VecOrder, 256, w, gguf.BlockQ4_K, 3, a, gguf.BlockQ8_K, 2, out, 3)
	for i, v := range out {
		if v != 0 {
			t.Errorf("zero rows: out[%d] = %g", i, v)
		}
	}
	mustPanic(t, "-1 weight rows", func() { dotRows(gguf.TypeQ4_K, 256, w, gguf.BlockQ4_K, -1, a, out) })
	mustPanic(t, "outputs 3 apart in 6", func() { DotMatrix(gguf.TypeQ4_K, VecOrder, 256, w, gguf.BlockQ4_K, 4, a, gguf.BlockQ8_K, 2, out, 3) })
	mustPanic(t, "-1 bytes apart", func() { dotRows(gguf.TypeQ4_K, 256, w, -1, 2, a, out) })
	mustPanic(t, "3 activation rows 292 bytes apart in 583 bytes",
		func() {
			DotMatrix(gguf.TypeQ4_K, VecOrder, 256, w, gguf.BlockQ4_K, 1, a[:2*gguf.BlockQ8_K-1], gguf.BlockQ8_K, 3, out, 1)
		})
	mustPanic(t, "needs 144 weight and 292 activation bytes, got 432 and 0",
		func() { DotMatrix(gguf.TypeQ4_K, VecOrder, 256, w, gguf.BlockQ4_K, 1, a, gguf.BlockQ8_K, 3, out, 1) })
	mustPanic(t, "needs 144 weight and 292 activation bytes, got 143",
		func() { dotRows(gguf.TypeQ4_K, 256, w[:3*gguf.BlockQ4_K-1], gguf.BlockQ4_K, 3, a, out) })
	mustPanic(t, "got 432 and 291",
		func() {
			DotMatrix(gguf.TypeQ4_K, VecOrder, 256, w, gguf.BlockQ4_K, 1, a[:2*gguf.BlockQ8_K-1], gguf.BlockQ8_K, 2, out, 1)
		})
	mustPanic(t, "not supported", func() { dotRows(gguf.TypeQ8_K, 256, w, gguf.BlockQ4_K, 3, a, out) })
}

// TestF16ConversionMatchesHardware multiplies every finite half by 1.0
// through Dot: with the assembly kernels that is the F16C instruction
// VCVTPH2PS, which must agree with gguf.FP16ToFP32 and the pure-Go kernel.
func TestF16ConversionMatchesHardware(t *testing.T) {
	one := binary.LittleEndian.AppendUint16(nil, gguf.FP32ToFP16(1))
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 {
			continue // Inf and NaN: NaN payloads may be quieted differently
		}
		w := binary.LittleEndian.AppendUint16(nil, uint16(h))
		got, want := Dot(gguf.TypeF16, 1, w, one), gguf.FP16ToFP32(uint16(h))
		if got != want || dotGeneric(gguf.TypeF16, VecOrder, 1, w, one) != want {
			t.Fatalf("half %#04x: Dot %g, pure Go %g, gguf.FP16ToFP32 %g",
				h, got, dotGeneric(gguf.TypeF16, VecOrder, 1, w, one), want)
		}
	}
}
