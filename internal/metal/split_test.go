package metal

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/synth"
)

// matMulFLOPs is the floating-point work of the matmul dispatches among ds,
// read from their MatMulArgs (ne00, ne01, nb01, ne11): the bulk of a
// prompt's pass, counted independently of the backend's estimate.
func matMulFLOPs(ds []Dispatch) float64 {
	flops := 0.0
	for _, d := range ds {
		if strings.HasPrefix(d.Pipeline.Kernel(), "kernel_mul_m") {
			le := binary.LittleEndian
			ne00, ne01, ne11 := int32(le.Uint32(d.Args)), int32(le.Uint32(d.Args[4:])), int32(le.Uint32(d.Args[12:]))
			flops += 2 * float64(ne00) * float64(ne01) * float64(ne11)
		}
	}
	return flops
}

// TestLongPrefillSplits: a 512-token prompt through a Qwen3-4B-shaped model
// (one pass) is committed as several command buffers, none of whose
// matmuls alone would take more than the budget at the assumed rate, and
// not many more than that takes; decoded tokens stay one command buffer
// each.
func TestLongPrefillSplits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a multi-GB sparse model")
	}
	path := filepath.Join(t.TempDir(), "qwen3-4b.gguf")
	if err := synth.WriteFile(path, "qwen3-4b", "q4_k_m", synth.Options{Zero: true}); err != nil {
		t.Fatal(err)
	}
	m := enginetest.Open(t, path)
	var cbs [][]Dispatch
	dev := &countingDevice{maxLen: 16 << 30, onCommit: func(ds []Dispatch) { cbs = append(cbs, ds) }}
	const prompt = 512
	r := enginetest.Runner(t, m, newBackend(t, dev, m), engine.Options{Context: 1024, Batch: prompt, CacheK: gguf.TypeF16, CacheV: gguf.TypeF16})
	if _, err := r.Forward(make([]int32, prompt), 0); err != nil {
		t.Fatal(err)
	}
	total := 0.0
	var ms []string
	for i, ds := range cbs {
		flops := matMulFLOPs(ds)
		total += flops
		est := time.Duration(flops / slowFLOPS * float64(time.Second))
		ms = append(ms, est.Round(time.Millisecond).String())
		if est > cbBudget {
			t.Errorf("command buffer %d: matmuls of %.0f GFLOP, %v at %.0f TFLOPS (budget %v)", i, flops/1e9, est, slowFLOPS/1e12, cbBudget)
		}
	}
	least := int(total/slowFLOPS/cbBudget.Seconds()) + 1
	t.Logf("qwen3-4b, %d-token prompt: %.1f TFLOP of matmuls in %d command buffers (matmuls: %s)", prompt, total/1e12, len(cbs), strings.Join(ms, " "))
	if len(cbs) < least || len(cbs) > 2*least {
		t.Errorf("%d command buffers, want %d to %d", len(cbs), least, 2*least)
	}
	for pos := prompt; pos < prompt+3; pos++ {
		runs := dev.runs
		if _, err := r.Forward([]int32{1}, pos); err != nil {
			t.Fatal(err)
		}
		if dev.runs != runs+1 {
			t.Errorf("token at %d: %d command buffers", pos, dev.runs-runs)
		}
	}
}
