package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/quant-llm/quant/internal/gguf"
)

// poolRows is how many distinct random rows each tensor draws its rows
// from: quantizing every row of a billion-parameter model with the
// reference quantizers would take minutes, and speed does not depend on the
// values.
const poolRows = 64

func write(w io.Writer, p preset, m mix, seed uint64) error {
	tokens, types, merges := bpeVocab(p.vocab, p.specials)
	bos, eos := int32(0), int32(0)
	if len(p.specials) > 1 {
		bos, eos = 1, 2
	}
	if p.pre == "llama-bpe" {
		bos, eos = 0, 4 // <|begin_of_text|>, <|eot_id|>
	}
	meta := []gguf.KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "general.name", Value: p.name},
		{Key: "general.description", Value: "SYNTHETIC random weights written by quant's scripts/synth"},
		{Key: "general.file_type", Value: m.fileType},
		{Key: "general.quantization_version", Value: uint32(2)},
		{Key: "llama.context_length", Value: uint32(p.context)},
		{Key: "llama.embedding_length", Value: uint32(p.embd)},
		{Key: "llama.block_count", Value: uint32(p.layers)},
		{Key: "llama.feed_forward_length", Value: uint32(p.ffn)},
		{Key: "llama.attention.head_count", Value: uint32(p.heads)},
		{Key: "llama.attention.head_count_kv", Value: uint32(p.kvHead)},
		{Key: "llama.rope.dimension_count", Value: uint32(p.embd / p.heads)},
		{Key: "llama.rope.freq_base", Value: p.ropeBase},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
		{Key: "llama.vocab_size", Value: uint32(p.vocab)},
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: p.pre},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array{Elem: gguf.ValString, Values: tokens}},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Array{Elem: gguf.ValInt32, Values: types}},
		{Key: "tokenizer.ggml.merges", Value: gguf.Array{Elem: gguf.ValString, Values: merges}},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(bos)},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(eos)},
		{Key: "tokenizer.ggml.add_bos_token", Value: p.pre == "llama-bpe"},
		{Key: "tokenizer.chat_template", Value: p.template},
	}

	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var tensors []gguf.WriteTensor
	var total int64
	matrix := func(name string, layer, rows, cols int, std float32) {
		t := m.pick(name, layer, p.layers, cols)
		tensors = append(tensors, gguf.WriteTensor{Name: name, Type: t, Dims: []uint64{uint64(cols), uint64(rows)},
			Data: randomMatrix(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), t, rows, cols, std)})
		n, _ := t.RowBytes(cols)
		total += int64(n) * int64(rows)
	}
	vector := func(name string, n int, values func(i int) float32) {
		tensors = append(tensors, gguf.WriteTensor{Name: name, Type: gguf.TypeF32, Dims: []uint64{uint64(n)},
			Data: func() ([]byte, error) {
				v := make([]float32, n)
				for i := range v {
					v[i] = values(i)
				}
				return gguf.Quantize(gguf.TypeF32, v, nil)
			}})
		total += int64(4 * n)
	}
	ones := func(int) float32 { return 1 }
	headDim := p.embd / p.heads
	// Scales keep activations finite through every layer: each matrix
	// preserves the RMS of a normalised input to within a factor of two.
	ws := func(cols int) float32 { return float32(0.5 / math.Sqrt(float64(cols))) }

	matrix("token_embd.weight", -1, p.vocab, p.embd, 0.05)
	if !p.tied {
		matrix("output.weight", -1, p.vocab, p.embd, ws(p.embd))
	}
	vector("output_norm.weight", p.embd, ones)
	if p.llama3Rope {
		vector("rope_freqs.weight", headDim/2, func(i int) float32 { return llama3RopeFactor(i, headDim, p.ropeBase) })
	}
	for l := range p.layers {
		b := fmt.Sprintf("blk.%d.", l)
		vector(b+"attn_norm.weight", p.embd, ones)
		matrix(b+"attn_q.weight", l, p.heads*headDim, p.embd, ws(p.embd))
		matrix(b+"attn_k.weight", l, p.kvHead*headDim, p.embd, ws(p.embd))
		matrix(b+"attn_v.weight", l, p.kvHead*headDim, p.embd, ws(p.embd))
		matrix(b+"attn_output.weight", l, p.embd, p.heads*headDim, ws(p.heads*headDim))
		vector(b+"ffn_norm.weight", p.embd, ones)
		matrix(b+"ffn_gate.weight", l, p.ffn, p.embd, ws(p.embd))
		matrix(b+"ffn_up.weight", l, p.ffn, p.embd, ws(p.embd))
		matrix(b+"ffn_down.weight", l, p.embd, p.ffn, ws(p.ffn))
	}

	bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("writing "+p.name), progressbar.OptionShowBytes(true),
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))))
	defer bar.Finish()
	return gguf.Write(w, meta, tensors, func(n int) { bar.Add(n) })
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

// llama3RopeFactor is the frequency divisor of dimension pair i under Llama
// 3.1 rope scaling (factor 32, low 1, high 4, original context 8192), as
// llama.cpp's converter computes rope_freqs.
func llama3RopeFactor(i, headDim int, base float32) float32 {
	const factor, low, high, orig = 32.0, 1.0, 4.0, 8192.0
	freq := 1 / math.Pow(float64(base), float64(2*i)/float64(headDim))
	wavelen := 2 * math.Pi / freq
	switch {
	case wavelen < orig/high:
		return 1
	case wavelen > orig/low:
		return factor
	}
	smooth := (orig/wavelen - low) / (high - low)
	return float32(1 / ((1-smooth)/factor + smooth))
}
