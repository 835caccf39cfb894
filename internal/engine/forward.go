package engine

import (
	"fmt"
	"math"

	"github.com/quant-llm/quant/internal/gguf"
)

// Options configures a Runner.
type Options struct {
	// Context is the number of positions the KV cache holds.
	Context int
	// Batch is the most tokens one Forward call processes.
	Batch int
	// CacheK and CacheV are the KV cache's types (llama.cpp's
	// --cache-type-k/-v); the zero value is F32.
	CacheK, CacheV gguf.GGMLType
	// FlashAttention attends with flash attention (llama.cpp's -fa on)
	// also where the cache types do not require it.
	FlashAttention bool
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
	// state is the recurrent layers' state (nil without such layers);
	// it holds the sequence up to statePos.
	state    RecurrentState
	statePos int

	act activations
	// pass holds the views of act a forward pass uses: here rather than
	// on encode's stack, which the mixers' interface call would move to
	// the heap every pass.
	pass       activations
	logits     Tensor
	attn       Attention
	logitsHost []float32
}

// activations are the forward pass's scratch tensors, one row per token of
// a batch. Those a model's layers do not use stay empty.
type activations struct {
	x, h Tensor // the residual stream; a block's normalised input
	gate Tensor // feed-forward: silu(Gate·h) * Up·h
	// attention: projections and output; gated attention's Q projection
	// (queries and gates interleaved per head) and gates.
	q, k, v, att   Tensor
	qGate, attGate Tensor
	// DeltaNet: projections, convolved q/k/v, the recurrence's output.
	qkv, z, beta, alpha, conv, delta Tensor
}

// rows returns the views of the first n rows.
func (a *activations) rows(n int) activations {
	v := *a
	for _, t := range []*Tensor{&v.x, &v.h, &v.gate, &v.q, &v.k, &v.v, &v.att, &v.qGate, &v.attGate,
		&v.qkv, &v.z, &v.beta, &v.alpha, &v.conv, &v.delta} {
		if t.Buf != nil {
			*t = t.RowRange(0, n)
		}
	}
	return v
}

// NewRunner checks every weight against the backend and allocates the
// activations, the KV cache and the recurrent state.
func NewRunner(m *Model, b Backend, opts Options) (*Runner, error) {
	if opts.Context <= 0 || opts.Batch <= 0 {
		return nil, fmt.Errorf("context %d and batch %d must be positive", opts.Context, opts.Batch)
	}
	opts.Batch = min(opts.Batch, opts.Context)
	for _, u := range m.Weights() {
		if err := b.PrepareWeight(u.W, u.Role); err != nil {
			return nil, fmt.Errorf("%s backend: tensor %s (%s): %w", b.Name(), u.W.Name, u.W.Type, err)
		}
	}
	r := &Runner{m: m, b: b, opts: opts}
	c := &m.Config
	r.attn = Attention{Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		Scale: float32(1 / math.Sqrt(float64(c.HeadDim))), Flash: opts.FlashAttention}
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
	n, a := opts.Batch, &r.act
	alloc(&a.x, n, c.Embd)
	alloc(&a.h, n, c.Embd)
	alloc(&a.gate, n, c.FFN)
	kinds := map[string]bool{}
	for _, l := range m.Layers {
		kinds[l.Mixer.Kind()] = true
	}
	if kinds["attention"] || kinds["gated attention"] {
		alloc(&a.q, n, c.Heads*c.HeadDim)
		alloc(&a.k, n, c.KVHeads*c.HeadDim)
		alloc(&a.v, n, c.KVHeads*c.HeadDim)
		alloc(&a.att, n, c.Heads*c.HeadDim)
	}
	if kinds["gated attention"] {
		alloc(&a.qGate, n, 2*c.Heads*c.HeadDim)
		alloc(&a.attGate, n, c.Heads*c.HeadDim)
	}
	if d := &c.DeltaNet; kinds["gated deltanet"] {
		alloc(&a.qkv, n, d.Channels)
		alloc(&a.conv, n, d.Channels)
		alloc(&a.z, n, d.VHeads*d.StateDim)
		alloc(&a.beta, n, d.VHeads)
		alloc(&a.alpha, n, d.VHeads)
		alloc(&a.delta, n, d.VHeads*d.StateDim)
	}
	alloc(&r.logits, logitRows, c.Vocab)
	if err != nil {
		return nil, err
	}
	if layers := c.AttentionLayers(); layers > 0 {
		if r.cache, err = b.NewKVCache(layers, opts.Context, &r.attn, opts.CacheK, opts.CacheV); err != nil {
			return nil, err
		}
	}
	if layers := c.Layers - c.AttentionLayers(); layers > 0 {
		if r.state, err = b.NewRecurrentState(layers, &c.DeltaNet); err != nil {
			return nil, err
		}
	}
	r.logitsHost = make([]float32, logitRows*c.Vocab)
	return r, nil
}

