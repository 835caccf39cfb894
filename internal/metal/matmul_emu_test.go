//go:build mslemu

package metal

import (
	"fmt"
	"math"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/kernels"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestEmulatedBatchSizes: the logits of batches on both sides of each
// matrix kernel switch (TestMatMulKernels), and past one tile of mul_mm's
// activation rows, match the CPU's within the parity
// tests' bounds, for models of K-quant, 32-value block and float weights.
func TestEmulatedBatchSizes(t *testing.T) {
	for _, name := range []string{"tiny-llama-q4_k_m", "tiny-llama-q8_0", "tiny-llama-f16"} {
		path := testdata.Path(t, "models", name+".gguf")
		g := testdata.LoadGolden(t, path)
		t.Run(name, func(t *testing.T) {
			m, gpu, host := openBoth(t, path, emulated)
			gr, cr := newRunners(t, m, gpu, host, engine.Options{Context: 128, Batch: 128, AllLogits: true})
			maxTol, meanTol := testdata.LogitTolerance(g.Model)
			if !testdata.Unquantized(g.Model) {
				maxTol = math.Inf(1) // the CPU quantizes activations to 8 bits (see checkParity)
			}
			for _, n := range []int{1, 2, 3, 7, mulMMMinRows, mulMMMinRows + 1, kernels.MMCols + 1} {
				tokens := g.Eval.Tokens[:n]
				want, err := cr.Forward(tokens, 0)
				if err != nil {
					t.Fatal(err)
				}
				want = append([]float32(nil), want...)
				got, err := gr.Forward(tokens, 0)
				if err != nil {
					t.Fatal(err)
				}
				testdata.CheckLogits(t, fmt.Sprintf("%d rows", n), got, want, maxTol, meanTol)
			}
		})
	}
}
