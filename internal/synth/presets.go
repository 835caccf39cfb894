package synth

import (
	"strings"

	"github.com/quant-llm/quant/internal/gguf"
)

// preset is the shape of a real model. The fields shared by every
// architecture live here; arch holds the rest and writes the
// architecture's own metadata and tensors.
type preset struct {
	name                                  string
	arch                                  architecture
	embd, layers, heads, kvHeads, headDim int
	ffn, vocab, context                   int
	ropeBase, normEps                     float32
	tied                                  bool
	tok                                   tokenizer
}

// tokenizer describes the vocabulary: its size is the preset's vocab, its
// control tokens come first (ids 0, 1, ...), and bos, eos and pad name
// some of them (pad "" writes no padding_token_id).
type tokenizer struct {
	pre           string // tokenizer.ggml.pre
	specials      []string
	bos, eos, pad string
	addBOS        bool
	template      string
}

const chatML = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

const llama3Template = "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"

// qwenChatML is the ChatML core of Qwen3.5's template, without the tool-call
// and <think> handling of the real one (random weights do not reason).
const qwenChatML = "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"

var smolTokenizer = tokenizer{pre: "smollm", specials: []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"},
	bos: "<|im_start|>", eos: "<|im_end|>", template: chatML}

// qwen35Tokenizer names its specials as llama.cpp's converter does for
// Qwen3.5: BOS and padding are <|endoftext|>, EOS is <|im_end|>, and no BOS
// is added to prompts.
var qwen35Tokenizer = tokenizer{pre: "qwen35", specials: []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"},
	bos: "<|endoftext|>", eos: "<|im_end|>", pad: "<|endoftext|>", template: qwenChatML}

// qwen3Tokenizer is Qwen3's as llama.cpp's converter writes it: the qwen2
// pre-tokenizer, <|endoftext|> for BOS and padding, <|im_end|> for EOS, no
// BOS added to prompts.
var qwen3Tokenizer = tokenizer{pre: "qwen2", specials: []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"},
	bos: "<|endoftext|>", eos: "<|im_end|>", pad: "<|endoftext|>", template: qwenChatML}

// Qwen3-4B's shape is the published config.json's: hidden_size 2560,
// num_hidden_layers 36, num_attention_heads 32, num_key_value_heads 8,
// head_dim 128, intermediate_size 9728, vocab_size 151936, rope_theta 1e6,
// rms_norm_eps 1e-6, tie_word_embeddings true, max_position_embeddings
// 40960.
//
// The Qwen3.5 shapes were checked against the text_config of the published
// Hugging Face config.json files (copies of them quoted in public code,
// found with the reference search):
//
//   - Qwen/Qwen3.5-4B: hidden_size 2560, num_hidden_layers 32, layer_types
//     8 × (3 linear_attention + full_attention), full_attention_interval 4,
//     intermediate_size 9216, num_attention_heads 16, num_key_value_heads 4,
//     head_dim 256, linear_num_key_heads 16, linear_num_value_heads 32,
//     linear_key_head_dim = linear_value_head_dim = 128,
//     linear_conv_kernel_dim 4, rope_theta 1e7, partial_rotary_factor 0.25,
//     mrope_section [11, 11, 10], rms_norm_eps 1e-6, vocab_size 248320,
//     tie_word_embeddings true, max_position_embeddings 262144.
//   - Qwen/Qwen3.5-0.8B: hidden_size 1024, num_hidden_layers 24 (the same
//     3:1 pattern, interval 4), intermediate_size 3584, num_attention_heads
//     8, num_key_value_heads 2, head_dim 256, linear_num_key_heads 16,
//     linear_num_value_heads 16, linear key/value head dims 128, conv kernel
//     4, rope_theta 1e7, partial_rotary_factor 0.25, mrope_section
//     [11, 11, 10], rms_norm_eps 1e-6, vocab_size 248320, tied embeddings,
//     max_position_embeddings 262144.
//
// They map to GGUF as llama.cpp's convert_hf_to_gguf.py (Qwen3NextModel)
// maps them: rope.dimension_count = head_dim × partial_rotary_factor, and
// the mrope_section padded with a 0 to four sections.
var presets = map[string]preset{
	"smollm2-135m": {name: "SmolLM2-135M (synthetic)", arch: llama{}, embd: 576, layers: 30, heads: 9, kvHeads: 3, headDim: 64,
		ffn: 1536, vocab: 49152, context: 8192, ropeBase: 100000, normEps: 1e-5, tied: true, tok: smolTokenizer},
	"smollm2-360m": {name: "SmolLM2-360M (synthetic)", arch: llama{}, embd: 960, layers: 32, heads: 15, kvHeads: 5, headDim: 64,
		ffn: 2560, vocab: 49152, context: 8192, ropeBase: 100000, normEps: 1e-5, tied: true, tok: smolTokenizer},
	"smollm2-1.7b": {name: "SmolLM2-1.7B (synthetic)", arch: llama{}, embd: 2048, layers: 24, heads: 32, kvHeads: 32, headDim: 64,
		ffn: 8192, vocab: 49152, context: 8192, ropeBase: 130000, normEps: 1e-5, tied: true, tok: smolTokenizer},
	"llama-3.2-1b": {name: "Llama-3.2-1B (synthetic)", arch: llama{llama3Rope: true}, embd: 2048, layers: 16, heads: 32, kvHeads: 8,
		headDim: 64, ffn: 8192, vocab: 128256, context: 131072, ropeBase: 500000, normEps: 1e-5, tied: true,
		tok: tokenizer{pre: "llama-bpe",
			specials: []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
			bos:      "<|begin_of_text|>", eos: "<|eot_id|>", addBOS: true, template: llama3Template}},
	"qwen3-4b": {name: "Qwen3-4B (synthetic)", arch: llama{qwen3: true}, embd: 2560, layers: 36, heads: 32, kvHeads: 8, headDim: 128,
		ffn: 9728, vocab: 151936, context: 40960, ropeBase: 1e6, normEps: 1e-6, tied: true, tok: qwen3Tokenizer},
	"qwen3.5-4b": {name: "Qwen3.5-4B (synthetic)", arch: qwen35{fullAttnInterval: 4, ropeDims: 64, ropeSections: [4]int32{11, 11, 10, 0},
		convKernel: 4, kHeads: 16, vHeads: 32, headDim: 128}, embd: 2560, layers: 32, heads: 16, kvHeads: 4, headDim: 256,
		ffn: 9216, vocab: 248320, context: 262144, ropeBase: 1e7, normEps: 1e-6, tied: true, tok: qwen35Tokenizer},
	"qwen3.5-0.8b": {name: "Qwen3.5-0.8B (synthetic)", arch: qwen35{fullAttnInterval: 4, ropeDims: 64, ropeSections: [4]int32{11, 11, 10, 0},
		convKernel: 4, kHeads: 16, vHeads: 16, headDim: 128}, embd: 1024, layers: 24, heads: 8, kvHeads: 2, headDim: 256,
		ffn: 3584, vocab: 248320, context: 262144, ropeBase: 1e7, normEps: 1e-6, tied: true, tok: qwen35Tokenizer},
}

