package cpu

import "math"

// Sinf and Cosf return glibc's sinf and cosf bits (x86-64, glibc 2.28 and
// later, the FMA variants its ifunc picks on AVX2 CPUs): ggml's rotary
// angles come from the C library, whose results are not always correctly
// rounded. The algorithm is glibc's (ARM optimized-routines): a direct
// polynomial below 0.75, reduction by pi/2 in double below 120, a 192-bit
// 4/pi table above, then a polynomial in double rounded once. The math.FMA
// calls are the contractions of glibc's compiled code. libm_test.go says
// how this was derived and checks every float32 input.

// sincosfPoly is one of glibc's two coefficient sets; the second one negates
// the cosine polynomial so that quadrants 2 and 3 get -cos for free.
type sincosfPoly struct {
	c0, c1, c2, c3, c4 float64 // cosine: c0 + c1 x^2 + ... + c4 x^8
	s1, s2, s3         float64 // sine: x + s1 x^3 + s2 x^5 + s3 x^7
}

var sincosfTable = [2]sincosfPoly{
	{
		c0: 0x1p0,
		c1: -0x1.ffffffd0c621cp-2,
		c2: 0x1.55553e1068f19p-5,
		c3: -0x1.6c087e89a359dp-10,
		c4: 0x1.99343027bf8c3p-16,
		s1: -0x1.555545995a603p-3,
		s2: 0x1.1107605230bc4p-7,
		s3: -0x1.994eb3774cf24p-13,
	},
	{
		c0: -0x1p0,
		c1: 0x1.ffffffd0c621cp-2,
		c2: -0x1.55553e1068f19p-5,
		c3: 0x1.6c087e89a359dp-10,
		c4: -0x1.99343027bf8c3p-16,
		s1: -0x1.555545995a603p-3,
		s2: 0x1.1107605230bc4p-7,
		s3: -0x1.994eb3774cf24p-13,
	},
}

// sincosfSign is the sign of the sine in quadrants 0..3.
var sincosfSign = [4]float64{1, -1, -1, 1}

// invPio4 is 4/pi to 192 bits; entry i holds bits 8(i-3)..8i+31 so that any
// three entries four apart form a 96-bit window without unaligned loads.
var invPio4 = [24]uint32{
	0xa2, 0xa2f9, 0xa2f983, 0xa2f9836e,
	0xf9836e4e, 0x836e4e44, 0x6e4e4415, 0x4e441529,
	0x441529fc, 0x1529fc27, 0x29fc2757, 0xfc2757d1,
	0x2757d1f5, 0x57d1f534, 0xd1f534dd, 0xf534ddc0,
	0x34ddc0db, 0xddc0db62, 0xc0db6295, 0xdb629599,
	0x6295993c, 0x95993c43, 0x993c4390, 0x3c439041,
}

const (
	sincosfHpiInv = 0x1.45F306DC9C883p+23 // 2/pi * 2^24
	sincosfHpi    = 0x1.921FB54442D18p0   // pi/2
	sincosfPi63   = 0x1.921FB54442D18p-62 // 2pi * 2^-64
)

// Thresholds on abstop12(x) = (bits(x) >> 20) & 0x7ff.
const (
	top12Pio4   = 0x3f4 // abstop12(float32(pi/4)): |x| < 0.75 below this
	top12Tiny   = 0x398 // abstop12(0x1p-12)
	top12Large  = 0x42f // abstop12(120)
	top12NonFin = 0x7f8 // abstop12(+Inf)
)

// sinfPoly evaluates x + s1 x^3 + s2 x^5 + s3 x^7 given x and x2 = x*x, with
// glibc's FMA contractions.
func sinfPoly(x, x2 float64, p *sincosfPoly) float32 {
	x3 := x2 * x
	s1 := math.FMA(x2, p.s3, p.s2)
	x5 := x2 * x3
	s := math.FMA(x3, p.s1, x)
	return float32(math.FMA(s1, x5, s))
}

