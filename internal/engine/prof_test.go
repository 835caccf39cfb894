package engine_test

import (
	"os"
	"runtime/pprof"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
)

func TestProfPrefill(t *testing.T) {
	path := os.Getenv("PROF_MODEL")
	if path == "" {
		t.Skip()
	}
	r, _ := newRunner(t, path, engine.Options{Context: 512, Batch: 512})
	toks := make([]int32, 128)
	for i := range toks {
		toks[i] = int32(i*7%1000 + 1)
	}
	r.Forward(toks[:16], 0)
	f, _ := os.Create("/tmp/cpu.prof")
	pprof.StartCPUProfile(f)
	if _, err := r.Forward(toks, 0); err != nil {
		t.Fatal(err)
	}
	pprof.StopCPUProfile()
}
