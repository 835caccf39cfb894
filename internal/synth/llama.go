package synth

import (
	"fmt"
	"math"

	"github.com/quant-llm/quant/internal/gguf"
)

// llama is GGUF architecture llama, or a relative that differs in the
// traits below: every layer is attention then a SwiGLU feed-forward block.
type llama struct {
	// llama3Rope adds Llama 3.1+ rope scaling (a rope_freqs tensor).
	llama3Rope bool
	// qwen3 is GGUF architecture qwen3: an RMSNorm on each head of Q and
	// K, and a head size of its own (attention.key_length).
	qwen3 bool
}

func (a llama) name() string {
	if a.qwen3 {
		return "qwen3"
	}
	return "llama"
}

func (a llama) hparams(p preset) []gguf.KV {
	key := archKey(a.name())
	kv := append(shapeKeys(key, p),
		key("rope.dimension_count", uint32(p.headDim)),
		key("rope.freq_base", p.ropeBase),
		key("attention.layer_norm_rms_epsilon", p.normEps),
		key("vocab_size", uint32(p.vocab)),
	)
	if a.qwen3 {
		kv = append(kv, key("attention.key_length", uint32(p.headDim)), key("attention.value_length", uint32(p.headDim)))
	}
	return kv
}

func (a llama) tensors(t *tensorSet, p preset) {
	t.embeddings(p)
	t.vector("output_norm.weight", p.embd, ones)
	if a.llama3Rope {
		t.vector("rope_freqs.weight", p.headDim/2, func(i int) float32 { return llama3RopeFactor(i, p.headDim, p.ropeBase) })
	}
	for l := range p.layers {
		b := fmt.Sprintf("blk.%d.", l)
		t.vector(b+"attn_norm.weight", p.embd, ones)
		t.matrix(b+"attn_q.weight", l, p.heads*p.headDim, p.embd, ws(p.embd))
		t.matrix(b+"attn_k.weight", l, p.kvHeads*p.headDim, p.embd, ws(p.embd))
		t.matrix(b+"attn_v.weight", l, p.kvHeads*p.headDim, p.embd, ws(p.embd))
		t.matrix(b+"attn_output.weight", l, p.embd, p.heads*p.headDim, ws(p.heads*p.headDim))
		if a.qwen3 {
			t.vector(b+"attn_q_norm.weight", p.headDim, ones)
			t.vector(b+"attn_k_norm.weight", p.headDim, ones)
		}
		t.vector(b+"ffn_norm.weight", p.embd, ones)
		t.ffn(p, l, b)
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
