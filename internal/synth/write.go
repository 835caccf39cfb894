package synth

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/quant-llm/quant/internal/gguf"
)

// poolRows is how many distinct random rows each tensor draws its rows
// from: quantizing every row of a billion-parameter model with the
// reference quantizers would take minutes, and speed does not depend on the
// values.
const poolRows = 64

// Options are the choices of a synthetic model beyond its preset and type.
type Options struct {
	// Seed fixes the random weights.
	Seed uint64
	// Zero writes every tensor as zeros instead: the real shapes, types and
	// metadata for tests that look at shapes only (dispatches, encoding),
	// at once. WriteFile leaves the zeros as holes of a sparse file.
	Zero bool
	// Progress, when set, is told the bytes of each tensor written.
	Progress func(n int)
}

// architecture writes what is specific to one GGUF general.architecture.
type architecture interface {
	// name is the general.architecture value and the hyper-parameter key prefix.
	name() string
	// hparams returns the architecture's hyper-parameter keys.
	hparams(p preset) []gguf.KV
	// tensors adds every tensor of the model, in file order.
	tensors(t *tensorSet, p preset)
}

// Presets names the model shapes Write knows, sorted.
func Presets() []string { return slices.Sorted(maps.Keys(presets)) }

// Types names the weight formats Write knows, sorted.
func Types() []string { return slices.Sorted(maps.Keys(mixes)) }

// Bytes is the size of the tensor data of the model presetName in format typ.
func Bytes(presetName, typ string) (int64, error) {
	p, m, err := lookup(presetName, typ)
	if err != nil {
		return 0, err
	}
	t := &tensorSet{rng: rand.New(rand.NewPCG(0, 0)), mix: m, layers: p.layers}
	p.arch.tensors(t, p)
	return t.total, nil
}

func lookup(presetName, typ string) (preset, mix, error) {
	p, ok := presets[presetName]
	if !ok {
		return p, mix{}, fmt.Errorf("unknown preset %q (want one of %s)", presetName, strings.Join(Presets(), ", "))
	}
	m, ok := mixes[typ]
	if !ok {
		return p, m, fmt.Errorf("unknown type %q (want one of %s)", typ, strings.Join(Types(), ", "))
	}
	return p, m, nil
}

// Write writes the GGUF model presetName with weights of format typ (the
// per-tensor types llama.cpp's quantizer picks for it) to w.
func Write(w io.Writer, presetName, typ string, opts Options) error {
	p, m, err := lookup(presetName, typ)
	if err != nil {
		return err
	}
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

	t := &tensorSet{rng: rand.New(rand.NewPCG(opts.Seed, 0x5eed)), mix: m, layers: p.layers}
	p.arch.tensors(t, p)
	if opts.Zero {
		zeroData(t.list, w)
	}
	return gguf.Write(w, meta, t.list, opts.Progress)
}

// WriteFile writes the model to the file path (see Write), removing it
// on failure.
func WriteFile(path, presetName, typ string, opts Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var w io.Writer = f
	if opts.Zero {
		w = &sparseWriter{f: f}
	}
	err = Write(w, presetName, typ, opts)
	if s, ok := w.(*sparseWriter); ok && err == nil {
		err = s.close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// zeroData makes every tensor's data zeros: views of one zeroed buffer as
// large as the largest tensor, which nothing writes, so that its pages
// are never backed by memory. A sparseWriter w is told the buffer.
func zeroData(list []gguf.WriteTensor, w io.Writer) {
	sizes := make([]int, len(list))
	largest := 0
	for i, t := range list {
		n := 1
		for _, d := range t.Dims[1:] {
			n *= int(d)
		}
		row, _ := t.Type.RowBytes(int(t.Dims[0])) // the generators made whole rows
		sizes[i] = row * n
		largest = max(largest, sizes[i])
	}
	zeros := make([]byte, largest)
	if s, ok := w.(*sparseWriter); ok {
		s.zeros = zeros
	}
	for i := range list {
		n := sizes[i]
		list[i].Data = func() ([]byte, error) { return zeros[:n], nil }
	}
}

// sparseWriter writes to a file, seeking over zeros instead of writing
// them: they read back as zeros and take no space. The bytes of zeros (the
// tensors' data) are skipped unread, which would fault their pages in;
// other writes are looked at in runs of zeroRun bytes.
type sparseWriter struct {
	f     *os.File
	zeros []byte
	size  int64
}

var zeroRun [64 << 10]byte

func (s *sparseWriter) Write(p []byte) (int, error) {
	if s.isZeros(p) {
		return len(p), s.skip(len(p))
	}
	for done := 0; done < len(p); {
		chunk := p[done : done+min(len(p)-done, len(zeroRun))]
		var err error
		if bytes.Equal(chunk, zeroRun[:len(chunk)]) {
			err = s.skip(len(chunk))
		} else {
			_, err = s.f.Write(chunk)
			s.size += int64(len(chunk))
		}
		if err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return len(p), nil
}

func (s *sparseWriter) skip(n int) error {
	_, err := s.f.Seek(int64(n), io.SeekCurrent)
	s.size += int64(n)
	return err
}

// isZeros reports whether p is a part of s.zeros. The tensors' data are
// prefixes of it, which the buffered writer passes on whole or less a
// head it copied: suffixes, whose capacity says where they start.
func (s *sparseWriter) isZeros(p []byte) bool {
	k := cap(s.zeros) - cap(p)
	return len(p) > 0 && k >= 0 && k < len(s.zeros) && &p[0] == &s.zeros[k]
}

// close gives the file its full size when it ends in a hole.
func (s *sparseWriter) close() error { return s.f.Truncate(s.size) }

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

// shapeKeys are the hyper-parameters every architecture here writes first.
func shapeKeys(key func(string, any) gguf.KV, p preset) []gguf.KV {
	return []gguf.KV{
		key("context_length", uint32(p.context)),
		key("embedding_length", uint32(p.embd)),
		key("block_count", uint32(p.layers)),
		key("feed_forward_length", uint32(p.ffn)),
		key("attention.head_count", uint32(p.heads)),
		key("attention.head_count_kv", uint32(p.kvHeads)),
	}
}

// archKey returns a constructor of keys in the architecture's namespace.
func archKey(arch string) func(suffix string, v any) gguf.KV {
	return func(suffix string, v any) gguf.KV { return gguf.KV{Key: arch + "." + suffix, Value: v} }
}
