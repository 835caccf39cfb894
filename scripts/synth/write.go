package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/quant-llm/quant/internal/gguf"
)

// poolRows is how many distinct random rows each tensor draws its rows
// from: quantizing every row of a billion-parameter model with the
// reference quantizers would take minutes, and speed does not depend on the
// values.
const poolRows = 64

// architecture writes what is specific to one GGUF general.architecture.
type architecture interface {
	// name is the general.architecture value and the hyper-parameter key prefix.
	name() string
	// hparams returns the architecture's hyper-parameter keys.
	hparams(p preset) []gguf.KV
	// tensors adds every tensor of the model, in file order.
	tensors(t *tensorSet, p preset)
}

func write(w io.Writer, p preset, m mix, seed uint64) error {
	tokMeta, err := tokenizerMeta(p)
	if err != nil {
		return err
	}
	meta := []gguf.KV{
		{Key: "general.architecture", Value: p.arch.name()},
		{Key: "general.name", Value: p.name},
		{Key: "general.description", Value: "SYNTHETIC random weights written by quant's scripts/synth"},
		{Key: "general.file_type", Value: m.fileType},
		{Key: "general.quantization_version", Value: uint32(2)},
	}
	meta = append(meta, p.arch.hparams(p)...)
	meta = append(meta, tokMeta...)

	t := &tensorSet{rng: rand.New(rand.NewPCG(seed, 0x5eed)), mix: m, layers: p.layers}
	p.arch.tensors(t, p)

	bar := progressbar.NewOptions64(t.total, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("writing "+p.name), progressbar.OptionShowBytes(true),
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))))
	defer bar.Finish()
	return gguf.Write(w, meta, t.list, func(n int) { bar.Add(n) })
}

// tokenizerMeta is the tokenizer.* metadata of a byte-level BPE vocabulary
// of the preset's size.
func tokenizerMeta(p preset) ([]gguf.KV, error) {
	tok := p.tok
	tokens, types, merges := bpeVocab(p.vocab, tok.specials)
	id := func(role, special string) (uint32, error) {
		i := slices.Index(tok.specials, special)
		if i < 0 {
			return 0, fmt.Errorf("preset %s: %s token %q is not one of its specials", p.name, role, special)
		}
		return uint32(i), nil
	}
	bos, err := id("bos", tok.bos)
	if err != nil {
		return nil, err
	}
	eos, err := id("eos", tok.eos)
	if err != nil {
		return nil, err
	}
	meta := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: tok.pre},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array{Elem: gguf.ValString, Values: tokens}},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Array{Elem: gguf.ValInt32, Values: types}},
		{Key: "tokenizer.ggml.merges", Value: gguf.Array{Elem: gguf.ValString, Values: merges}},
		{Key: "tokenizer.ggml.bos_token_id", Value: bos},
		{Key: "tokenizer.ggml.eos_token_id", Value: eos},
	}
	if tok.pad != "" {
		pad, err := id("pad", tok.pad)
		if err != nil {
			return nil, err
		}
		meta = append(meta, gguf.KV{Key: "tokenizer.ggml.padding_token_id", Value: pad})
	}
	return append(meta,
		gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: tok.addBOS},
		gguf.KV{Key: "tokenizer.chat_template", Value: tok.template},
	), nil
}

// tensorSet collects a model's tensors in file order. Each tensor's data is
// generated only when the writer reaches it, from a random source split
// off the set's own when the tensor is added, so the bytes depend only on
// the seed and the order of the tensors.
type tensorSet struct {
	rng    *rand.Rand
	mix    mix
	layers int
	list   []gguf.WriteTensor
	total  int64 // bytes of tensor data, for the progress bar
}

// split returns an independent random source for one tensor.
func (t *tensorSet) split() *rand.Rand {
	return rand.New(rand.NewPCG(t.rng.Uint64(), t.rng.Uint64()))
}

