package engine

import (
	"fmt"

	"github.com/quant-llm/quant/internal/gguf"
)

// qwen35 is Qwen3.5: a hybrid whose layers are Gated DeltaNet recurrences,
// except every full_attention_interval-th, which is gated attention. The
// hyper-parameters and their defaults are llama.cpp's.
var qwen35 = architecture{
	configure: configureQwen35,
	ffnNorm:   "post_attention_norm",
	mixer: func(b *binder, c *Config, i int) Mixer {
		if c.Recurrent[i] {
			return bindDeltaNet(b, c, i)
		}
		return bindGatedAttention(b, c, i)
	},
}

func configureQwen35(f *gguf.File, c *Config) error {
	arch := c.Arch
	// Rotation is NeoX-paired, with interleaved multimodal sections.
	c.Rope.NeoX = true
	sections, ok := f.Array(arch + ".rope.dimension_sections")
	secs, isInts := sections.Ints()
	switch {
	case !ok:
		return fmt.Errorf("missing metadata %s.rope.dimension_sections", arch)
	case !isInts || len(secs) != 4:
		return fmt.Errorf("metadata %s.rope.dimension_sections must be 4 integers", arch)
	}
	for i, s := range secs {
		if s < 0 || s > int64(c.Rope.Dims) {
			return fmt.Errorf("metadata %s.rope.dimension_sections[%d] = %d is out of range", arch, i, s)
		}
		c.Rope.Sections[i] = int(s)
	}

	k := keys{f: f}
	d := &c.DeltaNet
	d.ConvKernel = k.need("ssm.conv_kernel")
	d.StateDim = k.need("ssm.state_size")
	d.KHeads = k.need("ssm.group_count")
	d.VHeads = k.need("ssm.time_step_rank")
	inner := k.need("ssm.inner_size")
	if k.err != nil {
		return k.err
	}
	// llama.cpp takes the value heads' size to be the state size.
	if inner != d.StateDim*d.VHeads {
		return fmt.Errorf("metadata %s.ssm.inner_size = %d is not ssm.state_size (%d) x ssm.time_step_rank (%d)",
			arch, inner, d.StateDim, d.VHeads)
	}
	if d.VHeads%d.KHeads != 0 {
		return fmt.Errorf("metadata %s.ssm.time_step_rank = %d (value heads) is not a multiple of ssm.group_count = %d (key heads)",
			arch, d.VHeads, d.KHeads)
	}
	if d.ConvKernel < 2 || d.ConvKernel > 16 {
		return fmt.Errorf("metadata %s.ssm.conv_kernel = %d is out of range (2..16)", arch, d.ConvKernel)
	}
	d.Channels = (2*d.KHeads + d.VHeads) * d.StateDim
	d.Eps = c.NormEps

	c.Recurrent = make([]bool, c.Layers)
	if layers, ok := f.Array(arch + ".attention.recurrent_layers"); ok {
		flags, isInts := layers.Ints()
		if !isInts || len(flags) != c.Layers {
			return fmt.Errorf("metadata %s.attention.recurrent_layers must have one flag per layer (%d)", arch, c.Layers)
		}
		for i, r := range flags {
			c.Recurrent[i] = r != 0
		}
	} else {
		interval := int64(4)
		if v, ok := f.ArchInt("full_attention_interval"); ok {
			interval = v
		}
		if interval <= 0 {
			return fmt.Errorf("metadata %s.full_attention_interval = %d must be positive", arch, interval)
		}
		for i := range c.Recurrent {
			c.Recurrent[i] = int64(i+1)%interval != 0
		}
	}
	return nil
}

// deltaNet is a Gated DeltaNet layer: a linear recurrence whose state, one
// StateDim x StateDim matrix per value head, is decayed and corrected
// towards each new key/value pair (the delta rule).
type deltaNet struct {
	QKV    *Weight // q, k and v projections, stacked
	Z      *Weight // the output gate
	Beta   *Weight // write strength, per value head
	Alpha  *Weight // decay, per value head
	Conv   *Weight // causal depthwise convolution over q, k and v
	A      *Weight // ssm_a = -exp(A_log): the decay rate per value head
	DtBias *Weight
	Norm   *Weight // RMSNorm of each head's output
	Out    *Weight
	state  int // this layer's index in the recurrent state
}