// cosfPoly evaluates c0 + c1 x^2 + ... + c4 x^8 given x2 = x*x, with glibc's
// FMA contractions.
func cosfPoly(x2 float64, p *sincosfPoly) float32 {
	x4 := x2 * x2
	c1 := math.FMA(x2, p.c1, p.c0)
	c2 := math.FMA(x2, p.c4, p.c3)
	x6 := x2 * x4
	c := math.FMA(x4, p.c2, c1)
	return float32(math.FMA(c2, x6, c))
}

// sincosfReduceFast returns x - n*pi/2 and the quadrant n, for |x| < 120.
// The quadrant comes from a truncating int32 conversion of x*2/pi scaled by
// 2^24, rounded by adding half of 2^24 and shifting (glibc's non-TOINT path).
func sincosfReduceFast(x float64) (float64, int32) {
	r := x * sincosfHpiInv
	n := (int32(r) + 0x800000) >> 24
	return math.FMA(-float64(n), sincosfHpi, x), n
}

// sincosfReduceLarge reduces |x| (given as float bits, sign ignored, |x| >= 2)
// modulo pi/2 using 96 bits of 4/pi selected by the exponent. It returns the
// remainder in [-pi/4, pi/4] and the quadrant n in 0..3.
func sincosfReduceLarge(xi uint32) (float64, uint32) {
	arr := invPio4[(xi>>26)&15:]
	shift := (xi >> 23) & 7
	m := (xi&0x7fffff | 0x800000) << shift

	res0 := uint64(m * arr[0]) // only the low 32 bits matter
	res1 := uint64(m) * uint64(arr[4])
	res2 := uint64(m) * uint64(arr[8])
	res0 = res2>>32 | res0<<32
	res0 += res1

	n := (res0 + 1<<61) >> 62
	res0 -= n << 62
	return float64(int64(res0)) * sincosfPi63, uint32(n)
}

// sincosfInvalid is glibc's __math_invalidf: NaN for Inf and NaN inputs,
// computed the same way so the NaN bits agree with the hardware's.
func sincosfInvalid(x float32) float32 {
	d := x - x
	return d / d
}

// Sinf returns sin(x) rounded to float32 exactly as glibc's sinf does
// (see the comment above).
func Sinf(x float32) float32 {
	xi := math.Float32bits(x)
	top := (xi >> 20) & 0x7ff
	xd := float64(x)
	switch {
	case top < top12Pio4:
		if top < top12Tiny {
			return x
		}
		return sinfPoly(xd, xd*xd, &sincosfTable[0])
	case top < top12Large:
		r, n := sincosfReduceFast(xd)
		p := &sincosfTable[(n>>1)&1]
		if n&1 == 0 {
			return sinfPoly(r*sincosfSign[n&3], r*r, p)
		}
		return cosfPoly(r*r, p)
	case top < top12NonFin:
		r, n := sincosfReduceLarge(xi)
		q := n + xi>>31 // fold the sign of x into the quadrant
		p := &sincosfTable[(q>>1)&1]
		if n&1 == 0 {
			return sinfPoly(r*sincosfSign[q&3], r*r, p)
		}
		return cosfPoly(r*r, p)
	default:
		return sincosfInvalid(x)
	}
}

// Cosf returns cos(x) rounded to float32 exactly as glibc's cosf does
// (see the comment above).
func Cosf(x float32) float32 {
	xi := math.Float32bits(x)
	top := (xi >> 20) & 0x7ff
	xd := float64(x)
	switch {
	case top < top12Pio4:
		if top < top12Tiny {
			return 1
		}
		return cosfPoly(xd*xd, &sincosfTable[0])
	case top < top12Large:
		r, n := sincosfReduceFast(xd)
		p := &sincosfTable[(n>>1)&1]
		if n&1 != 0 {
			return sinfPoly(r*sincosfSign[n&3], r*r, p)
		}
		return cosfPoly(r*r, p)
	case top < top12NonFin:
		r, n := sincosfReduceLarge(xi)
		q := n + xi>>31
		p := &sincosfTable[(q>>1)&1]
		if n&1 != 0 {
			return sinfPoly(r*sincosfSign[q&3], r*r, p)
		}
		return cosfPoly(r*r, p)
	default:
		return sincosfInvalid(x)
	}
}

