package engine

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/quant-llm/quant/internal/gguf"
)

// Config holds a model's hyper-parameters, read from GGUF metadata.
type Config struct {
	Arch    string
	Embd    int // n_embd
	Layers  int
	FFN     int
	Vocab   int
	Context int // training context length
	NormEps float32
	// The attention layers' shape (every layer's, in a llama-family model).
	Heads, KVHeads, HeadDim int
	Rope                    Rope
	TiedEmbed               bool // no output.weight: token_embd is the LM head
	// Recurrent marks the DeltaNet layers of a hybrid model (nil when
	// every layer is attention), and DeltaNet is their shape.
	Recurrent []bool
	DeltaNet  DeltaNet
}

// AttentionLayers counts the layers that keep a KV cache.
func (c *Config) AttentionLayers() int {
	n := c.Layers
	for _, r := range c.Recurrent {
		if r {
			n--
		}
	}
	return n
}

// Layer is one block: a token mixer (attention, or a recurrence) and a
// SwiGLU feed-forward network, each behind an RMSNorm and a residual add.
type Layer struct {
	AttnNorm       *Weight
	Mixer          Mixer
	FFNNorm        *Weight
	Gate, Up, Down *Weight
}

// Mixer is the part of a layer that mixes information across positions.
// Each kind is written as its own block of Backend calls (llama.go,
// qwen35.go).
type Mixer interface {
	// forward records the mixer on the normalised rows in a.h and adds
	// its output into the residual stream a.x (its output projection's
	// MatMulAdd); row r is at position pos+r.
	forward(r *Runner, a *activations, pos int)
	// weights lists the mixer's weights with their roles.
	weights() []WeightUse
	// Kind names the mixer for people: "attention", "gated attention",
	// "gated deltanet".
	Kind() string
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

// architecture is what one model family adds to the common loading code.
type architecture struct {
	// configure reads the family's own hyper-parameters.
	configure func(f *gguf.File, c *Config) error
	// ffnNorm is the name of the norm in front of the feed-forward block.
	ffnNorm string
	// mixer binds layer i's token mixer.
	mixer func(b *binder, c *Config, i int) Mixer
}

var architectures = map[string]architecture{
	"llama":  llamaFamily(llamaTraits{}),
	"qwen2":  llamaFamily(llamaTraits{neox: true, qkvBias: true}),
	"qwen3":  llamaFamily(llamaTraits{neox: true, qkNorm: true}),
	"qwen35": qwen35,
}

func architectureNames() string {
	var names []string
	for n := range architectures {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Open maps the GGUF file at path and binds its weights for its
// architecture. Anything the engine cannot run is an error naming the
// architecture, key or tensor. The weights view the mapping: Close the
// model after the runners and backends that use it.
func Open(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m := &Model{File: f}
	cfg, arch, err := readConfig(f)
	if err == nil {
		m.Config = cfg
		err = m.bind(arch)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Close unmaps the model's file.
func (m *Model) Close() error { return m.File.Close() }

// ReadConfig reads the hyper-parameters of f's architecture and checks
// that they are consistent, without binding any tensor.
func ReadConfig(f *gguf.File) (Config, error) {
	c, _, err := readConfig(f)
	return c, err
}

func readConfig(f *gguf.File) (Config, architecture, error) {
	name := f.Architecture()
	arch, ok := architectures[name]
	if !ok {
		if name == "" {
			return Config{}, arch, fmt.Errorf("no general.architecture key")
		}
		return Config{}, arch, fmt.Errorf("unsupported architecture %q (supported: %s)", name, architectureNames())
	}
	c := Config{Arch: name}
	k := keys{f: f}
	c.Embd = k.need("embedding_length")
	c.Layers = k.need("block_count")
	c.Heads = k.need("attention.head_count")
	c.FFN = k.need("feed_forward_length")
	if k.err != nil {
		return c, arch, k.err
	}
	c.KVHeads = c.Heads
	if v, ok := f.ArchInt("attention.head_count_kv"); ok {
		c.KVHeads = int(v)
	} else if _, present := f.ArchValue("attention.head_count_kv"); present {
		return c, arch, fmt.Errorf("per-layer %s.attention.head_count_kv is not supported", name)
	}
	c.HeadDim = c.Embd / c.Heads
	if v, ok := f.ArchInt("attention.key_length"); ok {
		c.HeadDim = int(v)
	}
	if v, ok := f.ArchInt("attention.value_length"); ok && int(v) != c.HeadDim {
		return c, arch, fmt.Errorf("value_length %d differs from key_length %d", v, c.HeadDim)
	}
	if c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 || c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return c, arch, fmt.Errorf("inconsistent attention shape: %d heads, %d KV heads, head dim %d", c.Heads, c.KVHeads, c.HeadDim)
	}
	if v, ok := f.ArchInt("context_length"); ok {
		c.Context = int(v)
	}
	c.NormEps = 1e-5
	if v, ok := f.ArchFloat("attention.layer_norm_rms_epsilon"); ok {
		c.NormEps = float32(v)
	}
	if !(c.NormEps > 0 && c.NormEps < 1) {
		return c, arch, fmt.Errorf("%s.attention.layer_norm_rms_epsilon = %v is out of range", name, c.NormEps)
	}
	c.Rope = Rope{Dims: c.HeadDim, Base: 10000, FreqScale: 1}
	if v, ok := f.ArchInt("rope.dimension_count"); ok {
		c.Rope.Dims = int(v)
	}
	if c.Rope.Dims <= 0 || c.Rope.Dims > c.HeadDim || c.Rope.Dims%2 != 0 {
		return c, arch, fmt.Errorf("rope.dimension_count %d does not fit head dim %d", c.Rope.Dims, c.HeadDim)
	}
	if v, ok := f.ArchFloat("rope.freq_base"); ok {
		c.Rope.Base = float32(v)
	}
	if typ, ok := f.String(name + ".rope.scaling.type"); ok && typ != "none" {
		factor, _ := f.ArchFloat("rope.scaling.factor")
		switch {
		case typ == "linear" && factor > 0:
			c.Rope.FreqScale = float32(1 / factor)
		case typ == "llama3":
			// Llama 3 scaling ships as the rope_freqs tensor, bound below.
		default:
			return c, arch, fmt.Errorf("unsupported rope scaling %q", typ)
		}
	}
	if math.IsNaN(float64(c.Rope.Base)) || c.Rope.Base <= 0 {
		return c, arch, fmt.Errorf("bad rope.freq_base %v", c.Rope.Base)
	}
	return c, arch, arch.configure(f, &c)
}

// keys reads required integer hyper-parameters, keeping the first error.
type keys struct {
	f   *gguf.File
	err error
}

// need returns "<arch>.<suffix>", which must be a positive integer.
func (k *keys) need(suffix string) int {
	v, ok := k.f.ArchInt(suffix)
	key := k.f.Architecture() + "." + suffix
	switch {
	case k.err != nil:
	case !ok:
		k.err = fmt.Errorf("missing metadata %s", key)
	case v <= 0 || v > 1<<24:
		k.err = fmt.Errorf("metadata %s = %d is out of range", key, v)
	}
	return int(v)
}

func (m *Model) bind(arch architecture) error {
	f := m.File
	c := &m.Config
	te, ok := f.Tensor("token_embd.weight")
	if !ok {
		return fmt.Errorf("missing tensor token_embd.weight")
	}
	if len(te.Dims) < 2 {
		return fmt.Errorf("tensor token_embd.weight has shape %v", te.Dims)
	}
	c.Vocab = int(te.Dims[1])
	b := &binder{f: f}
	m.TokenEmbd = b.need("token_embd.weight", c.Vocab, c.Embd)
	m.OutputNorm = b.need("output_norm.weight", 1, c.Embd)
	m.Output = b.optional("output.weight", c.Vocab, c.Embd)
	if m.Output == nil && b.err == nil {
		c.TiedEmbed = true
		m.Output = m.TokenEmbd
	}
	c.Rope.FreqFactors = b.optional("rope_freqs.weight", 1, c.Rope.Dims/2)
	m.Layers = make([]Layer, c.Layers)
	for i := range m.Layers {
		l := &m.Layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		l.AttnNorm = b.need(p+"attn_norm.weight", 1, c.Embd)
		l.Mixer = arch.mixer(b, c, i)
		l.FFNNorm = b.need(p+arch.ffnNorm+".weight", 1, c.Embd)
		l.Gate = b.need(p+"ffn_gate.weight", c.FFN, c.Embd)
		l.Up = b.need(p+"ffn_up.weight", c.FFN, c.Embd)
		l.Down = b.need(p+"ffn_down.weight", c.Embd, c.FFN)
	}
	return b.err
}

// binder views tensors of the file as weights, keeping the first error.
type binder struct {
	f   *gguf.File
	err error
	// attention and recurrent count the layers bound so far that keep a
	// KV cache and a recurrent state: a layer's index into either.
	attention, recurrent int
}

// need binds a tensor that must exist with rows x cols values.
func (b *binder) need(name string, rows, cols int) *Weight {
	w := b.optional(name, rows, cols)
	if w == nil && b.err == nil {
		b.err = fmt.Errorf("missing tensor %s", name)
	}
	return w
}

// optional binds a tensor that may be absent (nil then).
func (b *binder) optional(name string, rows, cols int) *Weight {
	if b.err != nil {
		return nil
	}
	t, ok := b.f.Tensor(name)
	if !ok {
		return nil
	}
	w, err := weightOf(b.f, t, rows, cols)
	if err != nil {
		b.err = err
	}
	return w
}

// nextAttention and nextRecurrent hand out cache and state slots in layer
// order.
func (b *binder) nextAttention() int { b.attention++; return b.attention - 1 }
func (b *binder) nextRecurrent() int { b.recurrent++; return b.recurrent - 1 }

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
		out = append(out, l.Mixer.weights()...)
		out = append(out, WeightUse{l.AttnNorm, RoleVector}, WeightUse{l.FFNNorm, RoleVector},
			WeightUse{l.Gate, RoleMatMul}, WeightUse{l.Up, RoleMatMul}, WeightUse{l.Down, RoleMatMul})
	}
	return out
}

// uses lists ws in one role, skipping absent (nil) weights.
func uses(role Role, ws ...*Weight) []WeightUse {
	var out []WeightUse
	for _, w := range ws {
		if w != nil {
			out = append(out, WeightUse{w, role})
		}
	}
	return out
}