func bindDeltaNet(b *binder, c *Config, i int) *deltaNet {
	p := fmt.Sprintf("blk.%d.", i)
	d := &c.DeltaNet
	inner := d.VHeads * d.StateDim
	return &deltaNet{
		QKV:    b.need(p+"attn_qkv.weight", d.Channels, c.Embd),
		Z:      b.need(p+"attn_gate.weight", inner, c.Embd),
		Beta:   b.need(p+"ssm_beta.weight", d.VHeads, c.Embd),
		Alpha:  b.need(p+"ssm_alpha.weight", d.VHeads, c.Embd),
		Conv:   b.need(p+"ssm_conv1d.weight", d.Channels, d.ConvKernel),
		A:      b.need(p+"ssm_a", 1, d.VHeads),
		DtBias: b.need(p+"ssm_dt.bias", 1, d.VHeads),
		Norm:   b.need(p+"ssm_norm.weight", 1, d.StateDim),
		Out:    b.need(p+"ssm_out.weight", c.Embd, inner),
		state:  b.nextRecurrent(),
	}
}

func (l *deltaNet) Kind() string { return "gated deltanet" }

func (l *deltaNet) weights() []WeightUse {
	return append(uses(RoleMatMul, l.QKV, l.Z, l.Beta, l.Alpha, l.Out),
		uses(RoleVector, l.Conv, l.A, l.DtBias, l.Norm)...)
}

// forward: x += Out · (norm(deltarule(silu(conv(QKV·h)))) * silu(Z·h)).
func (l *deltaNet) forward(r *Runner, a *activations, pos int) {
	b, d := r.b, &r.m.DeltaNet
	b.MatMul(a.qkv, l.QKV, a.h)
	b.MatMul(a.z, l.Z, a.h)
	b.MatMul(a.beta, l.Beta, a.h)
	b.MatMul(a.alpha, l.Alpha, a.h)
	b.ConvSiLU(a.conv, a.qkv, r.state, l.state, l.Conv, d)
	b.GatedDeltaRule(a.delta, a.conv, a.beta, a.alpha, r.state, l.state, l.A, l.DtBias, d)
	b.GatedRMSNorm(a.delta, a.delta, a.z, l.Norm, r.m.NormEps)
	b.MatMulAdd(a.x, l.Out, a.delta)
}

// gatedAttention is Qwen3.5's attention: per-head Q/K norms, partial
// rotation, and each head's output scaled by a sigmoid gate that the Q
// projection computes alongside the query.
type gatedAttention struct {
	Q            *Weight // per head: HeadDim query values, then HeadDim gate values
	K, V, O      *Weight
	QNorm, KNorm *Weight
	norm         HeadNorm // of QNorm and KNorm
	cache        int
}

func bindGatedAttention(b *binder, c *Config, i int) *gatedAttention {
	p := fmt.Sprintf("blk.%d.", i)
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	l := &gatedAttention{
		Q:     b.need(p+"attn_q.weight", 2*qDim, c.Embd),
		K:     b.need(p+"attn_k.weight", kvDim, c.Embd),
		V:     b.need(p+"attn_v.weight", kvDim, c.Embd),
		O:     b.need(p+"attn_output.weight", c.Embd, qDim),
		QNorm: b.need(p+"attn_q_norm.weight", 1, c.HeadDim),
		KNorm: b.need(p+"attn_k_norm.weight", 1, c.HeadDim),
		cache: b.nextAttention(),
	}
	l.norm = HeadNorm{Q: l.QNorm, K: l.KNorm, Eps: c.NormEps}
	return l
}

func (l *gatedAttention) Kind() string { return "gated attention" }

func (l *gatedAttention) weights() []WeightUse {
	return append(uses(RoleMatMul, l.Q, l.K, l.V, l.O), uses(RoleVector, l.QNorm, l.KNorm)...)
}

// forward: x += O · (attend(rope(norm(q)), rope(norm(K·h)), V·h) * sigmoid(gate)),
// with q and gate from Q·h.
func (l *gatedAttention) forward(r *Runner, a *activations, pos int) {
	b, c := r.b, &r.m.Config
	b.QKV(a.qGate, a.k, a.v, l.Q, l.K, l.V, a.h)
	b.SplitHeads(a.q, a.attGate, a.qGate, c.HeadDim)
	attendRotated(r, a, l.cache, pos, &l.norm)
	b.SigmoidMul(a.att, a.attGate)
	b.MatMulAdd(a.x, l.O, a.att)
}