// Powf returns glibc's powf bits (x86-64, glibc 2.28 and later, the FMA
// variant its ifunc picks on AVX2 CPUs): llama.cpp's rope frequency ratio
// is powf(freq_base, -2.0f/n_dims), and glibc's powf is not correctly
// rounded. The algorithm is glibc's (ARM optimized-routines): log2(x) from
// a 16-entry table and a polynomial in double, times y, then 2^(y*log2 x)
// from a 32-entry table and a cubic, rounded once. The math.FMA calls are
// the contractions of glibc's compiled code; the float64 conversions keep
// the Go compiler from fusing others. NaN results carry glibc's payloads on
// amd64, elsewhere only their NaN-ness. libm_test.go says how this was
// derived.
func Powf(x, y float32) float32 {
	var signBias uint32
	ix := math.Float32bits(x)
	iy := math.Float32bits(y)
	if ix-0x00800000 >= 0x7f800000-0x00800000 || powfZeroInfNaN(iy) {
		// x < 0x1p-126 or x is negative, Inf or NaN, or y is 0, Inf or NaN.
		if powfZeroInfNaN(iy) {
			switch {
			case 2*iy == 0:
				if powfIsSignaling(ix) {
					return x + y
				}
				return 1
			case ix == 0x3f800000:
				if powfIsSignaling(iy) {
					return x + y
				}
				return 1
			case 2*ix > 2*0x7f800000 || 2*iy > 2*0x7f800000:
				return x + y
			case 2*ix == 2*0x3f800000:
				return 1
			case (2*ix < 2*0x3f800000) == (iy&0x80000000 == 0):
				return 0 // |x| < 1 and y = +Inf, or |x| > 1 and y = -Inf
			}
			return y * y
		}
		if powfZeroInfNaN(ix) {
			x2 := x * x
			if ix&0x80000000 != 0 && powfCheckInt(iy) == 1 {
				x2 = -x2
			}
			if iy&0x80000000 != 0 {
				return 1 / x2 // ±Inf for x = ±0
			}
			return x2
		}
		// x and y are non-zero finite.
		if ix&0x80000000 != 0 {
			switch powfCheckInt(iy) {
			case 0:
				return sincosfInvalid(x)
			case 1:
				signBias = powfSignBias
			}
			ix &= 0x7fffffff
		}
		if ix < 0x00800000 {
			// Normalize a subnormal x so that its exponent becomes negative.
			ix = math.Float32bits(x*0x1p23) & 0x7fffffff
			ix -= 23 << 23
		}
	}
	ylogx := float64(float64(y) * powfLog2(ix))
	if (math.Float64bits(ylogx)>>47)&0xffff >= 0x80bf { // |y*log2(x)| >= 126
		neg := signBias != 0
		switch {
		case ylogx > 0x1.fffffffd1d571p+6:
			return float32(math.Copysign(math.Inf(1), powfSign(neg)))
		case ylogx <= -150:
			return float32(math.Copysign(0, powfSign(neg)))
		case ylogx < -149:
			// glibc's __math_may_uflowf: 0x1.4p-75f squared, i.e. 0x1p-149.
			return float32(math.Copysign(0x1p-149, powfSign(neg)))
		}
		// Between 0x1.fffffffa3aae2p+6 and 0x1.fffffffd1d571p+6 glibc
		// overflows only if 1+0x1p-25f rounds up, which it does not in the
		// default rounding mode, so it falls through as here.
	}
	return float32(powfExp2(ylogx, signBias))
}

func powfSign(neg bool) float64 {
	if neg {
		return -1
	}
	return 1
}

// powfSignBias, added to the exponent of 2^k, sets the sign of the result.
const powfSignBias = 1 << (5 + 11)

// powfZeroInfNaN reports whether the float with bits ix is ±0, ±Inf or NaN.
func powfZeroInfNaN(ix uint32) bool { return 2*ix-1 >= 2*0x7f800000-1 }

