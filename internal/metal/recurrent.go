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
	wb := b.mustWeight(w)
	b.record(Dispatch{
		Kernel: "kernel_ssm_conv_silu", Args: kernels.Bytes(&args),
		Buffers: []Binding{bind(x), wb, {s.conv, layer * s.convLayerBytes}, bind(dst)},
		Grid:    grid(ceilDiv(d.Channels, eltThreads), 1, 1), Group: grid(eltThreads, 1, 1),
	}, []Buffer{bind(x).Buf, wb.Buf, s.conv}, []Buffer{s.conv, bind(dst).Buf})
}

func (b *Backend) GatedDeltaRule(dst, x, beta, alpha engine.Tensor, st engine.RecurrentState, layer int, a, dtBias *engine.Weight, d *engine.DeltaNet) {
	s := st.(*recurrentState)
	args := kernels.DeltaArgs{KHeads: int32(d.KHeads), VHeads: int32(d.VHeads), StateDim: int32(d.StateDim), NRows: int32(x.Rows),
		Eps: d.Eps, Scale: float32(1 / math.Sqrt(float64(d.StateDim)))}
	ab, db := b.mustWeight(a), b.mustWeight(dtBias)
	threads := min(deltaThreads, ceilDiv(d.StateDim, simdWidth)*simdWidth)
	b.record(Dispatch{
		Kernel: "kernel_gated_delta_rule", Args: kernels.Bytes(&args),
		Buffers: []Binding{bind(x), bind(beta), bind(alpha), ab, db, {s.delta, layer * s.deltaLayerBytes}, bind(dst)},
		// The row's normalised q and k; the simdgroups' partial sums of squares.
		Threadgroup: []int{16 * ceilDiv(8*d.StateDim, 16), 4 * 2 * simdWidth},
		Grid:        grid(d.VHeads, ceilDiv(d.StateDim, threads), 1), Group: grid(threads, 1, 1),
	}, []Buffer{bind(x).Buf, bind(beta).Buf, bind(alpha).Buf, ab.Buf, db.Buf, s.delta}, []Buffer{s.delta, bind(dst).Buf})
}

func (b *Backend) GatedRMSNorm(dst, x, z engine.Tensor, w *engine.Weight, eps float32) {
	args := kernels.RMSNormArgs{Ne0: int32(w.Cols), Eps: eps}
	wb := b.mustWeight(w)
	b.record(Dispatch{
		Kernel:      "kernel_gated_rms_norm",
		Args:        kernels.Bytes(&args),
		Buffers:     []Binding{bind(x), wb, bind(dst), bind(z)},
		Threadgroup: []int{4 * simdWidth},
		Grid:        grid(x.Rows*x.Cols/w.Cols, 1, 1), Group: grid(normGroup(w.Cols), 1, 1),
	}, []Buffer{bind(x).Buf, wb.Buf, bind(z).Buf}, []Buffer{bind(dst).Buf})
}

func (b *Backend) SplitHeads(a, bt, src engine.Tensor, width int) {
	n := a.Rows * a.Cols
	args := kernels.SplitHeadsArgs{Width: int32(width), Ne0: int32(a.Cols), SrcNe0: int32(src.Cols), N: int32(n)}
	b.record(Dispatch{
		Kernel: "kernel_split_heads", Args: kernels.Bytes(&args), Buffers: []Binding{bind(src), bind(a), bind(bt)},
		Grid: grid(ceilDiv(n, eltThreads), 1, 1), Group: grid(eltThreads, 1, 1),
	}, []Buffer{bind(src).Buf}, []Buffer{bind(a).Buf, bind(bt).Buf})
}

func (b *Backend) SigmoidMul(dst, gate engine.Tensor) {
	b.elementwise("kernel_sigmoid_mul", dst, gate)
}
