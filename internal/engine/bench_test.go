package engine_test

import (
	"context"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestBench: llama-bench's three tests at a depth, on an attention model
// and a hybrid one (whose state is rebuilt for every repetition).
func TestBench(t *testing.T) {
	for _, path := range []string{
		testdata.Path(t, "models", "stories260K.gguf"),
		testdata.Path(t, "qwen35", "tiny-qwen35-F32.gguf"),
	} {
		r := enginetest.CPURunner(t, path, engine.Options{Context: 24, Batch: 4})
		for _, c := range []struct {
			test engine.BenchTest
			name string
		}{
			{engine.BenchTest{Prompt: 8}, "pp8"},
			{engine.BenchTest{Gen: 4}, "tg4"},
			{engine.BenchTest{Prompt: 8, Gen: 4, Depth: 12}, "pp8+tg4 @ d12"},
			{engine.BenchTest{Gen: 4, Depth: 20}, "tg4 @ d20"},
		} {
			res, err := engine.Bench(context.Background(), r, c.test, 2)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if res.Test != c.name || len(res.Samples) != 2 || len(res.SamplesNs) != 2 || res.Mean <= 0 || res.AvgNs() == 0 {
				t.Errorf("%s: %+v", c.name, res)
			}
		}
		if _, err := engine.Bench(context.Background(), r, engine.BenchTest{Prompt: 16, Depth: 16}, 1); err == nil {
			t.Error("a test longer than the context ran")
		}
	}
}