// powfIsSignaling reports whether the float with bits ix is a signaling NaN.
func powfIsSignaling(ix uint32) bool { return 2*(ix^0x00400000) > 2*0x7fc00000 }

// powfCheckInt returns 0 if the finite non-zero float with bits iy is not an
// integer, 1 if it is an odd integer and 2 if it is an even integer.
func powfCheckInt(iy uint32) int {
	e := iy >> 23 & 0xff
	if e < 0x7f {
		return 0
	}
	if e > 0x7f+23 {
		return 2
	}
	if iy&(1<<(0x7f+23-e)-1) != 0 {
		return 0
	}
	if iy&(1<<(0x7f+23-e)) != 0 {
		return 1
	}
	return 2
}

// powfLog2Table holds, for 16 subintervals of [0x3f330000, 2*0x3f330000) as
// float bits, 1/c and log2(c) for c near the subinterval's center.
var powfLog2Table = [16]struct{ invc, logc float64 }{
	{0x1.661ec79f8f3bep+0, -0x1.efec65b963019p-2},
	{0x1.571ed4aaf883dp+0, -0x1.b0b6832d4fca4p-2},
	{0x1.49539f0f010bp+0, -0x1.7418b0a1fb77bp-2},
	{0x1.3c995b0b80385p+0, -0x1.39de91a6dcf7bp-2},
	{0x1.30d190c8864a5p+0, -0x1.01d9bf3f2b631p-2},
	{0x1.25e227b0b8eap+0, -0x1.97c1d1b3b7afp-3},
	{0x1.1bb4a4a1a343fp+0, -0x1.2f9e393af3c9fp-3},
	{0x1.12358f08ae5bap+0, -0x1.960cbbf788d5cp-4},
	{0x1.0953f419900a7p+0, -0x1.a6f9db6475fcep-5},
	{0x1p+0, 0x0p+0},
	{0x1.e608cfd9a47acp-1, 0x1.338ca9f24f53dp-4},
	{0x1.ca4b31f026aap-1, 0x1.476a9543891bap-3},
	{0x1.b2036576afce6p-1, 0x1.e840b4ac4e4d2p-3},
	{0x1.9c2d163a1aa2dp-1, 0x1.40645f0c6651cp-2},
	{0x1.886e6037841edp-1, 0x1.88e9c2c1b9ff8p-2},
	{0x1.767dcf5534862p-1, 0x1.ce0a44eb17bccp-2},
}

// powfLog2Poly approximates log1p(r)/ln2 (coefficients of r^5 .. r^1).
var powfLog2Poly = [5]float64{
	0x1.27616c9496e0bp-2, -0x1.71969a075c67ap-2,
	0x1.ec70a6ca7baddp-2, -0x1.7154748bef6c8p-1,
	0x1.71547652ab82bp0,
}

// powfLog2 returns log2 of the float with bits ix (a subnormal having been
// normalized so that its biased exponent is negative).
func powfLog2(ix uint32) float64 {
	// x = 2^k z with z in [0x3f330000, 2*0x3f330000) as bits, exactly.
	tmp := ix - 0x3f330000
	i := (tmp >> (23 - 4)) % 16
	top := tmp & 0xff800000
	iz := ix - top
	k := int32(top) >> 23
	invc, logc := powfLog2Table[i].invc, powfLog2Table[i].logc
	z := float64(math.Float32frombits(iz))

	// log2(x) = log1p(z/c-1)/ln2 + log2(c) + k
	r := math.FMA(z, invc, -1)
	y0 := logc + float64(k)
	a := &powfLog2Poly
	r2 := r * r
	y := math.FMA(r, a[0], a[1])
	p := math.FMA(r, a[2], a[3])
	r4 := r2 * r2
	q := math.FMA(r, a[4], y0)
	q = math.FMA(r2, p, q)
	return math.FMA(y, r4, q)
}

// exp2fTable[i] is the bits of 2^(i/32) minus i<<47, so that adding k<<47
// to entry k%32 gives 2^(k/32).
var exp2fTable = [32]uint64{
	0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
	0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
	0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
	0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
	0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
	0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
	0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
	0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
}

