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
	mean := sum / float64(len(x))
	scale := 1 / float32(math.Sqrt(float64(float32(mean+float64(eps)))))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// RopeAngles fills cos and sin (len dims/2) with the rotation of each
// dimension pair at position pos, computing the angle by repeated
// multiplication in float32 as ggml does.
func RopeAngles(cos, sin []float32, pos int, dims int, base, freqScale float32, freqFactors []float32) {
	thetaScale := float32(math.Pow(float64(base), float64(float32(-2.0)/float32(dims))))
	theta := float32(pos)
	for i := range cos {
		t := theta
		if freqFactors != nil {
			t /= freqFactors[i]
		}
		t *= freqScale
		cos[i] = float32(math.Cos(float64(t)))
		sin[i] = float32(math.Sin(float64(t)))
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
		x[a] = x0*cos[i] - x1*sin[i]
		x[b] = x0*sin[i] + x1*cos[i]
	}
}

// Softmax sets x = softmax(x*scale) in place, with the exponentials summed in
// float64 as ggml does.
func Softmax(x []float32, scale float32) {
	maxv := float32(math.Inf(-1))
	for i := range x {
		x[i] *= scale
		maxv = max(maxv, x[i])
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - maxv)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// SiLU is x * sigmoid(x).
func SiLU(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}

// SwiGLU sets dst = silu(gate) * up. dst may alias gate or up.
func SwiGLU(dst, gate, up []float32) {
	for i := range dst {
		dst[i] = SiLU(gate[i]) * up[i]
	}
}
