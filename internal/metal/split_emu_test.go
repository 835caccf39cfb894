//go:build mslemu

package metal

import (
	"slices"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestEmulatedSplitMatchesOne: a prompt's pass committed as a command
// buffer per few dispatches (a budget far below any dispatch's estimate)
// gives the logits of the same pass in one command buffer, bit for bit.
func TestEmulatedSplitMatchesOne(t *testing.T) {
	path := testdata.Path(t, "models", "tiny-llama-q4_k_m.gguf")
	g := testdata.LoadGolden(t, path)
	tokens := g.Eval.Tokens[:40]
	m := enginetest.Open(t, path)
	logits := func(split bool) ([]float32, int) {
		dev := emulated(t).(*EmulatedDevice)
		b := newBackend(t, dev, m)
		if split {
			b.budget = dispatchCost * 3 / 2 // a command buffer per dispatch
		}
		r := enginetest.Runner(t, m, b, engine.Options{Context: 64, Batch: 64, AllLogits: true})
		runs := dev.Runs
		out, err := r.Forward(tokens, 0)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out), dev.Runs - runs
	}
	one, n1 := logits(false)
	split, n2 := logits(true)
	if n1 != 1 || n2 < 20 {
		t.Fatalf("%d and %d command buffers for the pass, want 1 and one per dispatch", n1, n2)
	}
	if !slices.Equal(one, split) {
		t.Errorf("the pass in %d command buffers gives other logits than in one", n2)
	}
	t.Logf("%d command buffers: logits identical", n2)
}
