package engine

import (
	"fmt"

	"github.com/quant-llm/quant/internal/gguf"
)

// llamaTraits says how a llama-family architecture differs from llama.
type llamaTraits struct {
	neox    bool // rotate pairs (i, i+dims/2) instead of (2i, 2i+1)
	qkNorm  bool // RMS-norm each head of Q and K (qwen3)
	qkvBias bool // biases on Q, K and V (qwen2)
}

func llamaFamily(t llamaTraits) architecture {
	return architecture{
		configure: func(f *gguf.File, c *Config) error {
			c.Rope.NeoX = t.neox
			return nil
		},
		ffnNorm: "ffn_norm",
		mixer: func(b *binder, c *Config, i int) Mixer {
			p := fmt.Sprintf("blk.%d.", i)
			qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
			a := &attention{cache: b.nextAttention()}
			a.Q = b.need(p+"attn_q.weight", qDim, c.Embd)
			a.K = b.need(p+"attn_k.weight", kvDim, c.Embd)
			a.V = b.need(p+"attn_v.weight", kvDim, c.Embd)
			a.O = b.need(p+"attn_output.weight", c.Embd, qDim)
			if t.qkvBias {
				a.QBias = b.need(p+"attn_q.bias", 1, qDim)
				a.KBias = b.need(p+"attn_k.bias", 1, kvDim)
				a.VBias = b.need(p+"attn_v.bias", 1, kvDim)
			}
			if t.qkNorm {
				a.QNorm = b.need(p+"attn_q_norm.weight", 1, c.HeadDim)
				a.KNorm = b.need(p+"attn_k_norm.weight", 1, c.HeadDim)
				a.norm = &HeadNorm{Q: a.QNorm, K: a.KNorm, Eps: c.NormEps}
			}
			return a
		},
	}
}

// attention is llama's multi-head attention with grouped KV heads, and the
// optional Q/K/V biases (qwen2) and per-head Q/K norms (qwen3) of its
// relatives.
type attention struct {
	Q, K, V, O          *Weight
	QBias, KBias, VBias *Weight
	QNorm, KNorm        *Weight
	norm                *HeadNorm // of QNorm and KNorm, when set
	cache               int       // this layer's index in the KV cache
}

func (l *attention) Kind() string { return "attention" }

func (l *attention) weights() []WeightUse {
	return append(uses(RoleMatMul, l.Q, l.K, l.V, l.O),
		uses(RoleVector, l.QBias, l.KBias, l.VBias, l.QNorm, l.KNorm)...)
}

// forward: x += O · attend(rope(Q·h), rope(K·h), V·h).
func (l *attention) forward(r *Runner, a *activations, pos int) {
	b := r.b
	b.QKV(a.q, a.k, a.v, l.Q, l.K, l.V, a.h)
	if l.QBias != nil {
		b.AddBias(a.q, l.QBias)
		b.AddBias(a.k, l.KBias)
		b.AddBias(a.v, l.VBias)
	}
	attendRotated(r, a, l.cache, pos, l.norm)
	b.MatMulAdd(a.x, l.O, a.att)
}

// attendRotated is the core both attention kinds share: normalise (when n
// is set) and rotate the heads of a.q and a.k, append a.k and a.v to the
// layer's cache entry, attend into a.att.
func attendRotated(r *Runner, a *activations, cache, pos int, n *HeadNorm) {
	b, c := r.b, &r.m.Config
	b.RoPEStoreKV(r.cache, cache, a.q, a.k, a.v, pos, &r.attn, &c.Rope, n)
	b.Attend(a.att, a.q, r.cache, cache, pos, &r.attn)
}
