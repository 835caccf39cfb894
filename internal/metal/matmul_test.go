package metal

import (
	"slices"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestMatMulKernels: MatMul multiplies one activation row with mul_mv (or
// the fused mat-vec of QKV, GateUp and MatMulAdd), 2 to mulMMMinRows-1 rows
// with mul_mv_batch (each weight read once for all of them) and more with
// mul_mm.
func TestMatMulKernels(t *testing.T) {
	dev := &countingDevice{maxLen: 1 << 30}
	m := enginetest.Open(t, testdata.Path(t, "models", "tiny-llama-q4_k_m.gguf"))
	r := enginetest.Runner(t, m, newBackend(t, dev, m), engine.Options{Context: 128, Batch: 32, AllLogits: true})
	for _, n := range []int{1, 2, 3, 7, mulMMMinRows, mulMMMinRows + 1, 17} {
		if _, err := r.Forward(make([]int32, n), 0); err != nil {
			t.Fatal(err)
		}
		want := []string{"kernel_mul_mm_"}
		switch {
		case n == 1:
			want = []string{"kernel_mul_mv_q", "kernel_mul_mv_fused_q", "kernel_mul_mv_fused_mixed"}
		case n < mulMMMinRows:
			want = []string{"kernel_mul_mv_batch_"}
		}
		matmuls := 0
		for _, d := range dev.dispatches {
			if k := d.Pipeline.Kernel(); strings.HasPrefix(k, "kernel_mul_") {
				matmuls++
				if !slices.ContainsFunc(want, func(p string) bool { return strings.HasPrefix(k, p) }) {
					t.Errorf("%d rows: %s, want %s...", n, k, want)
				}
			}
		}
		if matmuls == 0 {
			t.Errorf("%d rows: no matrix products", n)
		}
	}
}
