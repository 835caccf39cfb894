package cpu

import (
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

// Attend follows llama.cpp's attention without flash attention: scores K·q,
// softmax(scale·scores) over positions [0, p], then each output dimension
// as the dot product of the probabilities with that dimension's row of the
// transposed V. Both products run in the cache's type, so with an F16 cache
// q and the probabilities are rounded to F16 first, as ggml does, and both
// sum in the order ggml's matrix product would choose (see SumOrder).
func (b *Backend) Attend(dst, q engine.Tensor, cache engine.KVCache, layer, pos int, a *engine.Attention) {
	c := cache.(*kvCache)
	if c.flash {
		b.attendFlash(dst, q, c, layer, pos, a)
		return
	}
	typ, elem := c.kType, c.kRow/c.kvDim
	group := a.Heads / a.KVHeads
	hd := a.HeadDim
	// ggml computes K·q with q as a strided view, which keeps it out of
	// the sgemm kernels unless q is first converted to F16. Its cache has
	// a multiple of 256 cells in use, padded with masked (zero) ones.
	kqOrder := VecOrder
	if typ == gguf.TypeF16 {
		kqOrder = SumOrderFor(typ, kvPadding, hd, q.Rows)
	}
	vOrder := SumOrderFor(typ, hd, kvPadding, q.Rows)
	vStep := 64 // VecOrder's lanes
	if vOrder == GemmOrder {
		vStep = gemmStep(typ)
	}
	b.pool.parallelFor(q.Rows*a.Heads, 1, func(lo, hi int) {
		buf := c.scratch.Get().(*attnScratch)
		defer c.scratch.Put(buf)
		scores := buf.scores
		for job := lo; job < hi; job++ {
			r, h := job/a.Heads, job%a.Heads
			n := pos + r + 1 // causal: this row sees positions 0..pos+r
			kvOff := h / group * hd
			qh := QuantizeRow(typ, row(q, r)[h*hd:(h+1)*hd], buf.qBytes[:0])
			// Position t's K row is at (t*kvDim + kvOff) * elem.
			DotMatrix(typ, kqOrder, hd, c.k[layer][kvOff*elem:], c.kvDim*elem, n, qh, 0, 1, scores, 0)
			Softmax(scores[:n], a.Scale)
			// ggml sums over all its cells, the masked ones with zero
			// probability. Adding zeros up to the kernels' step changes
			// no sum and keeps the values in the same lanes.
			nv := min((n+vStep-1)/vStep*vStep, c.ctx)
			clear(scores[n:nv])
			pb := QuantizeRow(typ, scores[:nv], buf.prob[:0])
			// Dimension d's row of the transposed V is at (kvOff + d) * ctx * elem.
			DotMatrix(typ, vOrder, nv, c.v[layer][kvOff*c.ctx*elem:], c.ctx*elem, hd, pb, 0, 1, row(dst, r)[h*hd:], 0)
		}
	})
}

// kvPadding is the multiple of cells llama.cpp's KV cache attends over.
const kvPadding = 256
