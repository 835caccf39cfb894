package engine

import (
	"fmt"
	"math"

	"github.com/quant-llm/quant/internal/gguf"
)

// Config holds a model's hyper-parameters, read from GGUF metadata.
type Config struct {
	Arch      string
	Embd      int // n_embd
	Layers    int
	Heads     int
	KVHeads   int
	HeadDim   int
	FFN       int
	Vocab     int
	Context   int // training context length
	NormEps   float32
	Rope      Rope
	QKNorm    bool // qwen3: RMS-norm each head of Q and K
	QKVBias   bool // qwen2: biases on Q, K, V
	TiedEmbed bool // no output.weight: token_embd is the LM head
}

// Layer holds one transformer block's weights.
type Layer struct {
	AttnNorm, Q, K, V, O *Weight
	QBias, KBias, VBias  *Weight
	QNorm, KNorm         *Weight
	FFNNorm              *Weight
	Gate, Up, Down       *Weight
}

// Model is a loaded model: configuration and weights viewing the file.
type Model struct {
	Config
	File       *gguf.File
	TokenEmbd  *Weight
	OutputNorm *Weight
	Output     *Weight
	Layers     []Layer
}

// archTraits says how an architecture differs from plain llama.
type archTraits struct {
	neox, qkNorm, qkvBias bool
}

var architectures = map[string]archTraits{
	"llama": {},
	"qwen2": {neox: true, qkvBias: true},
	"qwen3": {neox: true, qkNorm: true},
}

// LoadModel binds the weights of f for its architecture. Anything the
// engine cannot run is an error naming the architecture, key or tensor.
func LoadModel(f *gguf.File) (*Model, error) {
	cfg, err := readConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	m := &Model{Config: cfg, File: f}
	if err := m.bind(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return m, nil
}

func readConfig(f *gguf.File) (Config, error) {
	arch := f.Architecture()
	traits, ok := architectures[arch]
	if !ok {
		if arch == "" {
			return Config{}, fmt.Errorf("no general.architecture key")
		}
		return Config{}, fmt.Errorf("unsupported architecture %q (supported: llama, qwen2, qwen3)", arch)
	}
	c := Config{Arch: arch, QKNorm: traits.qkNorm, QKVBias: traits.qkvBias}
	var err error
	need := func(suffix string) int {
		v, ok := f.ArchInt(suffix)
		if !ok && err == nil {
			err = fmt.Errorf("missing metadata %s.%s", arch, suffix)
		}
		if ok && (v <= 0 || v > 1<<24) && err == nil {
			err = fmt.Errorf("metadata %s.%s = %d is out of range", arch, suffix, v)
		}
		return int(v)
	}
	c.Embd = need("embedding_length")
	c.Layers = need("block_count")
	c.Heads = need("attention.head_count")
	c.FFN = need("feed_forward_length")
	if err != nil {
		return c, err
	}
	c.KVHeads = c.Heads
	if v, ok := f.ArchInt("attention.head_count_kv"); ok {
		c.KVHeads = int(v)
	} else if _, present := f.ArchValue("attention.head_count_kv"); present {
		return c, fmt.Errorf("per-layer %s.attention.head_count_kv is not supported", arch)
	}
	c.HeadDim = c.Embd / c.Heads
	if v, ok := f.ArchInt("attention.key_length"); ok {
		c.HeadDim = int(v)
	}
	if v, ok := f.ArchInt("attention.value_length"); ok && int(v) != c.HeadDim {
		return c, fmt.Errorf("value_length %d differs from key_length %d", v, c.HeadDim)
	}
	if c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 || c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return c, fmt.Errorf("inconsistent attention shape: %d heads, %d KV heads, head dim %d", c.Heads, c.KVHeads, c.HeadDim)
	}
	if v, ok := f.ArchInt("context_length"); ok {
		c.Context = int(v)
	}
	c.NormEps = 1e-5
	if v, ok := f.ArchFloat("attention.layer_norm_rms_epsilon"); ok {
		c.NormEps = float32(v)
	}
	c.Rope = Rope{Dims: c.HeadDim, Base: 10000, FreqScale: 1, NeoX: traits.neox}
	if v, ok := f.ArchInt("rope.dimension_count"); ok {
		c.Rope.Dims = int(v)
	}
	if c.Rope.Dims <= 0 || c.Rope.Dims > c.HeadDim || c.Rope.Dims%2 != 0 {
		return c, fmt.Errorf("rope.dimension_count %d does not fit head dim %d", c.Rope.Dims, c.HeadDim)
	}
	if v, ok := f.ArchFloat("rope.freq_base"); ok {
		c.Rope.Base = float32(v)
	}
	if typ, ok := f.String(arch + ".rope.scaling.type"); ok && typ != "none" {
		factor, _ := f.ArchFloat("rope.scaling.factor")
		switch {
		case typ == "linear" && factor > 0:
			c.Rope.FreqScale = float32(1 / factor)
		case typ == "llama3":
			// Llama 3 scaling ships as the rope_freqs tensor, bound below.
		default:
			return c, fmt.Errorf("unsupported rope scaling %q", typ)
		}
	}
	if math.IsNaN(float64(c.Rope.Base)) || c.Rope.Base <= 0 {
		return c, fmt.Errorf("bad rope.freq_base %v", c.Rope.Base)
	}
	return c, nil
}

