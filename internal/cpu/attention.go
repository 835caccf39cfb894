package cpu

import (
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

// Attend follows llama.cpp's attention without flash attention: scores
// K·q, softmax(scale·scores) over positions [0, p], then the weighted sum of
// V. With an F16 cache ggml multiplies in F16, so q and the probabilities are
// rounded to F16 first, as here.
func (b *Backend) Attend(dst, q engine.Tensor, cache engine.KVCache, layer, pos int, a *engine.Attention) {
	c := cache.(*kvCache)
	group := a.Heads / a.KVHeads
	hd := a.HeadDim
	b.pool.parallelFor(q.Rows*a.Heads, 1, func(lo, hi int) {
		scores := make([]float32, pos+q.Rows)
		qh := make([]float32, hd)
		acc := make([]float64, hd)
		for job := lo; job < hi; job++ {
			r, h := job/a.Heads, job%a.Heads
			n := pos + r + 1 // causal: this row sees positions 0..pos+r
			kvOff := h / group * hd
			copy(qh, row(q, r)[h*hd:(h+1)*hd])
			if c.f16 {
				roundF16(qh)
			}
			for t := range n {
				at := t*c.kvDim + kvOff
				if c.f16 {
					scores[t] = dotF16(c.k16[layer][at:at+hd], qh)
				} else {
					scores[t] = Dot32(c.k32[layer][at:at+hd], qh)
				}
			}
			p := scores[:n]
			Softmax(p, a.Scale)
			if c.f16 {
				roundF16(p)
			}
			clear(acc)
			for t, pt := range p {
				at := t*c.kvDim + kvOff
				if c.f16 {
					for d, v := range c.v16[layer][at : at+hd] {
						acc[d] += float64(gguf.FP16ToFP32(v) * pt)
					}
				} else {
					for d, v := range c.v32[layer][at : at+hd] {
						acc[d] += float64(v * pt)
					}
				}
			}
			out := row(dst, r)[h*hd : (h+1)*hd]
			for d := range out {
				out[d] = float32(acc[d])
			}
		}
	})
}

func roundF16(x []float32) {
	for i, v := range x {
		x[i] = gguf.FP16ToFP32(gguf.FP32ToFP16(v))
	}
}

func dotF16(k []uint16, q []float32) float32 {
	var s float64
	for i, v := range k {
		s += float64(gguf.FP16ToFP32(v) * q[i])
	}
	return float32(s)
}
