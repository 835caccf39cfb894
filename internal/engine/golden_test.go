package engine_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
	"github.com/quant-llm/quant/internal/tokenizer"
)

type goldenModel struct {
	name string
	path string
	g    *testdata.Golden
	dir  string
}

func goldenModels(t *testing.T) []goldenModel {
	dir := testdata.Dir(t)
	var out []goldenModel
	for _, path := range testdata.Models(t) {
		g := testdata.LoadGolden(t, path)
		out = append(out, goldenModel{name: g.Model, path: path, g: g, dir: dir})
	}
	return out
}

// TestGoldenLogits compares the logits of the 64-token eval sequence, with
// an F32 KV cache, against llama.cpp's, and checks greedy continuations.
func TestGoldenLogits(t *testing.T) {
	for _, gm := range goldenModels(t) {
		t.Run(gm.name, func(t *testing.T) {
			r := enginetest.CPURunner(t, gm.path, engine.Options{Context: 128, Batch: 128, AllLogits: true})
			got, err := r.Forward(gm.g.Eval.Tokens, 0)
			if err != nil {
				t.Fatal(err)
			}
			file, want := gm.g.ReferenceLogits(t)
			if len(got) != len(want) {
				t.Fatalf("%d logits, golden has %d", len(got), len(want))
			}
			maxDiff, mean := testdata.MaxMeanAbsDiff(got, want)
			maxTol, meanTol := testdata.CPULogitTolerance(gm.name)
			identical := 0
			for i := range got {
				if math.Float32bits(got[i]) == math.Float32bits(want[i]) {
					identical++
				}
			}
			t.Logf("logits vs llama.cpp (%s): max abs %.3g, mean abs %.3g, %d of %d bit-identical",
				file, maxDiff, mean, identical, len(got))
			if maxDiff > maxTol || mean > meanTol {
				t.Errorf("logits differ: max abs %.4g (limit %g), mean abs %.4g (limit %g)", maxDiff, maxTol, mean, meanTol)
			}
			// The assembly kernels add in llama.cpp's orders: every model
			// but stories260K (whose 172-wide FFN differs in the last bits
			// for a reason not yet found) must give its logits exactly.
			if cpu.AssemblyKernels() && gm.name != "stories260K" && identical != len(got) {
				t.Errorf("%d of %d logits differ from llama.cpp's in the last bits; the assembly kernels reproduce them exactly", len(got)-identical, len(got))
			}
			checkGreedy(t, gm, maxDiff)
		})
	}
}

