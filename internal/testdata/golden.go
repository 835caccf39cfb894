package testdata

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden is the part of a golden JSON file (golden/<model>.json, written by
// llama.cpp) that the tests use.
type Golden struct {
	Model   string
	NVocab  int `json:"n_vocab"`
	Prompts []struct {
		Name string  `json:"name"`
		IDs  []int32 `json:"ids"`
	} `json:"prompts"`
	Eval struct {
		Tokens   []int32 `json:"tokens"`
		NoRepack *struct {
			LogitsFile string `json:"logits_file"`
		} `json:"no_repack_variant"`
	} `json:"eval"`
	Greedy struct {
		IDs []int32 `json:"ids"`
		// TopMargin holds, per step, llama.cpp's top logit and its margin over the second.
		TopMargin [][]float64 `json:"top1_logit_and_margin"`
	} `json:"greedy"`
	Perplexity struct {
		Runs map[string]struct {
			FinalPPL float64 `json:"final_ppl"`
		} `json:"runs"`
	} `json:"perplexity"`
	Wiki struct {
		FirstTokens []int32 `json:"first_tokens"`
	} `json:"wiki_tokenization"`
}

// LoadGolden reads the golden file of the model at modelPath.
func LoadGolden(t testing.TB, modelPath string) *Golden {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(modelPath), ".gguf")
	raw, err := os.ReadFile(Path(t, "golden", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Golden{Model: name}
	if err := json.Unmarshal(raw, g); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	return g
}

// ReferenceLogits returns llama.cpp's logits of the eval sequence ([64][n_vocab])
// with an F32 KV cache, from its reference (no-repack) path where there is one.
func (g *Golden) ReferenceLogits(t testing.TB) (file string, logits []float32) {
	t.Helper()
	file = g.Model + ".logits.f32"
	if g.Eval.NoRepack != nil {
		file = g.Eval.NoRepack.LogitsFile
	}
	return file, readFloats(t, Path(t, "golden", file))
}

// CheckLogits logs the largest and the mean absolute difference of got
// from want and fails the test where they exceed maxTol or meanTol (pass
// math.Inf(1) for a bound not to check) or the lengths differ.
func CheckLogits(t testing.TB, what string, got, want []float32, maxTol, meanTol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	maxDiff, mean := MaxMeanAbsDiff(got, want)
	t.Logf("%s: max abs %.3g, mean abs %.3g", what, maxDiff, mean)
	if maxDiff > maxTol || mean > meanTol {
		t.Errorf("%s: max abs %.4g (limit %g), mean abs %.4g (limit %g)", what, maxDiff, maxTol, mean, meanTol)
	}
}

// MaxMeanAbsDiff returns the largest and the mean absolute difference.
func MaxMeanAbsDiff(a, b []float32) (maxAbs, meanAbs float64) {
	for i := range a {
		d := math.Abs(float64(a[i] - b[i]))
		maxAbs = max(maxAbs, d)
		meanAbs += d
	}
	return maxAbs, meanAbs / float64(len(a))
}
