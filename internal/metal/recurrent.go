package metal

import (
	"fmt"
	"math"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/kernels"
)

// maxStateDim is the largest DeltaNet state the delta-rule kernel handles:
// its threadgroup memory holds one row's q and k of up to this many values.
const maxStateDim = 256

// deltaThreads is the delta-rule kernel's threadgroup size (at most): one
// thread per state column, so a head of StateDim columns spans
// ceil(StateDim/deltaThreads) threadgroups.
const deltaThreads = 64

// recurrentState is the Metal engine.RecurrentState: every DeltaNet layer's
// convolution state (Channels x (ConvKernel-1) floats, oldest input first)
// and delta state (VHeads matrices of StateDim^2 floats, element (i, j) of
// head h at h*dim*dim + j*dim + i), layer after layer in two buffers, laid
// out as the CPU backend's.
type recurrentState struct {
	conv, delta                     Buffer
	convLayerBytes, deltaLayerBytes int
	// The pipelines of the kernels that update the state.
	convSiLU, deltaRule Pipeline
}

func (b *Backend) NewRecurrentState(layers int, d *engine.DeltaNet) (engine.RecurrentState, error) {
	if d.StateDim <= 0 || d.StateDim > maxStateDim {
		return nil, fmt.Errorf("metal: DeltaNet states of %d values (the kernels handle up to %d)", d.StateDim, maxStateDim)
	}
	if d.ConvKernel < 2 || d.ConvKernel > maxConvKernel {
		return nil, fmt.Errorf("metal: convolutions of %d taps (the kernel handles 2 to %d)", d.ConvKernel, maxConvKernel)
	}
	s := &recurrentState{
		convLayerBytes:  4 * d.Channels * (d.ConvKernel - 1),
		deltaLayerBytes: 4 * d.VHeads * d.StateDim * d.StateDim,
	}
	if layers <= 0 || s.convLayerBytes <= 0 || s.deltaLayerBytes <= 0 {
		return nil, fmt.Errorf("metal: recurrent state of %d layers x (%d + %d) bytes", layers, s.convLayerBytes, s.deltaLayerBytes)
	}
	var err error
	if s.conv, err = b.dev.NewBuffer(layers * s.convLayerBytes); err == nil {
		s.delta, err = b.dev.NewBuffer(layers * s.deltaLayerBytes)
	}
	if err == nil {
		s.convSiLU, err = b.dev.Pipeline("kernel_ssm_conv_silu")
	}
	if err == nil {
		s.deltaRule, err = b.dev.Pipeline("kernel_gated_delta_rule")
	}
	if err != nil {
		return nil, fmt.Errorf("metal: recurrent state of %d layers: %w", layers, err)
	}
	return s, nil // NewBuffer zeroes
}

// ResetState zeroes the state from the CPU rather than with a kernel. The
// buffers are shared storage and the engine resets between forward passes
// (after one Sync, before anything of the next pass is recorded), as Embed
// writes the token ids: no command buffer is using them, so the writes are
// seen by the next one, and a new sequence costs no dispatch. Zeroing with
// work still recorded would race with it: that is a caller's bug, reported.
func (b *Backend) ResetState(st engine.RecurrentState) {
	if len(b.pending) > 0 {
		panic("metal: ResetState with work recorded and not synced")
	}
	s := st.(*recurrentState)
	clear(s.conv.Contents())
	clear(s.delta.Contents())
}

// maxConvKernel is the most convolution taps kernel_ssm_conv_silu keeps
// in its window (as the engine accepts).
const maxConvKernel = 16

func (b *Backend) ConvSiLU(dst, x engine.Tensor, st engine.RecurrentState, layer int, w *engine.Weight, d *engine.DeltaNet) {
	s := st.(*recurrentState)
	args := kernels.ConvArgs{Channels: int32(d.Channels), Taps: int32(d.ConvKernel), NRows: int32(x.Rows)}
	b.record(s.convSiLU, op{
		args:    kernels.Bytes(&args),
		buffers: []Binding{bind(x), b.prepared(w).bind, {s.conv, layer * s.convLayerBytes}, bind(dst)},
		grid:    grid(ceilDiv(d.Channels, eltThreads), 1, 1), group: grid(eltThreads, 1, 1),
		written: out(2) | out(3),
	})
}

func (b *Backend) GatedDeltaRule(dst, x, beta, alpha engine.Tensor, st engine.RecurrentState, layer int, a, dtBias *engine.Weight, d *engine.DeltaNet) {
	s := st.(*recurrentState)
	args := kernels.DeltaArgs{KHeads: int32(d.KHeads), VHeads: int32(d.VHeads), StateDim: int32(d.StateDim), NRows: int32(x.Rows),
		Eps: d.Eps, Scale: float32(1 / math.Sqrt(float64(d.StateDim)))}
	threads := min(deltaThreads, ceilDiv(d.StateDim, simdWidth)*simdWidth)
	b.record(s.deltaRule, op{
		args: kernels.Bytes(&args),
		buffers: []Binding{bind(x), bind(beta), bind(alpha), b.prepared(a).bind, b.prepared(dtBias).bind,
			{s.delta, layer * s.deltaLayerBytes}, bind(dst)},
		// The row's normalised q and k; the simdgroups' partial sums of squares.
		threadgroup: []int{16 * ceilDiv(8*d.StateDim, 16), 4 * 2 * simdWidth},
		grid:        grid(d.VHeads, ceilDiv(d.StateDim, threads), 1), group: grid(threads, 1, 1),
		written: out(5) | out(6),
	})
}

func (b *Backend) GatedRMSNorm(dst, x, z engine.Tensor, w *engine.Weight, eps float32) {
	args := kernels.RMSNormArgs{Ne0: int32(w.Cols), Eps: eps}
	b.record(b.k.gatedRMSNorm, op{
		args:        kernels.Bytes(&args),
		buffers:     []Binding{bind(x), b.prepared(w).bind, bind(dst), bind(z)},
		threadgroup: []int{4 * simdWidth},
		grid:        grid(x.Rows*x.Cols/w.Cols, 1, 1), group: grid(normGroup(w.Cols), 1, 1),
		written: out(2),
	})
}

func (b *Backend) SplitHeads(a, bt, src engine.Tensor, width int) {
	n := a.Rows * a.Cols
	args := kernels.SplitHeadsArgs{Width: int32(width), Ne0: int32(a.Cols), SrcNe0: int32(src.Cols), N: int32(n)}
	b.record(b.k.splitHeads, op{
		args: kernels.Bytes(&args), buffers: []Binding{bind(src), bind(a), bind(bt)},
		grid: grid(ceilDiv(n, eltThreads), 1, 1), group: grid(eltThreads, 1, 1),
		written: out(1) | out(2),
	})
}

func (b *Backend) SigmoidMul(dst, gate engine.Tensor) {
	b.elementwise(b.k.sigmoidMul, dst, gate)
}
