package engine_test

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
	"github.com/quant-llm/quant/internal/tokenizer"
)

// qwen35Tolerance is the accepted max and mean absolute logit difference
// from llama.cpp for a tiny Qwen3.5 model: F32 rounding for F32 weights;
// for quantized weights, the activation-rounding flips that llama.cpp's own
// float64 reference shows (about 0.01-0.1 each, carried on by the
// recurrent state).
func qwen35Tolerance(model string) (maxAbs, meanAbs float64) {
	if model == "tiny-qwen35-F32" {
		return 1e-4, 1e-5
	}
	return 0.35, 0.05
}

// TestQwen35Logits compares the logits of the fixture's 48 tokens with
// llama.cpp's, evaluated in one batch and one token at a time, and the two
// runs with each other.
func TestQwen35Logits(t *testing.T) {
	for _, q := range testdata.Qwen35Models(t) {
		t.Run(q.Model, func(t *testing.T) {
			maxTol, meanTol := qwen35Tolerance(q.Model)
			tokens := q.Input.Tokens
			r := enginetest.CPURunner(t, q.Path, engine.Options{Context: 128, Batch: 64, AllLogits: true})
			batch, err := r.Forward(tokens, 0)
			if err != nil {
				t.Fatal(err)
			}
			batch = append([]float32(nil), batch...)
			testdata.CheckLogits(t, "batch vs llama.cpp", batch, q.Logits(t, "logits"), maxTol, meanTol)

			var decode []float32
			for pos, tok := range tokens {
				logits, err := r.Forward([]int32{tok}, pos)
				if err != nil {
					t.Fatal(err)
				}
				decode = append(decode, logits...)
			}
			testdata.CheckLogits(t, "token by token vs llama.cpp", decode, q.Logits(t, "decode"), maxTol, meanTol)
			testdata.CheckLogits(t, "batch vs token by token", batch, decode, maxTol, meanTol)
		})
	}
}

// TestQwen35Greedy runs llama.cpp's greedy continuation: the first 8 ids as
// one batch, then 24 steps one token at a time. F32 and Q8_0 must choose
// every token as llama.cpp did; Q4_K_M may differ only at a step whose
// recorded top-2 margin is below the logit difference measured so far.
func TestQwen35Greedy(t *testing.T) {
	for _, q := range testdata.Qwen35Models(t) {
		t.Run(q.Model, func(t *testing.T) {
			g := q.Outputs.Greedy
			r := enginetest.CPURunner(t, q.Path, engine.Options{Context: 128, Batch: 64})
			s := engine.NewSession(r)
			logits, err := s.Prefill(context.Background(), g.Prompt)
			if err != nil {
				t.Fatal(err)
			}
			want := q.Logits(t, "greedy")
			vocab := len(want) / len(g.IDs)
			var measured float64
			for step, id := range g.IDs {
				d, _ := testdata.MaxMeanAbsDiff(logits, want[step*vocab:(step+1)*vocab])
				measured = max(measured, d)
				if got := engine.Argmax(logits); got != id {
					if q.Model != "tiny-qwen35-Q4_K_M" || g.TopMargin[step] >= measured {
						t.Fatalf("greedy step %d: token %d, llama.cpp chose %d (margin %.4f, measured difference %.4f)", step, got, id, g.TopMargin[step], measured)
					}
					t.Logf("greedy: identical for %d steps; step %d differs where llama.cpp's margin %.4f is below the logit difference %.4f", step, step, g.TopMargin[step], measured)
					return
				}
				if logits, err = s.Prefill(context.Background(), []int32{id}); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("greedy: all %d tokens identical; step logits within %.3g of llama.cpp's", len(g.IDs), measured)
		})
	}
}

// TestQwen35Perplexity runs llama-perplexity's method (-c 64 --chunks 10) on
// the F32 model: the text tokenized as llama.cpp did, each chunk from a
// fresh state, within 0.5% of llama.cpp's estimate.
func TestQwen35Perplexity(t *testing.T) {
	for _, q := range testdata.Qwen35Models(t) {
		if q.Perplexity == nil {
			continue
		}
		t.Run(q.Model, func(t *testing.T) {
			m := enginetest.Open(t, q.Path)
			r := enginetest.Runner(t, m, enginetest.CPU(t), engine.Options{Context: 64, Batch: 64, AllLogits: true})
			tok, err := tokenizer.FromGGUF(m.File)
			if err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(testdata.Path(t, "text", "wiki.test.raw"))
			if err != nil {
				t.Fatal(err)
			}
			want := q.PerplexityTokens(t)
			ids, err := tok.Encode(string(text[:16<<10]), true, false)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if ids[i] != want[i] {
					t.Fatalf("wiki token %d: %d, llama.cpp %d", i, ids[i], want[i])
				}
			}
			pc := q.Perplexity.Chunkwise
			res, err := engine.Perplexity(context.Background(), r, ids, engine.PerplexityConfig{Context: pc.Context, Chunks: pc.Chunks}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref := q.Perplexity.Golden.PPL
			rel := math.Abs(res.PPL-ref) / ref
			t.Logf("PPL %.4f, llama.cpp %.4f (%+.4f%%)", res.PPL, ref, 100*(res.PPL-ref)/ref)
			if rel > 0.005 {
				t.Errorf("PPL %.4f differs from llama.cpp's %.4f by %.3f%% (limit 0.5%%)", res.PPL, ref, 100*rel)
			}
		})
	}
}

// TestQwen35Session: a recurrent state cannot go back, so a session that
// continues a conversation evaluates only the new tokens, and one whose
// history diverges starts over; both give the logits of a fresh run.
func TestQwen35Session(t *testing.T) {
	q := testdata.Qwen35Models(t)[0]
	tokens := q.Input.Tokens
	fresh := func(prefix []int32) []float32 {
		r := enginetest.CPURunner(t, q.Path, engine.Options{Context: 128, Batch: 16})
		logits, err := engine.NewSession(r).Prefill(context.Background(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), logits...)
	}
	r := enginetest.CPURunner(t, q.Path, engine.Options{Context: 128, Batch: 16})
	s := engine.NewSession(r)
	for _, step := range []struct {
		name string
		seq  []int32
		eval int // tokens Rewind leaves to evaluate
	}{
		{"first turn", tokens[:20], 20},
		{"continued", tokens[:35], 15},
		{"the same again", tokens[:35], 35},
		{"diverged", append(append([]int32(nil), tokens[:30]...), tokens[40:44]...), 34},
	} {
		rest := s.Rewind(step.seq)
		if len(rest) != step.eval {
			t.Fatalf("%s: %d tokens to evaluate, want %d", step.name, len(rest), step.eval)
		}
		got, err := s.Prefill(context.Background(), rest)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := testdata.MaxMeanAbsDiff(got, fresh(step.seq)); d > 1e-4 {
			t.Errorf("%s: logits differ from a fresh run by %.3g", step.name, d)
		}
	}
}