// checkGreedy runs llama.cpp's greedy continuation. Quantized (and F16)
// weights amplify rounding differences, so a different token is accepted
// only at a step whose recorded top-2 margin is below the largest logit
// difference measured: over the eval sequence, or of the top logit on the
// greedy steps so far.
func checkGreedy(t *testing.T, gm goldenModel, evalDiff float64) {
	r := enginetest.CPURunner(t, gm.path, engine.Options{Context: 128, Batch: 128})
	s := engine.NewSession(r)
	logits, err := s.Prefill(context.Background(), gm.g.Prompts[0].IDs)
	if err != nil {
		t.Fatal(err)
	}
	// With the assembly kernels each step's top logit must be llama.cpp's
	// exactly (the JSON's 9 digits identify a float32), except where
	// llama.cpp repacked the weights for these runs and for stories260K.
	exact := cpu.AssemblyKernels() && gm.g.Eval.NoRepack == nil && gm.name != "stories260K"
	measured := evalDiff
	for step, want := range gm.g.Greedy.IDs {
		got := engine.Argmax(logits)
		top, margin := gm.g.Greedy.TopMargin[step][0], gm.g.Greedy.TopMargin[step][1]
		if got != want {
			if testdata.Unquantized(gm.name) || margin >= measured {
				t.Fatalf("greedy step %d: token %d, llama.cpp chose %d (margin %.4f, measured difference %.4f)", step, got, want, margin, measured)
			}
			t.Logf("greedy: identical for %d steps; step %d differs where llama.cpp's top-2 margin %.4f is below the measured logit difference %.4f", step, step, margin, measured)
			return
		}
		if exact && logits[got] != float32(top) {
			t.Errorf("greedy step %d: top logit %.9g, llama.cpp's %.9g", step, logits[got], top)
		}
		measured = max(measured, math.Abs(float64(logits[got])-top))
		if logits, err = s.Prefill(context.Background(), []int32{got}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("greedy: all %d tokens identical; top logits within %.3g of llama.cpp's", len(gm.g.Greedy.IDs), measured)
}

// TestGoldenPerplexity runs llama.cpp's perplexity method (-c 128 -b 128
// --chunks 20) and compares the final estimate with llama-perplexity's.
func TestGoldenPerplexity(t *testing.T) {
	if testing.Short() {
		t.Skip("perplexity over 11 models is slow")
	}
	for _, gm := range goldenModels(t) {
		t.Run(gm.name, func(t *testing.T) {
			// llama-perplexity's default run uses flash attention, which
			// quant does not have; its fa_off_kv_f16 run is the same
			// computation as ours with an F16 cache. For models whose
			// Q4_0/Q4_K weights llama.cpp repacks, its no_repack run is
			// the one that multiplies as quant does.
			for _, c := range []struct {
				runs  []string
				cache gguf.GGMLType
			}{{[]string{"default", "fa_off_kv_f16"}, gguf.TypeF16}, {[]string{"fa_off_kv_f32", "fa_off_kv_f32_no_repack"}, gguf.TypeF32}} {
				m := enginetest.Open(t, gm.path)
				r := enginetest.Runner(t, m, enginetest.CPU(t), engine.Options{Context: 128, Batch: 128, CacheK: c.cache, CacheV: c.cache, AllLogits: true})
				tok, err := tokenizer.FromGGUF(m.File)
				if err != nil {
					t.Fatal(err)
				}
				tokens := wikiTokens(t, gm, tok)
				res, err := engine.Perplexity(context.Background(), r, tokens,
					engine.PerplexityConfig{Context: 128, Chunks: 20, BOS: tok.BOS(), AddBOS: tok.AddBOS()}, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, run := range c.runs {
					ref, ok := gm.g.Perplexity.Runs[run]
					if !ok {
						continue // only repacked models have a no_repack run
					}
					want := ref.FinalPPL
					rel := math.Abs(res.PPL-want) / want
					t.Logf("%s: PPL %.4f, llama.cpp %.4f (%+.3f%%)", run, res.PPL, want, 100*(res.PPL-want)/want)
					if rel > 0.005 {
						t.Errorf("%s: PPL %.4f differs from llama.cpp's %.4f by %.2f%% (limit 0.5%%)", run, res.PPL, want, 100*rel)
					}
				}
			}
		})
	}
}

// wikiTokens tokenizes the start of wiki.test.raw (enough for 20 chunks of
// 128) and checks the ids against llama.cpp's tokenization of the whole file.
func wikiTokens(t *testing.T, gm goldenModel, tok *tokenizer.Tokenizer) []int32 {
	text, err := os.ReadFile(filepath.Join(gm.dir, "text", "wiki.test.raw"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode(string(text[:64<<10]), true, false)
	if err != nil {
		t.Fatal(err)
	}
	want := gm.g.Wiki.FirstTokens
	ids = ids[:len(want)]
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("wiki token %d: %d, llama.cpp %d", i, ids[i], want[i])
		}
	}
	return ids
}

// TestGoldenPerplexityQuantizedCache compares perplexity with quantized KV
// caches against llama-perplexity's runs with the same -ctk/-ctv (flash
// attention on, as llama.cpp requires for a quantized V cache; and the F16
// cache through the same path) within 0.1%: q8_0 moves these models' perplexity by only 0.1-0.4% and q4_0 by
// 0.6-1.3%, so a looser match would not show the cache is quantized as
// llama.cpp quantizes it. A model whose heads do not hold whole blocks
// (stories260K: 8 values) must refuse such a cache.
func TestGoldenPerplexityQuantizedCache(t *testing.T) {
	if testing.Short() {
		t.Skip("perplexity over 11 models is slow")
	}
	runs := []struct {
		name string
		k, v gguf.GGMLType
	}{
		{"kv_f16_fa_on", gguf.TypeF16, gguf.TypeF16},
		{"kv_q8_0", gguf.TypeQ8_0, gguf.TypeQ8_0},
		{"kv_q4_0", gguf.TypeQ4_0, gguf.TypeQ4_0},
		{"kv_q5_1", gguf.TypeQ5_1, gguf.TypeQ5_1},
		{"kv_k_q8_0_v_f16", gguf.TypeQ8_0, gguf.TypeF16},
	}
	for _, gm := range goldenModels(t) {
		t.Run(gm.name, func(t *testing.T) {
			for _, run := range runs {
				ref, ok := gm.g.Perplexity.Runs[run.name]
				opts := engine.Options{Context: 128, Batch: 128, CacheK: run.k, CacheV: run.v, FlashAttention: true, AllLogits: true}
				m := enginetest.Open(t, gm.path)
				r, err := engine.NewRunner(m, enginetest.CPU(t), opts)
				if gm.name == "stories260K" && run.k != gguf.TypeF16 {
					if err == nil || !strings.Contains(err.Error(), "heads have 8") {
						t.Errorf("%s: error %v, want one about heads of 8 values", run.name, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					continue // llama.cpp ran these caches on five of the models
				}
				tok, err := tokenizer.FromGGUF(m.File)
				if err != nil {
					t.Fatal(err)
				}
				res, err := engine.Perplexity(context.Background(), r, wikiTokens(t, gm, tok),
					engine.PerplexityConfig{Context: 128, Chunks: 20, BOS: tok.BOS(), AddBOS: tok.AddBOS()}, nil)
				if err != nil {
					t.Fatal(err)
				}
				rel := math.Abs(res.PPL-ref.FinalPPL) / ref.FinalPPL
				t.Logf("%s: PPL %.4f, llama.cpp %.4f (%+.4f%%)", run.name, res.PPL, ref.FinalPPL, 100*(res.PPL-ref.FinalPPL)/ref.FinalPPL)
				if rel > 0.001 {
					t.Errorf("%s: PPL %.4f differs from llama.cpp's %.4f by %.3f%% (limit 0.1%%)", run.name, res.PPL, ref.FinalPPL, 100*rel)
				}
			}
		})
	}
}
