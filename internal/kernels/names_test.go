package kernels_test

import (
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
	"github.com/quant-llm/quant/internal/kernels/emu"
)

// TestNamedKernelsExist: every kernel the tables name is an entry point of
// the library.
func TestNamedKernelsExist(t *testing.T) {
	ks, err := emu.ParseKernels(kernels.Source())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range ks {
		have[k.Name] = true
	}
	weights, caches := 0, 0
	for typ := gguf.GGMLType(0); typ < 64; typ++ { // ggml's type ids
		var names []string
		if w, ok := kernels.ForWeight(typ); ok {
			names = append(names, w.GetRows, w.MulMV, w.MulMVBatch, w.MulMM, w.MulMVFused)
			weights++
		}
		for v := gguf.GGMLType(0); v < 64; v++ {
			if c, ok := kernels.ForCache(typ, v); ok {
				names = append(names, c.Attend, c.AttendSplit)
				caches++
			}
		}
		for _, name := range names {
			if !have[name] {
				t.Errorf("%s: kernel %s is not in the library", typ, name)
			}
		}
	}
	if weights == 0 || caches != 64 {
		t.Errorf("kernels for %d weight types and %d pairs of cache types (want every pair of 8 types)", weights, caches)
	}
}