// mix chooses each quantizable tensor's type, as llama-quantize does for a
// file type. Tensors llama.cpp never quantizes (norms, biases, ssm_a,
// ssm_conv1d) are written as F32 without asking it.
type mix struct {
	fileType uint32
	pick     func(name string, layer, layers int, rowLen int) gguf.GGMLType
}

var mixes = map[string]mix{
	"f16":  {1, func(string, int, int, int) gguf.GGMLType { return gguf.TypeF16 }},
	"q8_0": {7, func(string, int, int, int) gguf.GGMLType { return gguf.TypeQ8_0 }},
	"q4_k_m": {15, func(name string, layer, layers, rowLen int) gguf.GGMLType {
		// llama.cpp src/llama-quant.cpp, llama_tensor_get_type_impl for
		// LLAMA_FTYPE_MOSTLY_Q4_K_M.
		t := gguf.TypeQ4_K
		switch {
		case name == "token_embd.weight" || name == "output.weight":
			// Q6_K for the LM head, which token_embd is when tied (every
			// preset here is).
			t = gguf.TypeQ6_K
		case strings.HasSuffix(name, "attn_v.weight") || strings.HasSuffix(name, "attn_qkv.weight") ||
			strings.HasSuffix(name, "ffn_down.weight"):
			// attn_qkv is in the attn_v category (category_is_attn_v) and
			// shares its counter. llama.cpp counts these tensors in its
			// loader's order, by layer, and every layer here has exactly one
			// attn_v or attn_qkv and one ffn_down, so the count is the layer.
			if moreBits(layer, layers) {
				t = gguf.TypeQ6_K
			}
		}
		// K-quants need rows of whole 256-value super-blocks; llama.cpp
		// falls back to a 32-value block type otherwise
		// (tensor_type_fallback).
		if rowLen%gguf.QK_K != 0 {
			if t == gguf.TypeQ6_K {
				return gguf.TypeQ8_0
			}
			return gguf.TypeQ5_0
		}
		return t
	}},
}

// moreBits is llama.cpp's use_more_bits: the first and last eighth of the
// layers, and every third layer in between, get a bigger type.
func moreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}
