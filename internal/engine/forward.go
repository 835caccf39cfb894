package engine

import (
	"fmt"
	"math"
)

// Options configures a Runner.
type Options struct {
	// Context is the number of positions the KV cache holds.
	Context int
	// Batch is the most tokens one Forward call processes.
	Batch int
	// KVF32 keeps the KV cache in F32 instead of F16.
	KVF32 bool
	// AllLogits makes Forward compute logits for every token of a batch
	// (perplexity), not just the last (generation).
	AllLogits bool
}

// Runner evaluates a model on a backend. Every activation buffer is
// allocated once here; Forward only records operations on views of them.
type Runner struct {
	m     *Model
	b     Backend
	opts  Options
	cache KVCache

	x, h, q, k, v, att, gate, up, logits Tensor
	attn                                 Attention
	logitsHost                           []float32
}

// NewRunner checks every weight against the backend and allocates the
// activations and the KV cache.
func NewRunner(m *Model, b Backend, opts Options) (*Runner, error) {
	if opts.Context <= 0 || opts.Batch <= 0 {
		return nil, fmt.Errorf("context %d and batch %d must be positive", opts.Context, opts.Batch)
	}
	opts.Batch = min(opts.Batch, opts.Context)
	for _, u := range m.Weights() {
		if err := b.CheckWeight(u.W, u.Role); err != nil {
			return nil, fmt.Errorf("%s backend: tensor %s (%s): %w", b.Name(), u.W.Name, u.W.Type, err)
		}
	}
	r := &Runner{m: m, b: b, opts: opts}
	c := &m.Config
	r.attn = Attention{Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		Scale: float32(1 / math.Sqrt(float64(c.HeadDim)))}
	logitRows := 1
	if opts.AllLogits {
		logitRows = opts.Batch
	}
	var err error
	alloc := func(t *Tensor, rows, cols int) {
		if err == nil {
			*t, err = b.NewTensor(rows, cols)
		}
	}
	n := opts.Batch
	alloc(&r.x, n, c.Embd)
	alloc(&r.h, n, c.Embd)
	alloc(&r.q, n, c.Heads*c.HeadDim)
	alloc(&r.k, n, c.KVHeads*c.HeadDim)
	alloc(&r.v, n, c.KVHeads*c.HeadDim)
	alloc(&r.att, n, c.Heads*c.HeadDim)
	alloc(&r.gate, n, c.FFN)
	alloc(&r.up, n, c.FFN)
	alloc(&r.logits, logitRows, c.Vocab)
	if err != nil {
		return nil, err
	}
	if r.cache, err = b.NewKVCache(c.Layers, opts.Context, &r.attn, !opts.KVF32); err != nil {
		return nil, err
	}
	r.logitsHost = make([]float32, logitRows*c.Vocab)
	return r, nil
}

// Model returns the model being run.
func (r *Runner) Model() *Model { return r.m }

// Options returns the runner's options.
func (r *Runner) Options() Options { return r.opts }

// Forward evaluates tokens at positions pos, pos+1, ... and returns the
// logits: of the last token, or of every token with Options.AllLogits. The
// slice is reused by the next call.
func (r *Runner) Forward(tokens []int32, pos int) ([]float32, error) {
	n := len(tokens)
	switch {
	case n == 0 || n > r.opts.Batch:
		return nil, fmt.Errorf("batch of %d tokens (want 1..%d)", n, r.opts.Batch)
	case pos < 0 || pos+n > r.opts.Context:
		return nil, fmt.Errorf("positions %d..%d exceed the context of %d", pos, pos+n-1, r.opts.Context)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= r.m.Vocab {
			return nil, fmt.Errorf("token id %d is outside the vocabulary of %d", t, r.m.Vocab)
		}
	}
	r.encode(tokens, pos)
	if err := r.b.Sync(); err != nil {
		return nil, err
	}
	rows := 1
	if r.opts.AllLogits {
		rows = n
	}
	out := r.logitsHost[:rows*r.m.Vocab]
	if err := r.b.Read(r.logits.RowRange(0, rows), out); err != nil {
		return nil, err
	}
	return out, nil
}

// encode records one forward pass over n tokens: the whole model, top to
// bottom, as backend operations.
func (r *Runner) encode(tokens []int32, pos int) {
	b, m, n := r.b, r.m, len(tokens)
	x, h := r.x.RowRange(0, n), r.h.RowRange(0, n)
	q, k, v, att := r.q.RowRange(0, n), r.k.RowRange(0, n), r.v.RowRange(0, n), r.att.RowRange(0, n)
	gate, up := r.gate.RowRange(0, n), r.up.RowRange(0, n)

	b.Embed(x, m.TokenEmbd, tokens)
	for i := range m.Layers {
		l := &m.Layers[i]

		// Attention block: x += O · attend(rope(Q·h), rope(K·h), V·h).
		b.RMSNorm(h, x, l.AttnNorm, m.NormEps)
		b.MatMul(q, l.Q, h)
		b.MatMul(k, l.K, h)
		b.MatMul(v, l.V, h)
		if l.QBias != nil {
			b.AddBias(q, l.QBias)
			b.AddBias(k, l.KBias)
			b.AddBias(v, l.VBias)
		}
		if l.QNorm != nil {
			b.RMSNorm(q, q, l.QNorm, m.NormEps)
			b.RMSNorm(k, k, l.KNorm, m.NormEps)
		}
		b.RoPE(q, m.HeadDim, pos, &m.Rope)
		b.RoPE(k, m.HeadDim, pos, &m.Rope)
		b.StoreKV(r.cache, i, k, v, pos)
		b.Attend(att, q, r.cache, i, pos, &r.attn)
		b.MatMul(h, l.O, att)
		if i == len(m.Layers)-1 && !r.opts.AllLogits {
			// Only the last token's logits are wanted: as llama.cpp does,
			// finish the last layer for that row alone.
			x, h = x.RowRange(n-1, 1), h.RowRange(n-1, 1)
			gate, up = gate.RowRange(0, 1), up.RowRange(0, 1)
		}
		b.Add(x, h)

		// Feed-forward block: x += Down · (silu(Gate·h) * Up·h).
		b.RMSNorm(h, x, l.FFNNorm, m.NormEps)
		b.MatMul(gate, l.Gate, h)
		b.MatMul(up, l.Up, h)
		b.SwiGLU(gate, gate, up)
		b.MatMul(h, l.Down, gate)
		b.Add(x, h)
	}

	// Logits: of the rows left (every position, or the last).
	out := h.RowRange(0, x.Rows)
	b.RMSNorm(out, x, m.OutputNorm, m.NormEps)
	b.MatMul(r.logits.RowRange(0, x.Rows), m.Output, out)
}
