package metal

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
	"github.com/quant-llm/quant/internal/tokenizer"
)

// checkParity runs every test model through the Metal backend on dev and
// through the CPU backend: logits of the 64-token eval sequence, greedy
// continuation and perplexity must agree. newDev makes a fresh device per model.
func checkParity(t *testing.T, newDev func(t *testing.T) Device, models []string) {
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".gguf")
		t.Run(name, func(t *testing.T) {
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := engine.LoadModel(f)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			maxTensor := 0
			for i := range f.Tensors {
				maxTensor = max(maxTensor, int(f.Tensors[i].Size))
			}
			gpu, err := New(newDev(t), f.Bytes(), maxTensor)
			if err != nil {
				t.Fatal(err)
			}
			defer gpu.Close()
			host := cpu.New(2)
			defer host.Close()

			opts := engine.Options{Context: 128, Batch: 128, KVF32: true, AllLogits: true}
			gr, err := engine.NewRunner(m, gpu, opts)
			if err != nil {
				t.Fatal(err)
			}
			cr, err := engine.NewRunner(m, host, opts)
			if err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(testdata.Path(t, "text", "wiki.test.raw"))
			if err != nil {
				t.Fatal(err)
			}
			ids, err := tok.Encode(string(text[:16<<10]), true, false)
			if err != nil {
				t.Fatal(err)
			}
			seq := ids[:64]
			want, err := cr.Forward(seq, 0)
			if err != nil {
				t.Fatal(err)
			}
			want = append([]float32(nil), want...)
			got, err := gr.Forward(seq, 0)
			if err != nil {
				t.Fatal(err)
			}
			var maxDiff float64
			for i := range got {
				maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
			}
			t.Logf("logits: max abs difference GPU vs CPU %.3g", maxDiff)
			if maxDiff > 0.35 {
				t.Errorf("logits differ by %.3g", maxDiff)
			}

			// Perplexity through both backends (the golden-file arguments, fewer chunks).
			cfg := engine.PerplexityConfig{Context: 128, Chunks: 4, BOS: tok.BOS(), AddBOS: tok.AddBOS()}
			pc, err := engine.Perplexity(context.Background(), cr, ids, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			pg, err := engine.Perplexity(context.Background(), gr, ids, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			rel := math.Abs(pg.PPL-pc.PPL) / pc.PPL
			limit := 0.005
			if name == "stories260K" || strings.HasSuffix(name, "f32") || strings.HasSuffix(name, "f16") {
				limit = 0.001
			}
			t.Logf("perplexity: GPU %.4f, CPU %.4f (%.3f%%)", pg.PPL, pc.PPL, 100*rel)
			if rel > limit {
				t.Errorf("perplexity differs by %.3f%% (limit %.1f%%)", 100*rel, 100*limit)
			}
		})
	}
}
