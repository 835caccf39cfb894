// Package engine holds the model definitions, the forward pass (written once
// against the Backend interface), sampling, generation, perplexity and
// benchmarking. No code here branches on which backend runs it.
package engine

import (
	"fmt"

	"github.com/quant-llm/quant/internal/gguf"
)

// Buffer is backend-owned storage for F32 activations.
type Buffer any

// Tensor is a row-major F32 matrix view into a Buffer: one row per token of a
// batch. Off counts float32 elements from the start of the buffer.
type Tensor struct {
	Buf  Buffer
	Off  int
	Rows int
	Cols int
}

// Rows returns the n rows starting at row first.
func (t Tensor) RowRange(first, n int) Tensor {
	return Tensor{Buf: t.Buf, Off: t.Off + first*t.Cols, Rows: n, Cols: t.Cols}
}

// Weight is a model tensor read in place from the mapped file: Rows rows of
// Cols values of type Type (ggml's ne1 x ne0).
type Weight struct {
	Name string
	Type gguf.GGMLType
	Rows int
	Cols int
	// Data aliases the file mapping.
	Data []byte
	// FileOffset is where Data starts in the file, for backends that map the
	// file into their own address space (Metal).
	FileOffset uint64
}

// Role is how the forward pass uses a weight.
type Role int

const (
	// RoleEmbed: rows are looked up by token id.
	RoleEmbed Role = iota
	// RoleMatMul: multiplied with activations.
	RoleMatMul
	// RoleVector: a norm weight, bias or rope frequency factors (read as F32).
	RoleVector
)

func (r Role) String() string {
	return [...]string{"embedding", "matmul", "vector"}[r]
}

// KVCache is backend-owned storage for the keys and values of every layer.
type KVCache any

// RecurrentState is backend-owned storage for the state that recurrent
// (DeltaNet) layers carry from token to token: per layer, the last
// ConvKernel-1 inputs of the convolution and one StateDim x StateDim
// matrix per value head.
type RecurrentState any

// Rope describes rotary position embedding as llama.cpp applies it.
type Rope struct {
	// Dims is the number of leading dimensions of each head that rotate.
	Dims int
	Base float32
	// FreqScale divides positions (linear rope scaling); 1 when unscaled.
	FreqScale float32
	// NeoX pairs dimension i with i+Dims/2 instead of i with i+1.
	NeoX bool
	// FreqFactors, when set, divides each pair's frequency (Llama 3 scaling).
	FreqFactors *Weight
	// Sections, when any is non-zero, is interleaved multimodal RoPE
	// (Qwen3.5): pair i takes the position component of sector
	// i mod sum(Sections). Text has t = h = w = pos and e = 0, so a pair
	// whose sector falls to e does not rotate (see Rotates).
	Sections [4]int
}

// Rotates reports whether dimension pair i turns with the position. Only
// interleaved multimodal RoPE has pairs that do not: those whose sector
// reads the fourth (e) position component, which is 0 for text. The rule
// is ggml's: sector s = i mod sum(Sections) reads h when s%3 == 1 and
// s < 3*Sections[1], w when s%3 == 2 and s < 3*Sections[2], t when
// s%3 == 0 and s < 3*Sections[0], and e otherwise.
func (r *Rope) Rotates(i int) bool {
	sum := r.Sections[0] + r.Sections[1] + r.Sections[2] + r.Sections[3]
	if sum == 0 {
		return true
	}
	s := i % sum
	return s < 3*r.Sections[s%3]
}

// DeltaNet describes the Gated DeltaNet layers of a hybrid model (Qwen3.5):
// their convolution, their heads and the recurrent state each one carries.
type DeltaNet struct {
	// KHeads query/key heads and VHeads value heads of StateDim values
	// each; value head h reads key head h mod KHeads.
	KHeads, VHeads, StateDim int
	// ConvKernel taps of the causal depthwise convolution over the
	// q, k and v channels (Channels of them).
	ConvKernel, Channels int
	// Eps bounds the L2 norms of q and k from below.
	Eps float32
}

// Attention describes one layer's multi-head attention.
type Attention struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32
	// Flash asks for flash attention (an online softmax over positions),
	// as llama.cpp's -fa on; backends use it for quantized caches anyway.
	Flash bool
}

// HeadNorm is an RMSNorm of each head of the queries and of the keys
// (Qwen3's attn_q_norm and attn_k_norm), before their rotation.
type HeadNorm struct {
	Q, K *Weight
	Eps  float32
}

// CheckCacheType says why a KV cache of type t cannot hold these heads, or
// returns nil: each head must be whole blocks of t, as llama.cpp requires
// (stories260K's heads of 8 values cannot hold a 32-value block).
func (a *Attention) CheckCacheType(t gguf.GGMLType) error {
	if a.HeadDim%t.BlockElems() != 0 {
		return fmt.Errorf("a %s KV cache stores blocks of %d values: this model's heads have %d", t, t.BlockElems(), a.HeadDim)
	}
	return nil
}

