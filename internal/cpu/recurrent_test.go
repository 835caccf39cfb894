package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
)

// TestGatedDeltaRule checks the delta rule, over several tokens, against
// the same recurrence in float64, for state sizes below, at and past the
// 64-value steps of ggml's order (and the 8-lane assembly).
func TestGatedDeltaRule(t *testing.T) {
	for _, c := range []struct{ nk, nv, dim, rows int }{{1, 1, 16, 3}, {2, 4, 72, 5}, {3, 3, 128, 4}, {2, 6, 40, 2}} {
		d := &engine.DeltaNet{KHeads: c.nk, VHeads: c.nv, StateDim: c.dim, Eps: 1e-6}
		width := (2*c.nk + c.nv) * c.dim
		r := rand.New(rand.NewPCG(uint64(c.dim), 7))
		x := randVec(r, c.rows*width, 1)
		beta, alpha := randVec(r, c.rows*c.nv, 2), randVec(r, c.rows*c.nv, 2)
		a, dt := randVec(r, c.nv, 1), randVec(r, c.nv, 1)
		for i := range a {
			a[i] = -a[i] * a[i]
		}
		state := randVec(r, c.nv*c.dim*c.dim, 0.1)
		want := make([]float64, len(state))
		for i, v := range state {
			want[i] = float64(v)
		}
		dst := make([]float32, c.rows*c.nv*c.dim)
		GatedDeltaRule(dst, x, beta, alpha, state, a, dt, d)

		norm := func(v []float32) []float64 {
			var s float64
			for _, x := range v {
				s += float64(x) * float64(x)
			}
			out := make([]float64, len(v))
			for i, x := range v {
				out[i] = float64(x) / max(math.Sqrt(s), 1e-6)
			}
			return out
		}
		var maxErr float64
		for row := range c.rows {
			xr := x[row*width:]
			for h := range c.nv {
				kh := h % c.nk
				q, k := norm(xr[kh*c.dim:(kh+1)*c.dim]), norm(xr[(c.nk+kh)*c.dim:(c.nk+kh+1)*c.dim])
				v := xr[(2*c.nk+h)*c.dim:]
				b := 1 / (1 + math.Exp(-float64(beta[row*c.nv+h])))
				sp := math.Log1p(math.Exp(float64(alpha[row*c.nv+h] + dt[h])))
				decay := math.Exp(float64(a[h]) * sp)
				s := want[h*c.dim*c.dim:]
				for j := range c.dim {
					col := s[j*c.dim : (j+1)*c.dim]
					var kS, qS float64
					for i := range col {
						col[i] *= decay
						kS += col[i] * k[i]
					}
					delta := b * (float64(v[j]) - kS)
					for i := range col {
						col[i] += k[i] * delta
						qS += col[i] * q[i]
					}
					got := float64(dst[(row*c.nv+h)*c.dim+j])
					maxErr = max(maxErr, math.Abs(got-qS/math.Sqrt(float64(c.dim))))
				}
			}
		}
		for i := range want {
			maxErr = max(maxErr, math.Abs(want[i]-float64(state[i])))
		}
		if maxErr > 1e-5 {
			t.Errorf("%+v: outputs and state differ from float64 by up to %.3g", c, maxErr)
		}
	}
}
