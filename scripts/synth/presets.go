package main

import (
	"strings"

	"github.com/quant-llm/quant/internal/gguf"
)

// preset is the shape of a real model.
type preset struct {
	name                        string
	embd, layers, heads, kvHead int
	ffn, vocab, context         int
	ropeBase                    float32
	tied                        bool
	// llama3Rope adds Llama 3.1+ rope scaling (a rope_freqs tensor).
	llama3Rope bool
	pre        string   // tokenizer.ggml.pre
	specials   []string // control tokens placed first in the vocabulary
	template   string
}

const chatML = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

const llama3Template = "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"

var smolSpecials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

var presets = map[string]preset{
	"smollm2-135m": {name: "SmolLM2-135M (synthetic)", embd: 576, layers: 30, heads: 9, kvHead: 3, ffn: 1536,
		vocab: 49152, context: 8192, ropeBase: 100000, tied: true, pre: "smollm", specials: smolSpecials, template: chatML},
	"smollm2-360m": {name: "SmolLM2-360M (synthetic)", embd: 960, layers: 32, heads: 15, kvHead: 5, ffn: 2560,
		vocab: 49152, context: 8192, ropeBase: 100000, tied: true, pre: "smollm", specials: smolSpecials, template: chatML},
	"smollm2-1.7b": {name: "SmolLM2-1.7B (synthetic)", embd: 2048, layers: 24, heads: 32, kvHead: 32, ffn: 8192,
		vocab: 49152, context: 8192, ropeBase: 130000, tied: true, pre: "smollm", specials: smolSpecials, template: chatML},
	"llama-3.2-1b": {name: "Llama-3.2-1B (synthetic)", embd: 2048, layers: 16, heads: 32, kvHead: 8, ffn: 8192,
		vocab: 128256, context: 131072, ropeBase: 500000, tied: true, llama3Rope: true, pre: "llama-bpe",
		specials: []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
		template: llama3Template},
}

// mix chooses each tensor's type, as llama-quantize does for a file type.
type mix struct {
	fileType uint32
	pick     func(name string, layer, layers int, rowLen int) gguf.GGMLType
}

var mixes = map[string]mix{
	"f16":  {1, func(string, int, int, int) gguf.GGMLType { return gguf.TypeF16 }},
	"q8_0": {7, func(string, int, int, int) gguf.GGMLType { return gguf.TypeQ8_0 }},
	"q4_k_m": {15, func(name string, layer, layers, rowLen int) gguf.GGMLType {
		t := gguf.TypeQ4_K
		switch {
		case name == "token_embd.weight" || name == "output.weight":
			t = gguf.TypeQ6_K
		case strings.HasSuffix(name, "attn_v.weight") || strings.HasSuffix(name, "ffn_down.weight"):
			if moreBits(layer, layers) {
				t = gguf.TypeQ6_K
			}
		}
		// K-quants need rows of whole 256-value super-blocks; llama.cpp
		// falls back to a 32-value block type otherwise.
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