func (m *Model) bind() error {
	f := m.File
	var err error
	get := func(name string, rows, cols int, optional bool) *Weight {
		if err != nil {
			return nil
		}
		t, ok := f.Tensor(name)
		if !ok {
			if !optional {
				err = fmt.Errorf("missing tensor %s", name)
			}
			return nil
		}
		w, e := weightOf(f, t, rows, cols)
		if e != nil {
			err = e
		}
		return w
	}
	c := &m.Config
	te, ok := f.Tensor("token_embd.weight")
	if !ok {
		return fmt.Errorf("missing tensor token_embd.weight")
	}
	if len(te.Dims) < 2 {
		return fmt.Errorf("tensor token_embd.weight has shape %v", te.Dims)
	}
	c.Vocab = int(te.Dims[1])
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	m.TokenEmbd = get("token_embd.weight", c.Vocab, c.Embd, false)
	m.OutputNorm = get("output_norm.weight", 1, c.Embd, false)
	m.Output = get("output.weight", c.Vocab, c.Embd, true)
	if m.Output == nil && err == nil {
		c.TiedEmbed = true
		m.Output = m.TokenEmbd
	}
	c.Rope.FreqFactors = get("rope_freqs.weight", 1, c.Rope.Dims/2, true)
	m.Layers = make([]Layer, c.Layers)
	for i := range m.Layers {
		l := &m.Layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		l.AttnNorm = get(p+"attn_norm.weight", 1, c.Embd, false)
		l.Q = get(p+"attn_q.weight", qDim, c.Embd, false)
		l.K = get(p+"attn_k.weight", kvDim, c.Embd, false)
		l.V = get(p+"attn_v.weight", kvDim, c.Embd, false)
		l.O = get(p+"attn_output.weight", c.Embd, qDim, false)
		l.QBias = get(p+"attn_q.bias", 1, qDim, !c.QKVBias)
		l.KBias = get(p+"attn_k.bias", 1, kvDim, !c.QKVBias)
		l.VBias = get(p+"attn_v.bias", 1, kvDim, !c.QKVBias)
		if c.QKNorm {
			l.QNorm = get(p+"attn_q_norm.weight", 1, c.HeadDim, false)
			l.KNorm = get(p+"attn_k_norm.weight", 1, c.HeadDim, false)
		}
		l.FFNNorm = get(p+"ffn_norm.weight", 1, c.Embd, false)
		l.Gate = get(p+"ffn_gate.weight", c.FFN, c.Embd, false)
		l.Up = get(p+"ffn_up.weight", c.FFN, c.Embd, false)
		l.Down = get(p+"ffn_down.weight", c.Embd, c.FFN, false)
	}
	return err
}

// weightOf checks that t has the expected shape and views its data.
func weightOf(f *gguf.File, t *gguf.TensorInfo, rows, cols int) (*Weight, error) {
	gotRows := t.Elems() / t.Dims[0]
	if t.Dims[0] != uint64(cols) || gotRows != uint64(rows) {
		return nil, fmt.Errorf("tensor %s has shape %v, want [%d %d]", t.Name, t.Dims, cols, rows)
	}
	return &Weight{
		Name: t.Name, Type: t.Type, Rows: rows, Cols: cols,
		Data: f.TensorData(t), FileOffset: f.DataOffset + t.Offset,
	}, nil
}

// WeightUse is a weight and how the forward pass uses it.
type WeightUse struct {
	W    *Weight
	Role Role
}

// Weights lists every bound weight with the role a backend must support.
func (m *Model) Weights() []WeightUse {
	out := []WeightUse{{m.TokenEmbd, RoleEmbed}, {m.OutputNorm, RoleVector}, {m.Output, RoleMatMul}}
	if m.Rope.FreqFactors != nil {
		out = append(out, WeightUse{m.Rope.FreqFactors, RoleVector})
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, w := range []*Weight{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			out = append(out, WeightUse{w, RoleMatMul})
		}
		for _, w := range []*Weight{l.AttnNorm, l.FFNNorm, l.QNorm, l.KNorm, l.QBias, l.KBias, l.VBias} {
			if w != nil {
				out = append(out, WeightUse{w, RoleVector})
			}
		}
	}
	return out
}
