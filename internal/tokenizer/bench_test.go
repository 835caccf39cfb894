package tokenizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/quant-llm/quant/internal/testdata"
)

// benchText is the first megabyte of wiki.test.raw (English prose).
func benchText(b *testing.B) string {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(testdata.Dir(b), "text", "wiki.test.raw"))
	if err != nil {
		b.Fatal(err)
	}
	n := min(len(data), 1<<20)
	for n < len(data) && data[n]&0xC0 == 0x80 { // do not cut a character
		n++
	}
	return string(data[:n])
}

func benchmarkEncode(b *testing.B, elems ...string) {
	text := benchText(b)
	tok := openTokenizer(b, elems...)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := tok.Encode(text, true, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeBPESmolLM: tiny-bpe (GPT-2 merges, smollm pre-tokenizer).
func BenchmarkEncodeBPESmolLM(b *testing.B) { benchmarkEncode(b, "models", "tiny-bpe-q4_k_m.gguf") }

// BenchmarkEncodeBPEGPT2: the full 50k GPT-2 vocabulary.
func BenchmarkEncodeBPEGPT2(b *testing.B) { benchmarkEncode(b, "vocab", "ggml-vocab-gpt-2.gguf") }

// BenchmarkEncodeBPEDeepseekLLM: a regexp2 pre-tokenizer cascade.
func BenchmarkEncodeBPEDeepseekLLM(b *testing.B) {
	benchmarkEncode(b, "vocab", "ggml-vocab-deepseek-llm.gguf")
}

// BenchmarkEncodeSPMLlama: the 32k Llama 2 SentencePiece vocabulary.
func BenchmarkEncodeSPMLlama(b *testing.B) { benchmarkEncode(b, "vocab", "ggml-vocab-llama-spm.gguf") }

// BenchmarkEncodeSPMStories: the 512-token SentencePiece vocabulary.
func BenchmarkEncodeSPMStories(b *testing.B) { benchmarkEncode(b, "models", "stories260K.gguf") }

func BenchmarkDecode(b *testing.B) {
	text := benchText(b)
	tok := openTokenizer(b, "vocab", "ggml-vocab-gpt-2.gguf")
	ids, err := tok.Encode(text, false, false)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := tok.Detokenize(ids, false, false); err != nil {
			b.Fatal(err)
		}
	}
}