const (
	exp2fShift = 0x1.8p+52 / 32 // rounds x to a multiple of 1/32
	exp2fC0    = 0x1.c6af84b912394p-5
	exp2fC1    = 0x1.ebfce50fac4f3p-3
	exp2fC2    = 0x1.62e42ff0c52d6p-1
)

// powfExp2 returns 2^xd for xd in [-150, 128], negated if signBias is set.
func powfExp2(xd float64, signBias uint32) float64 {
	// xd = k/32 + r with r in [-1/64, 1/64].
	kd := float64(xd + exp2fShift)
	ki := math.Float64bits(kd)
	kd -= exp2fShift
	r := xd - kd

	// 2^xd = 2^(k/32) * 2^r ~= s * (C0 r^3 + C1 r^2 + C2 r + 1)
	t := exp2fTable[ki%32]
	t += (ki + uint64(signBias)) << (52 - 5)
	s := math.Float64frombits(t)
	z := math.FMA(r, exp2fC0, exp2fC1)
	r2 := r * r
	y := math.FMA(r, exp2fC2, 1)
	y = math.FMA(z, r2, y)
	return y * s
}

// Expf returns glibc's expf bits (x86-64, glibc 2.28 and later, the FMA
// variant): llama.cpp's SiLU takes the last n%16 values of a row through
// the C library's expf, which is not correctly rounded. The algorithm is
// glibc's (ARM optimized-routines), sharing Powf's exp2 table and cubic
// scaled by 1/32: x*32/ln2 = k + r, fused so that x*32/ln2 is never
// rounded, then e^x = 2^(k/32) * 2^(r/32), rounded once. Special cases are
// glibc's: NaN stays NaN (payload kept on amd64), +Inf and x > 0x1.62e42ep6
// give +Inf, -Inf and x < -0x1.9fe368p6 give 0, and x < -0x1.9d1d9ep6 the
// smallest subnormal 0x1p-149. libm_test.go says how this was derived.
func Expf(x float32) float32 {
	xi := math.Float32bits(x)
	if (xi>>20)&0x7ff >= expfTop88 {
		// |x| >= 88 or x is NaN.
		switch {
		case xi == 0xff800000: // -Inf
			return 0
		case (xi>>20)&0x7ff >= top12NonFin:
			return x + x
		case x > 0x1.62e42ep6: // log(0x1p128)
			return float32(math.Inf(1))
		case x < -0x1.9fe368p6: // log(0x1p-150)
			return 0
		case x < -0x1.9d1d9ep6: // log(0x1p-149)
			return 0x1p-149
		}
	}
	xd := float64(x)
	// x*32/ln2 = k + r with r in [-1/2, 1/2]; adding SHIFT rounds to an
	// integer (ties to even) and leaves k in kd's low mantissa bits.
	kd := math.FMA(expfInvLn2N, xd, expfShift)
	ki := math.Float64bits(kd)
	kd -= expfShift
	r := math.FMA(expfInvLn2N, xd, -kd)

	// e^x = 2^(k/32) * 2^(r/32) ~= s * (C0 r^3 + C1 r^2 + C2 r + 1)
	t := exp2fTable[ki%32] + ki<<(52-5)
	s := math.Float64frombits(t)
	z := math.FMA(r, expfC0, expfC1)
	r2 := r * r
	y := math.FMA(r, expfC2, 1)
	y = math.FMA(z, r2, y)
	return float32(y * s)
}

// glibc's expf constants: exp2f's polynomial scaled for r in units of 1/32,
// and a SHIFT that rounds to integers rather than to multiples of 1/32.
const (
	expfTop88   = 0x42b                     // abstop12(88)
	expfInvLn2N = 0x1.71547652b82fep+0 * 32 // 32/ln2
	expfShift   = 0x1.8p+52
	expfC0      = exp2fC0 / (32 * 32 * 32)
	expfC1      = exp2fC1 / (32 * 32)
	expfC2      = exp2fC2 / 32
)
