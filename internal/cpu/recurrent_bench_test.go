package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
)

// BenchmarkGatedDeltaRule is one decoded token of one Qwen3.5-4B DeltaNet
// layer (16 key heads, 32 value heads of 128), single-threaded: the 24
// such layers of a token cost 24 times this.
func BenchmarkGatedDeltaRule(b *testing.B) {
	d := &engine.DeltaNet{KHeads: 16, VHeads: 32, StateDim: 128, ConvKernel: 4, Eps: 1e-6}
	d.Channels = (2*d.KHeads + d.VHeads) * d.StateDim
	r := rand.New(rand.NewPCG(1, 2))
	x := randVec(r, d.Channels, 1)
	beta, alpha := randVec(r, d.VHeads, 1), randVec(r, d.VHeads, 1)
	a, dt := randVec(r, d.VHeads, 0.5), randVec(r, d.VHeads, 0.5)
	for i := range a {
		a[i] = -a[i] * a[i]
	}
	state := make([]float32, d.VHeads*d.StateDim*d.StateDim)
	dst := make([]float32, d.VHeads*d.StateDim)
	b.SetBytes(int64(8 * len(state))) // the state is read and written once
	for b.Loop() {
		GatedDeltaRule(dst, x, beta, alpha, state, a, dt, d)
	}
}
