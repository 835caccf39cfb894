package metal

import (
	"path/filepath"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
	"github.com/quant-llm/quant/internal/synth"
)

// TestDecodeDispatches counts the dispatches and barriers of one decoded
// token per layer on the counting device, for the synthetic presets of
// encodeShapes (Q4_K_M, F16 cache), at a position within the first
// attention chunk and at one past it (split attention and its reduce), and
// holds SmolLM2-1.7B, the product target, to at most maxPerLayer of each
// at both. Per layer means the token's dispatches less the
// embedding, the output norm and the output projection, divided by the
// layers.
//
//	go test ./internal/metal -run TestDecodeDispatches -v
func TestDecodeDispatches(t *testing.T) {
	if testing.Short() {
		t.Skip("writes multi-GB sparse models")
	}
	const maxPerLayer = 9
	names := map[string]string{"smollm2-1.7b": "SmolLM2-1.7B", "qwen3-4b": "Qwen3-4B", "qwen3.5-4b": "Qwen3.5-4B"}
	for _, preset := range encodeShapes {
		path := filepath.Join(t.TempDir(), preset+".gguf")
		if err := synth.WriteFile(path, preset, "q4_k_m", synth.Options{Zero: true}); err != nil {
			t.Fatal(err)
		}
		m := enginetest.Open(t, path)
		dev := &countingDevice{maxLen: 16 << 30}
		r := enginetest.Runner(t, m, newBackend(t, dev, m),
			engine.Options{Context: encodeContext, Batch: 64, CacheK: gguf.TypeF16, CacheV: gguf.TypeF16})
		next := 0 // a recurrent state goes through every position
		for _, pos := range []int{kernels.AttnChunk / 2, encodePrompt + 88} {
			for ; next < pos; next += min(64, pos-next) {
				if _, err := r.Forward(make([]int32, min(64, pos-next)), next); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := r.Forward([]int32{1}, pos); err != nil {
				t.Fatal(err)
			}
			next = pos + 1
			// Outside the layers: get_rows, the output norm and projection.
			ds := dev.dispatches
			outside := []Dispatch{ds[0], ds[len(ds)-2], ds[len(ds)-1]}
			barriers, outsideBarriers := 0, 0
			for _, d := range ds {
				if d.Barrier {
					barriers++
				}
			}
			for _, d := range outside {
				if d.Barrier {
					outsideBarriers++
				}
			}
			layers := float64(len(m.Layers))
			perD := float64(len(ds)-len(outside)) / layers
			perB := float64(barriers-outsideBarriers) / layers
			where := ""
			if pos >= kernels.AttnChunk {
				where = " past the split-attention threshold"
			}
			t.Logf("%s decode%s: %.2f dispatches per layer, %.2f barriers per layer (position %d; %d dispatches, %d barriers per token)",
				names[preset], where, perD, perB, pos, len(ds), barriers)
			if preset == "smollm2-1.7b" && (perD > maxPerLayer || perB > maxPerLayer) {
				t.Errorf("%s decode%s: %.2f dispatches and %.2f barriers per layer, want at most %d of each",
					names[preset], where, perD, perB, maxPerLayer)
			}
		}
	}
}
