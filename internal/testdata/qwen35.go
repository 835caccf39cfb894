package testdata

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Qwen35 is a tiny Qwen3.5 fixture (qwen35/<model>.json, written from
// llama.cpp): its input, the logits llama.cpp computed for it and, for the
// F32 model, its perplexity run.
type Qwen35 struct {
	Model string
	Path  string // the .gguf file
	Input struct {
		Tokens []int32 `json:"token_ids"`
	} `json:"input"`
	Outputs struct {
		Greedy struct {
			Prompt    []int32   `json:"prompt_token_ids"`
			IDs       []int32   `json:"generated_ids"`
			TopLogit  []float64 `json:"top1_logit"`
			TopMargin []float64 `json:"top1_minus_top2_margin"`
		} `json:"greedy"`
	} `json:"outputs"`
	Perplexity *struct {
		Golden struct {
			PPL float64 `json:"final_estimate_ppl"`
		} `json:"golden_settings"`
		Chunkwise struct {
			Context int `json:"n_ctx"`
			Chunks  int `json:"n_chunks"`
		} `json:"chunkwise_reference"`
	} `json:"perplexity_wiki_test_raw"`
}

// Qwen35Models loads the fixtures of every tiny Qwen3.5 model.
func Qwen35Models(t testing.TB) []*Qwen35 {
	t.Helper()
	var out []*Qwen35
	for _, p := range Glob(t, "qwen35", "*.gguf") {
		name := strings.TrimSuffix(filepath.Base(p), ".gguf")
		raw, err := os.ReadFile(strings.TrimSuffix(p, ".gguf") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		q := &Qwen35{Model: name, Path: p}
		if err := json.Unmarshal(raw, q); err != nil {
			t.Fatalf("%s.json: %v", name, err)
		}
		out = append(out, q)
	}
	return out
}

// Logits reads one of the model's logits files: "logits" (the input in one
// batch), "decode" (one token at a time) or "greedy" (each greedy step).
func (q *Qwen35) Logits(t testing.TB, kind string) []float32 {
	t.Helper()
	file := q.Model + ".logits.f32"
	if kind != "logits" {
		file = q.Model + "." + kind + ".logits.f32"
	}
	return readFloats(t, filepath.Join(filepath.Dir(q.Path), file))
}

// PerplexityTokens reads the tokens the F32 model's perplexity run scored.
func (q *Qwen35) PerplexityTokens(t testing.TB) []int32 {
	t.Helper()
	raw, err := os.ReadFile(strings.TrimSuffix(q.Path, ".gguf") + ".ppl.tokens.i32")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int32, len(raw)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

func readFloats(t testing.TB, path string) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}
