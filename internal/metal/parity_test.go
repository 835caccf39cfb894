package metal

import (
	"context"
	"math"
	"testing"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
	"github.com/quant-llm/quant/internal/tokenizer"
)

// checkParity runs every test model through the Metal backend (on a device
// from newDev) and through the CPU backend, as the golden tests run them
// against llama.cpp: logits of the 64-token eval sequence, the greedy
// continuation of the first prompt, and perplexity with llama-perplexity's
// arguments (-c 128 -b 128, here 4 chunks).
func checkParity(t *testing.T, newDev func(t *testing.T) Device, models []string) {
	for _, path := range models {
		g := testdata.LoadGolden(t, path)
		t.Run(g.Model, func(t *testing.T) {
			m, gpu, host := openBoth(t, path, newDev)
			gr, cr := newRunners(t, m, gpu, host, engine.Options{Context: 128, Batch: 128, AllLogits: true})

			want, err := cr.Forward(g.Eval.Tokens, 0)
			if err != nil {
				t.Fatal(err)
			}
			want = append([]float32(nil), want...)
			got, err := gr.Forward(g.Eval.Tokens, 0)
			if err != nil {
				t.Fatal(err)
			}
			maxDiff, meanDiff := testdata.MaxMeanAbsDiff(got, want)
			maxTol, meanTol := testdata.LogitTolerance(g.Model)
			_, ref := g.ReferenceLogits(t)
			refMax, refMean := testdata.MaxMeanAbsDiff(got, ref)
			t.Logf("logits GPU vs CPU: max abs %.3g, mean abs %.3g; GPU vs llama.cpp: max abs %.3g, mean abs %.3g", maxDiff, meanDiff, refMax, refMean)
			// Both backends must be within the golden tolerance of llama.cpp.
			// For quantized weights the CPU quantizes activations to 8 bits, as
			// llama.cpp's CPU does, and the GPU keeps them float (as
			// llama.cpp's Metal backend does), so GPU-CPU is checked on the mean.
			if refMax > maxTol || refMean > meanTol {
				t.Errorf("GPU logits differ from llama.cpp's: max abs %.3g (limit %g), mean abs %.3g (limit %g)", refMax, maxTol, refMean, meanTol)
			}
			if meanDiff > meanTol || (testdata.Unquantized(g.Model) && maxDiff > maxTol) {
				t.Errorf("GPU and CPU logits differ: max abs %.3g, mean abs %.3g (limits %g, %g)", maxDiff, meanDiff, maxTol, meanTol)
			}

			checkGreedyParity(t, g, m, gpu, host, maxDiff)

			tok, err := tokenizer.FromGGUF(m.File)
			if err != nil {
				t.Fatal(err)
			}
			cfg := engine.PerplexityConfig{Context: 128, Chunks: 4, BOS: tok.BOS(), AddBOS: tok.AddBOS()}
			pg, pc := perplexities(t, gr, cr, g.Wiki.FirstTokens, cfg)
			rel := math.Abs(pg.PPL-pc.PPL) / pc.PPL
			limit := 0.005
			if testdata.Unquantized(g.Model) {
				limit = 0.001
			}
			t.Logf("perplexity: GPU %.4f, CPU %.4f (%.3f%%)", pg.PPL, pc.PPL, 100*rel)
			if rel > limit {
				t.Errorf("perplexity differs by %.3f%% (limit %.1f%%)", 100*rel, 100*limit)
			}
		})
	}
}

// perplexities runs engine.Perplexity over tokens on the GPU's runner and
// on the CPU's.
func perplexities(t *testing.T, gr, cr *engine.Runner, tokens []int32, cfg engine.PerplexityConfig) (gpu, host engine.PerplexityResult) {
	t.Helper()
	var err error
	if host, err = engine.Perplexity(context.Background(), cr, tokens, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if gpu, err = engine.Perplexity(context.Background(), gr, tokens, cfg, nil); err != nil {
		t.Fatal(err)
	}
	return gpu, host
}

// openBoth opens the model at path for the Metal backend (on a device from
// newDev) and the CPU backend; the test's cleanup closes all three.
func openBoth(t *testing.T, path string, newDev func(t *testing.T) Device) (*engine.Model, *Backend, *cpu.Backend) {
	t.Helper()
	m := enginetest.Open(t, path)
	return m, newBackend(t, newDev(t), m), enginetest.CPU(t)
}

// newBackend makes a Metal backend of m's file on dev, closed when the
// test ends.
func newBackend(t testing.TB, dev Device, m *engine.Model) *Backend {
	t.Helper()
	b, err := New(dev, m.File)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newRunners makes a runner of m on each backend.
func newRunners(t *testing.T, m *engine.Model, gpu, host engine.Backend, opts engine.Options) (gr, cr *engine.Runner) {
	t.Helper()
	return enginetest.Runner(t, m, gpu, opts), enginetest.Runner(t, m, host, opts)
}

// checkGreedyParity decodes 32 greedy tokens on both backends. They must be
// identical, except after a step where the CPU's top-2 margin is below the
// logit difference measured between the backends. The GPU decodes as
// generation does, each pass encoded while the one before runs: reading its
// logits back, and (greedy generation) with the token picked on the GPU,
// which must be the logits' argmax.
func checkGreedyParity(t *testing.T, g *testdata.Golden, m *engine.Model, gpu, host engine.Backend, evalDiff float64) {
	ctx := context.Background()
	prompt, n := g.Prompts[0].IDs, len(g.Greedy.IDs)
	opts := engine.Options{Context: 128, Batch: 128}
	var picked []int32
	_, err := engine.NewSession(enginetest.Runner(t, m, gpu, opts)).Generate(ctx, prompt, n, engine.NewSampler(engine.SamplerConfig{}),
		func(int32) bool { return false }, func(id int32) error { picked = append(picked, id); return nil })
	if err != nil {
		t.Fatal(err)
	}

	gr, cr := newRunners(t, m, gpu, host, opts)
	gl, err := engine.NewSession(gr).Prefill(ctx, prompt)
	if err != nil {
		t.Fatal(err)
	}
	cs := engine.NewSession(cr)
	cl, err := cs.Prefill(ctx, prompt)
	if err != nil {
		t.Fatal(err)
	}
	dec := gr.Decoder(false)
	defer dec.Close()
	measured := evalDiff
	for step := range n {
		gt, ct := engine.Argmax(gl), engine.Argmax(cl)
		if gt != picked[step] {
			t.Fatalf("greedy step %d: the GPU picked %d, its logits' argmax is %d", step, picked[step], gt)
		}
		if gt != ct {
			if margin := topMargin(cl); margin >= measured {
				t.Fatalf("greedy step %d: GPU %d, CPU %d (CPU margin %.4f, measured difference %.4f)", step, gt, ct, margin, measured)
			}
			t.Logf("greedy: identical for %d steps; then the CPU's top-2 margin is below the measured difference %.4f", step, measured)
			return
		}
		measured = max(measured, math.Abs(float64(gl[gt]-cl[ct])))
		if gl, err = dec.Next(gt, len(prompt)+step); err != nil {
			t.Fatal(err)
		}
		if cl, err = cs.Prefill(ctx, []int32{ct}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("greedy: all %d tokens identical", n)
}

// topMargin is the difference between the largest and second largest logit.
func topMargin(l []float32) float64 {
	best := engine.Argmax(l)
	second := float32(math.Inf(-1))
	for i, v := range l {
		if int32(i) != best {
			second = max(second, v)
		}
	}
	return float64(l[best] - second)
}
