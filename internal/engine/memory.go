package engine

import "github.com/quant-llm/quant/internal/gguf"

// Memory is what NewRunner allocates for a model and options, in bytes
// (float64, so absurd contexts do not overflow). The weights are read from
// the mapped file and not counted.
type Memory struct {
	// KV is the KV cache, which grows with the context.
	KV float64
	// Fixed is everything else: activations, logits, the recurrent state.
	Fixed float64
	// PerPosition is what each position of the context costs: the KV
	// cache and the per-worker attention scratch rows.
	PerPosition float64
}

// Total is the whole allocation.
func (m Memory) Total() float64 { return m.Fixed + m.KV }

// MaxContext is the largest context that fits in avail bytes with these
// options (0 when not even the fixed part fits).
func (m Memory) MaxContext(avail float64) int {
	if m.PerPosition <= 0 || avail <= m.Fixed {
		return 0
	}
	return int(min((avail-m.Fixed)/m.PerPosition, 1<<40))
}

// MemoryNeeded estimates NewRunner's allocations for m with opts on a
// backend using threads workers (attention keeps a scratch row of the
// context per worker). It errs on the generous side.
func MemoryNeeded(m *Model, opts Options, threads int) Memory {
	c := &m.Config
	ctx := float64(max(opts.Context, 0))
	batch := float64(max(min(opts.Batch, opts.Context), 1))
	kvDim := float64(c.KVHeads * c.HeadDim)
	k, v := KVCacheBytes(c, 1, opts.CacheK, opts.CacheV)
	perPos := k + v
	// Attention scratch without flash attention: a row of scores and one
	// of probabilities (at most a K block's bytes each) per worker.
	perPos += float64(max(threads, 1)) * (4 + 4)

	// Activations per row of a batch (an upper bound over the mixer kinds).
	q := float64(c.Heads * c.HeadDim)
	row := 2*float64(c.Embd) + 2*float64(c.FFN) + 2*q + 2*kvDim + 3*q
	if d := &c.DeltaNet; d.Channels > 0 {
		row += 2*float64(d.Channels) + 2*float64(d.VHeads*d.StateDim) + 2*float64(d.VHeads)
	}
	logitRows := 1.0
	if opts.AllLogits {
		logitRows = batch
	}
	fixed := 4*row*batch + 2*4*logitRows*float64(c.Vocab)
	// A quantized copy of a batch of activations for the matmul kernels.
	fixed += batch * float64(max(c.Embd, c.FFN)) * 4
	fixed += RecurrentStateBytes(c)
	return Memory{KV: perPos * ctx, Fixed: fixed, PerPosition: perPos}
}

// KVCacheBytes is the size of the keys and of the values of a KV cache of
// positions positions for c, stored in ggml's block layouts of kType and
// vType as every backend stores them (float64, as in Memory).
func KVCacheBytes(c *Config, positions int, kType, vType gguf.GGMLType) (k, v float64) {
	values := float64(c.AttentionLayers()) * float64(max(positions, 0)) * float64(c.KVHeads*c.HeadDim)
	bytesPer := func(t gguf.GGMLType) float64 {
		if !t.Known() {
			return 4
		}
		return float64(t.BlockBytes()) / float64(t.BlockElems())
	}
	return values * bytesPer(kType), values * bytesPer(vType)
}

// RecurrentStateBytes is the size of the F32 state the recurrent layers of c
// carry from token to token (0 for models without any): per layer the last
// ConvKernel-1 convolution inputs and a StateDim x StateDim matrix per
// value head.
func RecurrentStateBytes(c *Config) float64 {
	d := &c.DeltaNet
	if d.Channels == 0 {
		return 0
	}
	layers := float64(c.Layers - c.AttentionLayers())
	return 4 * layers * (float64(d.Channels*(d.ConvKernel-1)) + float64(d.VHeads*d.StateDim*d.StateDim))
}

// DecodeBytes is what one decode step at position pos reads from memory:
// every weight once (of the token embedding table one row, unless the
// output head shares it), the keys and values of positions 0..pos, and the
// recurrent state, read and written.
func DecodeBytes(m *Model, pos int, opts Options) float64 {
	var weights float64
	for i := range m.File.Tensors {
		weights += float64(m.File.Tensors[i].Size)
	}
	if m.Output != m.TokenEmbd {
		weights -= float64(len(m.TokenEmbd.Data))
		weights += float64(len(m.TokenEmbd.Data) / m.TokenEmbd.Rows)
	}
	k, v := KVCacheBytes(&m.Config, pos+1, opts.CacheK, opts.CacheV)
	return weights + k + v + 2*RecurrentStateBytes(&m.Config)
}
