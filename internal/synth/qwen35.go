package synth

import (
	"fmt"

	"github.com/quant-llm/quant/internal/gguf"
)

// qwen35 is GGUF architecture qwen35 (Qwen3.5): Gated DeltaNet layers, with
// a gated full-attention layer every fullAttnInterval-th layer, each
// followed by a SwiGLU feed-forward block. The tensor layout is the one
// llama.cpp loads (src/models/qwen35.cpp), described with a reference file
// in ../shared/testdata/qwen35/README.md. The preset's heads, kvHeads and
// headDim are the attention layers'; the fields here are the rest.
type qwen35 struct {
	fullAttnInterval int
	ropeDims         int      // rotated dims per attention head
	ropeSections     [4]int32 // M-RoPE sections (t, h, w, e)

	// DeltaNet layers.
	convKernel     int
	kHeads, vHeads int // query/key heads and value heads
	// headDim is the DeltaNet key and value head size; llama.cpp's loader
	// requires the two to be equal.
	headDim int
}

func (qwen35) name() string { return "qwen35" }

// The ssm.* keys carry the DeltaNet shape under Mamba's names, as llama.cpp's
// converter writes them: state_size is the key head size, group_count the
// key heads, time_step_rank the value heads and inner_size the value width.
func (a qwen35) hparams(p preset) []gguf.KV {
	key := archKey(a.name())
	return append(shapeKeys(key, p),
		key("attention.key_length", uint32(p.headDim)),
		key("attention.value_length", uint32(p.headDim)),
		key("attention.layer_norm_rms_epsilon", p.normEps),
		key("rope.freq_base", p.ropeBase),
		key("rope.dimension_count", uint32(a.ropeDims)),
		key("rope.dimension_sections", gguf.Array{Elem: gguf.ValInt32, Values: a.ropeSections[:]}),
		key("ssm.conv_kernel", uint32(a.convKernel)),
		key("ssm.state_size", uint32(a.headDim)),
		key("ssm.group_count", uint32(a.kHeads)),
		key("ssm.time_step_rank", uint32(a.vHeads)),
		key("ssm.inner_size", uint32(a.vHeads*a.headDim)),
		key("full_attention_interval", uint32(a.fullAttnInterval)),
		key("vocab_size", uint32(p.vocab)),
	)
}

// tensors follows the order of llama.cpp's converter output (the reference
// file's): token_embd first, then the blocks, output_norm last.
func (a qwen35) tensors(t *tensorSet, p preset) {
	t.embeddings(p)
	for l := range p.layers {
		b := fmt.Sprintf("blk.%d.", l)
		t.vector(b+"attn_norm.weight", p.embd, ones)
		if (l+1)%a.fullAttnInterval != 0 {
			a.deltaNet(t, p, l, b)
		} else {
			a.attention(t, p, l, b)
		}
		t.vector(b+"post_attention_norm.weight", p.embd, ones)
		t.ffn(p, l, b)
	}
	t.vector("output_norm.weight", p.embd, ones)
}

// deltaNet adds a Gated DeltaNet mixer. Its random values keep the
// recurrence tame: the decay exp(ssm_a · softplus(alpha + dt_bias)) stays in
// (0, 1) because ssm_a is negative, and the convolution roughly halves the
// RMS of its input instead of growing it.
func (a qwen35) deltaNet(t *tensorSet, p preset, layer int, b string) {
	inner := a.vHeads * a.headDim
	channels := 2*a.kHeads*a.headDim + inner // q, k, then v
	t.matrix(b+"attn_qkv.weight", layer, channels, p.embd, ws(p.embd))
	t.matrix(b+"attn_gate.weight", layer, inner, p.embd, ws(p.embd))
	// The convolution and the 1-D tensors stay F32 in every file type:
	// llama.cpp's converter and llama-quantize never change them.
	t.float32s(b+"ssm_conv1d.weight", []int{a.convKernel, channels}, t.uniform(-0.5, 0.5))
	t.vector(b+"ssm_dt.bias", a.vHeads, t.uniform(0, 1))
	t.vector(b+"ssm_a", a.vHeads, t.uniform(-1, -0.05))
	t.matrix(b+"ssm_beta.weight", layer, a.vHeads, p.embd, ws(p.embd))
	t.matrix(b+"ssm_alpha.weight", layer, a.vHeads, p.embd, ws(p.embd))
	t.vector(b+"ssm_norm.weight", a.headDim, ones)
	t.matrix(b+"ssm_out.weight", layer, p.embd, inner, ws(inner))
}

// attention adds a gated attention mixer: attn_q yields each head's query
// followed by its output gate, hence twice the query width.
func (a qwen35) attention(t *tensorSet, p preset, layer int, b string) {
	t.matrix(b+"attn_q.weight", layer, 2*p.heads*p.headDim, p.embd, ws(p.embd))
	t.matrix(b+"attn_k.weight", layer, p.kvHeads*p.headDim, p.embd, ws(p.embd))
	t.matrix(b+"attn_v.weight", layer, p.kvHeads*p.headDim, p.embd, ws(p.embd))
	t.matrix(b+"attn_output.weight", layer, p.embd, p.heads*p.headDim, ws(p.heads*p.headDim))
	t.vector(b+"attn_q_norm.weight", p.headDim, ones)
	t.vector(b+"attn_k_norm.weight", p.headDim, ones)
}