// matrix adds a rows x cols weight of normal values of standard deviation
// std, in the type the mix picks for it. layer is -1 outside the blocks.
func (t *tensorSet) matrix(name string, layer, rows, cols int, std float32) {
	typ := t.mix.pick(name, layer, t.layers, cols)
	t.list = append(t.list, gguf.WriteTensor{Name: name, Type: typ, Dims: []uint64{uint64(cols), uint64(rows)},
		Data: randomMatrix(t.split(), typ, rows, cols, std)})
	n, _ := typ.RowBytes(cols)
	t.total += int64(n) * int64(rows)
}

// float32s adds an F32 tensor of shape dims (ggml order, innermost first)
// whose i-th value is value(i).
func (t *tensorSet) float32s(name string, dims []int, value func(i int) float32) {
	n := 1
	shape := make([]uint64, len(dims))
	for i, d := range dims {
		n *= d
		shape[i] = uint64(d)
	}
	t.list = append(t.list, gguf.WriteTensor{Name: name, Type: gguf.TypeF32, Dims: shape,
		Data: func() ([]byte, error) {
			v := make([]float32, n)
			for i := range v {
				v[i] = value(i)
			}
			return gguf.Quantize(gguf.TypeF32, v, nil)
		}})
	t.total += int64(4 * n)
}

// vector adds a 1-D F32 tensor.
func (t *tensorSet) vector(name string, n int, value func(i int) float32) {
	t.float32s(name, []int{n}, value)
}

// uniform returns values drawn uniformly from [lo, hi), from a source split
// off now so that the values do not depend on when they are generated.
func (t *tensorSet) uniform(lo, hi float32) func(int) float32 {
	rng := t.split()
	return func(int) float32 { return lo + (hi-lo)*rng.Float32() }
}

func ones(int) float32 { return 1 }

// ws is the standard deviation of a weight with cols inputs: each matrix
// maps a normalised input to an output of RMS 0.5, which keeps activations
// finite through every layer.
func ws(cols int) float32 { return float32(0.5 / math.Sqrt(float64(cols))) }

// embeddings adds the token embedding and, when the LM head is not tied to
// it, the output matrix.
func (t *tensorSet) embeddings(p preset) {
	t.matrix("token_embd.weight", -1, p.vocab, p.embd, 0.05)
	if !p.tied {
		t.matrix("output.weight", -1, p.vocab, p.embd, ws(p.embd))
	}
}

// ffn adds a layer's SwiGLU feed-forward weights (b is the "blk.N." prefix).
func (t *tensorSet) ffn(p preset, layer int, b string) {
	t.matrix(b+"ffn_gate.weight", layer, p.ffn, p.embd, ws(p.embd))
	t.matrix(b+"ffn_up.weight", layer, p.ffn, p.embd, ws(p.embd))
	t.matrix(b+"ffn_down.weight", layer, p.embd, p.ffn, ws(p.ffn))
}

// randomMatrix returns a generator of rows x cols normal values of standard
// deviation std, stored as t, drawn from poolRows distinct random rows.
func randomMatrix(rng *rand.Rand, t gguf.GGMLType, rows, cols int, std float32) func() ([]byte, error) {
	return func() ([]byte, error) {
		pool := make([][]byte, min(rows, poolRows))
		row := make([]float32, cols)
		for i := range pool {
			for j := range row {
				row[j] = float32(rng.NormFloat64()) * std
			}
			var err error
			if pool[i], err = gguf.Quantize(t, row, nil); err != nil {
				return nil, err
			}
		}
		out := make([]byte, 0, rows*len(pool[0]))
		for range rows {
			out = append(out, pool[rng.IntN(len(pool))]...)
		}
		return out, nil
	}
}

// archKey returns a constructor of keys in the architecture's namespace.
func archKey(arch string) func(suffix string, v any) gguf.KV {
	return func(suffix string, v any) gguf.KV { return gguf.KV{Key: arch + "." + suffix, Value: v} }
}
