package cpu

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// How Sinf and Cosf (libm.go) were derived, and why they are not simply
// float32(math.Sin(float64(x))): llama.cpp (ggml) computes its rotary-embedding angles with the C
// library's cosf(theta) and sinf(theta), which on Linux is glibc. glibc's
// results are not always correctly rounded, so float32(math.Cos(float64(x)))
// differs from them in the last bit for 1-3% of rope angles; to reproduce
// llama.cpp's rope bit for bit we must reproduce glibc's algorithm,
// operation by operation. (GCC may merge the two calls into one sincosf
// call; glibc's sincosf performs the same operations in two vector lanes and
// returns the same bits as sinf and cosf for every float32.)
//
// The algorithm is ARM's optimized-routines sinf/cosf as shipped in glibc
// (sysdeps/ieee754/flt-32/s_sinf.c, s_cosf.c, s_sincosf.h, s_sincosf_data.c,
// with the x86 polynomial layout of sysdeps/x86/fpu/sincosf_poly.h):
//
//   - |x| < 0.75 (the test is on the top 12 bits of the float, against
//     those of pi/4): evaluate the polynomial directly, with sin x = x and
//     cos x = 1 for |x| < 2^-12;
//   - |x| < 120: subtract the nearest multiple of pi/2, computed in double;
//   - otherwise: reduce with a 192-bit table of 4/pi in integer arithmetic;
//
// followed by a degree-7 odd (sin) or degree-8 even (cos) polynomial in
// double and one rounding to float32.
//
// On x86-64 CPUs with FMA (every AVX2-class CPU) glibc's ifunc selects the
// variants compiled with -mfma (__sinf_fma, __cosf_fma), in which GCC has
// contracted the reduction x - n*pi/2 and every polynomial step a + b*c into
// fused multiply-adds. The math.FMA calls in libm.go mirror those contractions
// exactly (as read from the disassembly of glibc 2.36's libm.so.6); the
// remaining products feed only multiplicands, so the Go compiler cannot fuse
// anything else. Only the fused reduction matters in practice: the plain-SSE2
// variants glibc uses on CPUs without FMA differ from these functions on
// just 34 of the 2^32 floats (12 for sinf, 22 for cosf, all with
// 17 < |x| < 120), and unfusing the polynomial alone changes no result.
//
// Powf and Expf (libm.go) were derived the same way, from glibc 2.36.
//
// Powf: llama.cpp computes the rope frequency ratio as
// powf(freq_base, -2.0f/n_dims), and glibc's powf has a documented error of
// 0.82 ulp, so float32(math.Pow(...)) differs from it for some bases and
// dimensions, e.g. powf(20000, -0.5), powf(20000, -2.0f/216) and
// powf(40000, -2.0f/118). The algorithm is ARM's optimized-routines powf as
// shipped in glibc (sysdeps/ieee754/flt-32/e_powf.c, e_powf_log2_data.c,
// e_exp2f_data.c), with a degree-5 log2 polynomial. The math.FMA calls
// mirror the contractions GCC made in __powf_fma, although no tested input
// (2*10^8 random pairs) tells __powf_fma from the unfused __powf_sse2.
//
// Expf: ggml_silu_f32 computes x/(1+expf(-x)) with the C library's expf for
// the last n%16 values of each row, and glibc's expf (documented error 0.502
// ulp) differs from float32(math.Exp(...)) by 1 ulp on 170648 of the 2^32
// floats, e.g. expf(0x1.6609dap+1) = 0x1.065f4ep+4 where the correctly
// rounded result is 0x1.065f4cp+4. The algorithm is e_expf.c with
// e_exp2f_data.c. In __expf_fma GCC fused both uses of z = x*32/ln2: k comes
// from fma(InvLn2N, x, SHIFT) and r from fma(InvLn2N, x, -k), so z itself is
// never rounded, and the three polynomial steps are FMAs as in powf.
// Compared over all 2^32 floats, only the fused r matters: computing k from
// a rounded z, or the polynomial without FMAs, changes no result, while
// r = z - k with z rounded (as in the plain-SSE2 __expf_sse2) changes two,
// expf(0x1.04845ep+5) and expf(-0x1.f8cbb2p+5), by 1 ulp. The thresholds of
// the special cases are 88.72283 (overflow), -103.972076 (0) and -103.27892
// (0x1p-149, glibc's __math_may_uflowf: 0x1.4p-75f squared).

