package cpu

import "github.com/quant-llm/quant/internal/engine"

// Attend follows llama.cpp's attention without flash attention: scores K·q,
// softmax(scale·scores) over positions [0, p], then each output dimension
// as the dot product of the probabilities with that dimension's row of the
// transposed V. Both products run in the cache's type, so with an F16 cache
// q and the probabilities are rounded to F16 first, as ggml does.
func (b *Backend) Attend(dst, q engine.Tensor, cache engine.KVCache, layer, pos int, a *engine.Attention) {
	c := cache.(*kvCache)
	group := a.Heads / a.KVHeads
	hd := a.HeadDim
	b.pool.parallelFor(q.Rows*a.Heads, 1, func(lo, hi int) {
		scores := make([]float32, pos+q.Rows)
		qBytes := make([]byte, 0, hd*c.elem)
		pBytes := make([]byte, 0, len(scores)*c.elem)
		for job := lo; job < hi; job++ {
			r, h := job/a.Heads, job%a.Heads
			n := pos + r + 1 // causal: this row sees positions 0..pos+r
			kvOff := h / group * hd
			qh := QuantizeRow(c.typ, row(q, r)[h*hd:(h+1)*hd], qBytes[:0])
			for t := range n {
				at := (t*c.kvDim + kvOff) * c.elem
				scores[t] = Dot(c.typ, hd, c.k[layer][at:at+hd*c.elem], qh)
			}
			p := scores[:n]
			Softmax(p, a.Scale)
			pb := QuantizeRow(c.typ, p, pBytes[:0])
			out := row(dst, r)[h*hd : (h+1)*hd]
			for d := range out {
				at := (kvOff + d) * c.ctx * c.elem
				out[d] = Dot(c.typ, n, c.v[layer][at:at+n*c.elem], pb)
			}
		}
	})
}
