package cpu

import "math"

// The reference operations, on plain slices. Each follows the arithmetic
// of ggml's CPU code (which sums run in float64, where products round to
// float32) so that results match llama.cpp closely, and each is the oracle
// the Metal kernels are tested against.

// RMSNorm sets dst = x / sqrt(mean(x²) + eps) * w. dst may alias x.
func RMSNorm(dst, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// RopeAngles fills cos and sin (len dims/2) with the rotation of each
// dimension pair at position pos, computing the angle by repeated
// multiplication in float32 and its sine and cosine with the C library's
// functions, as ggml does.
func RopeAngles(cos, sin []float32, pos int, dims int, base, freqScale float32, freqFactors []float32) {
	thetaScale := Powf(base, float32(-2.0)/float32(dims))
	theta := float32(pos)
	for i := range cos {
		t := theta
		if freqFactors != nil {
			t /= freqFactors[i]
		}
		t *= freqScale
		cos[i] = Cosf(t)
		sin[i] = Sinf(t)
		theta *= thetaScale
	}
}

// Rope rotates one head in place: pair i is (x[2i], x[2i+1]), or
// (x[i], x[i+dims/2]) in NeoX order. Dimensions past len(cos)*2 are left as is.
func Rope(x, cos, sin []float32, neox bool) {
	half := len(cos)
	for i := range cos {
		a, b := 2*i, 2*i+1
		if neox {
			a, b = i, i+half
		}
		x0, x1 := x[a], x[b]
		// ggml's x0*cos - x1*sin and x0*sin + x1*cos, with the first
		// product fused into the addition as compilers contract them.
		x[a] = fma32(x0, cos[i], -(x1 * sin[i]))
		x[b] = fma32(x0, sin[i], x1*cos[i])
	}
}

// Softmax sets x = softmax(x*scale) in place as ggml does: the
// exponentials of each group of 16 are summed in float32 lanes, the groups
// in float64.
func Softmax(x []float32, scale float32) {
	maxv := float32(math.Inf(-1))
	for i := range x {
		x[i] *= scale
		maxv = max(maxv, x[i])
	}
	expRow(x, x, 1, maxv)
	var sum float64
	for i := 0; i < len(x); i += 16 {
		var group [16]float32
		copy(group[:], x[i:])
		sum += float64(pairwiseSum(group[:]))
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// VecExpf is e^x as ggml's vectorised ggml_v_expf computes it on AVX-512 (a
// polynomial after range reduction, scaled by 2^n), value for value, so
// that softmax and SwiGLU round as llama.cpp's do. ggml bounds its error by
// 1.46 ulp plus the final rounding.
func VecExpf(x float32) float32 {
	const shift = 0x1.8p23
	z := fma32(x, 0x1.715476p+0, shift)
	n := z - shift
	b := fma32(-n, 0x1.7f7d1cp-20, fma32(-n, 0x1.62e4p-1, x))
	if math.Abs(float64(n)) > 192 {
		if n <= 0 {
			return 0
		}
		return float32(math.Inf(1))
	}
	u := b * b
	j := fma32(fma32(fma32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fma32(0x1.555e66p-3, b, 0x1.fffdb6p-2)),
		u, fma32(0x1.ffffecp-1, b, 1))
	// j * 2^n is exact in float64; the conversion rounds once, also where
	// the result is subnormal, as VSCALEFPS does.
	return float32(float64(j) * math.Float64frombits(uint64(int64(n)+1023)<<52))
}

// expRow sets dst[i] = VecExpf(k*src[i] - sub); dst may be src.
func expRow(dst, src []float32, k, sub float32) {
	for i := expfRowSIMD(dst, src, k, sub); i < len(src); i++ {
		dst[i] = VecExpf(k*src[i] - sub)
	}
}

// SwiGLU sets dst = silu(gate) * up, silu(x) = x / (1 + exp(-x)), for one
// row as ggml does: with its vectorised exponential in groups of 16 from the row's start, and the C
// library's expf for the last len%16 values. dst may alias gate or up.
func SwiGLU(dst, gate, up []float32) {
	body := len(dst) &^ 15
	var e [64]float32 // exp(-gate) for a stretch: dst may alias gate
	for i := 0; i < body; i += len(e) {
		g := gate[i:min(i+len(e), body)]
		expRow(e[:len(g)], g, -1, 0)
		for j, v := range g {
			dst[i+j] = v / (1 + e[j]) * up[i+j]
		}
	}
	for i := body; i < len(dst); i++ {
		g := gate[i]
		dst[i] = g / (1 + Expf(-g)) * up[i]
	}
}