// Recurrent reports whether the model carries a recurrent state, which
// holds only the latest position: such a runner can continue a sequence
// or start a new one (at position 0), but not go back within one.
func (r *Runner) Recurrent() bool { return r.state != nil }

// Options returns the runner's options.
func (r *Runner) Options() Options { return r.opts }

// Forward evaluates tokens at positions pos, pos+1, ... and returns the
// logits: of the last token, or of every token with Options.AllLogits. The
// slice is reused by the next call.
func (r *Runner) Forward(tokens []int32, pos int) ([]float32, error) {
	if err := r.begin(tokens, pos); err != nil {
		return nil, err
	}
	r.encode(tokens, pos)
	if err := r.b.Sync(); err != nil {
		return nil, err
	}
	rows := 1
	if r.opts.AllLogits {
		rows = len(tokens)
	}
	return r.readLogits(rows)
}

// begin checks a pass of tokens at pos and moves the recurrent state's
// position past it, resetting the state for a new sequence (at 0).
func (r *Runner) begin(tokens []int32, pos int) error {
	n := len(tokens)
	switch {
	case n == 0 || n > r.opts.Batch:
		return fmt.Errorf("batch of %d tokens (want 1..%d)", n, r.opts.Batch)
	case pos < 0 || pos+n > r.opts.Context:
		return fmt.Errorf("positions %d..%d exceed the context of %d", pos, pos+n-1, r.opts.Context)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= r.m.Vocab {
			return fmt.Errorf("token id %d is outside the vocabulary of %d", t, r.m.Vocab)
		}
	}
	if r.state != nil {
		switch pos {
		case 0:
			r.b.ResetState(r.state)
		case r.statePos:
		default:
			return fmt.Errorf("the recurrent state holds positions 0..%d: it cannot evaluate position %d", r.statePos-1, pos)
		}
		r.statePos = pos + n
	}
	return nil
}

// readLogits reads the first rows rows of logits of the last pass.
func (r *Runner) readLogits(rows int) ([]float32, error) {
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
	a := &r.pass
	*a = r.act.rows(n)

	b.Embed(a.x, m.TokenEmbd, tokens)
	for i := range m.Layers {
		l := &m.Layers[i]

		// Token mixing: x += mixer(norm(x)), the mixer's output projection
		// adding into x.
		b.RMSNorm(a.h, a.x, l.AttnNorm, m.NormEps)
		l.Mixer.forward(r, a, pos)
		if i == len(m.Layers)-1 && !r.opts.AllLogits {
			// Only the last token's logits are wanted: as llama.cpp does,
			// finish the last layer for that row alone.
			a.x, a.h, a.gate = a.x.RowRange(n-1, 1), a.h.RowRange(n-1, 1), a.gate.RowRange(0, 1)
		}

		// Feed-forward block: x += Down · (silu(Gate·h) * Up·h).
		b.RMSNorm(a.h, a.x, l.FFNNorm, m.NormEps)
		b.GateUp(a.gate, l.Gate, l.Up, a.h)
		b.MatMulAdd(a.x, l.Down, a.gate)
	}

	// Logits: of the rows left (every position, or the last).
	out := a.h.RowRange(0, a.x.Rows)
	b.RMSNorm(out, a.x, m.OutputNorm, m.NormEps)
	b.MatMul(r.logits.RowRange(0, a.x.Rows), m.Output, out)
}