// Backend executes the operations of a forward pass. Tensors passed to one
// call never alias unless the method says so. A backend may defer the work
// until Sync: results are only guaranteed visible to Read after Sync.
type Backend interface {
	Name() string
	// PrepareWeight readies w for its role, once at load (a backend may
	// convert it, e.g. vectors to F32), or says why the backend cannot use it.
	PrepareWeight(w *Weight, role Role) error
	// NewTensor allocates an activation matrix. Backends allocate at load
	// only; the forward pass uses views.
	NewTensor(rows, cols int) (Tensor, error)
	// NewKVCache allocates keys and values for layers x positions of
	// a.KVHeads*a.HeadDim values each, stored as kType and vType (ggml's
	// block layouts), and whatever scratch attention over it needs. A type
	// the backend cannot store is an error naming it.
	NewKVCache(layers, positions int, a *Attention, kType, vType gguf.GGMLType) (KVCache, error)

	// Embed copies row ids[i] of table into row i of dst.
	Embed(dst Tensor, table *Weight, ids []int32)
	// RMSNorm normalises each group of len(w) values of x (a row, or a head
	// when w is shorter than a row) and multiplies by w. dst may be x.
	RMSNorm(dst, x Tensor, w *Weight, eps float32)
	// MatMul sets dst[r][o] = sum_i w[o][i] * x[r][i].
	MatMul(dst Tensor, w *Weight, x Tensor)
	// AddBias adds the vector b to every row of x.
	AddBias(x Tensor, b *Weight)
	// QKV sets q = wq·x, k = wk·x and v = wv·x: the projections of one
	// input that start an attention layer, which a backend may compute in
	// one pass over x.
	QKV(q, k, v Tensor, wq, wk, wv *Weight, x Tensor)
	// RoPEStoreKV readies a layer's queries and keys and appends its keys
	// and values to the cache: each head of q and k (a.HeadDim values; row
	// r at position pos+r) is RMS-normalised with n's weights when n is
	// set, then rotated in place by r; then k and v are written into the
	// layer's cache.
	RoPEStoreKV(c KVCache, layer int, q, k, v Tensor, pos int, a *Attention, r *Rope, n *HeadNorm)
	// Attend computes causal attention of q (row r at position pos+r) over
	// cache positions [0, pos+r] into dst.
	Attend(dst, q Tensor, c KVCache, layer, pos int, a *Attention)
	// GateUp sets dst = silu(gate·x) * (up·x): the first half of a SwiGLU
	// feed-forward block.
	GateUp(dst Tensor, gate, up *Weight, x Tensor)
	// MatMulAdd sets dst[r][o] += sum_i w[o][i] * x[r][i]: a block's output
	// projection added into the residual stream.
	MatMulAdd(dst Tensor, w *Weight, x Tensor)

	// SplitHeads undoes a per-head interleaving: src rows hold, for each
	// head h, width values for a then width values for b; a and b get
	// them head after head.
	SplitHeads(a, b, src Tensor, width int)
	// SigmoidMul sets dst *= sigmoid(gate).
	SigmoidMul(dst, gate Tensor)

	// NewRecurrentState allocates the state of layers DeltaNet layers,
	// zeroed.
	NewRecurrentState(layers int, d *DeltaNet) (RecurrentState, error)
	// ResetState zeroes the state of every layer: a new sequence.
	ResetState(s RecurrentState)
	// ConvSiLU is the causal depthwise convolution of x (row r the input
	// at the r-th position after those in the state) with w (one row of
	// d.ConvKernel taps per channel, the last tap for the current input),
	// followed by SiLU, into dst. It shifts the rows of x into layer's
	// convolution state.
	ConvSiLU(dst, x Tensor, s RecurrentState, layer int, w *Weight, d *DeltaNet)
	// GatedDeltaRule runs the delta rule over the rows of x (the
	// convolved q, k and v: KHeads*StateDim, KHeads*StateDim and
	// VHeads*StateDim values) in order, updating layer's state, and
	// writes each row's output (VHeads*StateDim values) into dst. beta
	// and alpha are the raw per-value-head projections; the write
	// strength is sigmoid(beta) and the decay exp(a*softplus(alpha+dtBias)).
	// q and k heads are L2-normalised, outputs scaled by 1/sqrt(StateDim).
	GatedDeltaRule(dst, x, beta, alpha Tensor, s RecurrentState, layer int, a, dtBias *Weight, d *DeltaNet)
	// GatedRMSNorm sets dst = RMSNorm(x) * w * silu(z) over each group of
	// len(w) values. dst may be x.
	GatedRMSNorm(dst, x, z Tensor, w *Weight, eps float32)

	// Sync runs or waits for all recorded work.
	Sync() error
	// Read copies t into dst (len Rows*Cols); call after Sync.
	Read(t Tensor, dst []float32) error
	Close() error
}