// sameFloat32 reports whether got has the bits of want, treating every NaN
// as equal (the NaN glibc returns for ±Inf is the x86 default NaN; other
// architectures produce a different one).
func sameFloat32(got float32, want uint32) bool {
	w := math.Float32frombits(want)
	if w != w {
		return got != got
	}
	return math.Float32bits(got) == want
}

// TestLibmGlibcReference checks Sinf, Cosf, Powf and Expf against results
// of glibc 2.36's sinf, cosf, powf and expf (x86-64, FMA variants) recorded
// in testdata/glibc_libm.txt: rope angles and expf arguments on which glibc
// is not correctly rounded, large arguments, branch boundaries and special
// values.
func TestLibmGlibcReference(t *testing.T) {
	f, err := os.Open("testdata/glibc_libm.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hex := func(s string) uint32 {
		v, err := strconv.ParseUint(s, 16, 32)
		if err != nil {
			t.Fatalf("bad hex %q: %v", s, err)
		}
		return uint32(v)
	}
	var nsincos, npow, nexp, notRounded, expNotRounded int
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		switch {
		case fields[0] == "sincos" && len(fields) == 4:
			x := math.Float32frombits(hex(fields[1]))
			ws, wc := hex(fields[2]), hex(fields[3])
			if got := Sinf(x); !sameFloat32(got, ws) {
				t.Errorf("line %d: Sinf(%g [%08x]) = %08x, glibc %08x", line, x, math.Float32bits(x), math.Float32bits(got), ws)
			}
			if got := Cosf(x); !sameFloat32(got, wc) {
				t.Errorf("line %d: Cosf(%g [%08x]) = %08x, glibc %08x", line, x, math.Float32bits(x), math.Float32bits(got), wc)
			}
			if !sameFloat32(float32(math.Sin(float64(x))), ws) || !sameFloat32(float32(math.Cos(float64(x))), wc) {
				notRounded++
			}
			nsincos++
		case fields[0] == "powf" && len(fields) == 4:
			x := math.Float32frombits(hex(fields[1]))
			y := math.Float32frombits(hex(fields[2]))
			w := hex(fields[3])
			if got := Powf(x, y); !sameFloat32(got, w) {
				t.Errorf("line %d: Powf(%g, %g) = %08x, glibc %08x", line, x, y, math.Float32bits(got), w)
			}
			npow++
		case fields[0] == "expf" && len(fields) == 3:
			x := math.Float32frombits(hex(fields[1]))
			w := hex(fields[2])
			if got := Expf(x); !sameFloat32(got, w) {
				t.Errorf("line %d: Expf(%g [%08x]) = %08x, glibc %08x", line, x, math.Float32bits(x), math.Float32bits(got), w)
			}
			if !sameFloat32(float32(math.Exp(float64(x))), w) {
				expNotRounded++
			}
			nexp++
		default:
			t.Fatalf("line %d: cannot parse %q", line, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if nsincos < 200 || npow < 100 || notRounded < 100 || nexp < 200 || expNotRounded < 100 {
		t.Fatalf("testdata too small: %d sincos lines (%d not matching float32(math.Sin/Cos)), %d powf lines, %d expf lines (%d not matching float32(math.Exp))",
			nsincos, notRounded, npow, nexp, expNotRounded)
	}
}

// ulpDiff returns the distance in float32 units in the last place between a
// and b (0 for equal values, including +0 and -0).
func ulpDiff(a, b float32) int64 {
	key := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}

// TestLibmSinfCosfNearMath checks that Sinf and Cosf stay within 1 ulp of
// math.Sin and math.Cos (rounded to float32) over small, medium, large and
// huge arguments, and get the special cases right.
func TestLibmSinfCosfNearMath(t *testing.T) {
	check := func(x float32) {
		t.Helper()
		if d := ulpDiff(Sinf(x), float32(math.Sin(float64(x)))); d > 1 {
			t.Errorf("Sinf(%g [%08x]) = %g, math.Sin %g: %d ulp", x, math.Float32bits(x), Sinf(x), math.Sin(float64(x)), d)
		}
		if d := ulpDiff(Cosf(x), float32(math.Cos(float64(x)))); d > 1 {
			t.Errorf("Cosf(%g [%08x]) = %g, math.Cos %g: %d ulp", x, math.Float32bits(x), Cosf(x), math.Cos(float64(x)), d)
		}
	}
	// Every 97th float32 in [-1000, 1000]: about 11 million arguments
	// (1.1 million with -short).
	step := uint32(211)
	if testing.Short() {
		step = 2111
	}
	for b := uint32(0); b <= math.Float32bits(1000); b += step {
		x := math.Float32frombits(b)
		check(x)
		check(-x)
	}
	// Spread over every exponent up to the largest finite float.
	for b := uint32(0x44800000); b < 0x7f800000; b += 4093 {
		check(math.Float32frombits(b))
		check(-math.Float32frombits(b))
	}
	for _, x := range []float32{0, 1e-45, 1e-38, 0x1p-12, 0.75, 120, math.MaxFloat32} {
		check(x)
		check(-x)
	}
	if s := Sinf(float32(math.Copysign(0, -1))); math.Float32bits(s) != 0x80000000 {
		t.Errorf("Sinf(-0) = %g, want -0", s)
	}
	for _, x := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		if s, c := Sinf(x), Cosf(x); s == s || c == c {
			t.Errorf("Sinf/Cosf(%g) = %g, %g, want NaN", x, s, c)
		}
	}
}

// TestLibmPowfNearMath checks that Powf stays within 1 ulp of math.Pow
// (rounded to float32) over rope frequency bases and exponents and a
// general grid.
func TestLibmPowfNearMath(t *testing.T) {
	check := func(x, y float32) {
		t.Helper()
		want := float32(math.Pow(float64(x), float64(y)))
		if got := Powf(x, y); ulpDiff(got, want) > 1 {
			t.Errorf("Powf(%g, %g) = %g, math.Pow %g", x, y, got, want)
		}
	}
	for b := float32(1000); b <= 2e7; b *= 1.01 {
		for d := 1; d <= 1024; d++ {
			check(b, float32(-2.0)/float32(d))
		}
	}
	for b := uint32(0x00000001); b < 0x7f800000; b += 999983 {
		x := math.Float32frombits(b)
		for _, y := range []float32{-150, -20, -1.5, -1, -0.3, 0.3, 0.5, 1, 2, 3, 7.25, 40} {
			check(x, y)
		}
	}
}

// TestLibmExpfNearMath checks that Expf stays within 1 ulp of math.Exp
// (rounded to float32) over every 211th float32 and checks the special
// cases and the edges of glibc's overflow and underflow branches exactly.
func TestLibmExpfNearMath(t *testing.T) {
	step := uint32(211)
	if testing.Short() {
		step = 2111
	}
	for b := uint64(0); b < 1<<32; b += uint64(step) {
		x := math.Float32frombits(uint32(b))
		if x != x {
			continue
		}
		want := float32(math.Exp(float64(x)))
		if got := Expf(x); ulpDiff(got, want) > 1 {
			t.Errorf("Expf(%g [%08x]) = %g, math.Exp %g", x, uint32(b), got, want)
		}
	}
	for _, c := range []struct{ x, want uint32 }{
		{0x00000000, 0x3f800000}, // 0 -> 1
		{0x80000000, 0x3f800000}, // -0 -> 1
		{0x7f800000, 0x7f800000}, // +Inf -> +Inf
		{0xff800000, 0x00000000}, // -Inf -> +0
		{0x42b17217, 0x7f7fff84}, // 0x1.62e42ep6: largest x with a finite result
		{0x42b17218, 0x7f800000}, // overflow
		{0x7f7fffff, 0x7f800000},
		{0xc2ce8ed0, 0x00000001}, // below -0x1.9d1d9ep6: __math_may_uflowf
		{0xc2cff1b4, 0x00000001}, // -0x1.9fe368p6: still 0x1p-149
		{0xc2cff1b5, 0x00000000}, // below it: __math_uflowf, +0
		{0xff7fffff, 0x00000000},
	} {
		if got := Expf(math.Float32frombits(c.x)); math.Float32bits(got) != c.want {
			t.Errorf("Expf(%g [%08x]) = %08x, want %08x", math.Float32frombits(c.x), c.x, math.Float32bits(got), c.want)
		}
	}
	for _, b := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff} {
		if got := Expf(math.Float32frombits(b)); got == got {
			t.Errorf("Expf(NaN [%08x]) = %g, want NaN", b, got)
		}
	}
}
