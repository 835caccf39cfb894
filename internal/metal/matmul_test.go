package metal

import (
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestMatMulKernels: MatMul multiplies one activation row with mul_mv, 2 to
// mulMMMinRows-1 rows with mul_mv_batch (each weight read once for all of
// them) and more with mul_mm.
func TestMatMulKernels(t *testing.T) {
	dev := &countingDevice{maxLen: 1 << 30}
	m := enginetest.Open(t, testdata.Path(t, "models", "tiny-llama-q4_k_m.gguf"))
	r := enginetest.Runner(t, m, newBackend(t, dev, m), engine.Options{Context: 128, Batch: 32, AllLogits: true})
	for _, n := range []int{1, 2, 3, 7, mulMMMinRows, mulMMMinRows + 1, 17} {
		if _, err := r.Forward(make([]int32, n), 0); err != nil {
			t.Fatal(err)
		}
		want := "kernel_mul_mm_"
		switch {
		case n == 1:
			want = "kernel_mul_mv_q"
		case n < mulMMMinRows:
			want = "kernel_mul_mv_batch_"
		}
		matmuls := 0
		for _, d := range dev.dispatches {
			if strings.HasPrefix(d.Pipeline.Kernel(), "kernel_mul_") {
				matmuls++
				if !strings.HasPrefix(d.Pipeline.Kernel(), want) {
					t.Errorf("%d rows: %s, want %s...", n, d.Pipeline.Kernel(), want)
				}
			}
		}
		if matmuls == 0 {
			t.Errorf("%d rows: no matrix products", n)
		}
	}
}
