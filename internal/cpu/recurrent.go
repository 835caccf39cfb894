package cpu

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

// recurrentState is the CPU's engine.RecurrentState: per DeltaNet layer,
// the convolution's last inputs (ConvKernel-1 per channel, oldest first)
// and one StateDim x StateDim matrix per value head, stored transposed
// (value index major) as llama.cpp stores it.
type recurrentState struct {
	conv, delta [][]float32
}

func (b *Backend) NewRecurrentState(layers int, d *engine.DeltaNet) (engine.RecurrentState, error) {
	convLen := d.Channels * (d.ConvKernel - 1)
	deltaLen := d.VHeads * d.StateDim * d.StateDim
	if layers <= 0 || convLen <= 0 || deltaLen <= 0 {
		return nil, fmt.Errorf("recurrent state of %d layers x (%d + %d) values", layers, convLen, deltaLen)
	}
	s := &recurrentState{}
	for range layers {
		s.conv = append(s.conv, make([]float32, convLen))
		s.delta = append(s.delta, make([]float32, deltaLen))
	}
	return s, nil
}

func (b *Backend) ResetState(st engine.RecurrentState) {
	s := st.(*recurrentState)
	for i := range s.conv {
		clear(s.conv[i])
		clear(s.delta[i])
	}
}

func (b *Backend) ConvSiLU(dst, x engine.Tensor, st engine.RecurrentState, layer int, w *engine.Weight, d *engine.DeltaNet) {
	state := st.(*recurrentState).conv[layer]
	wv := b.vectors[w]
	b.pool.parallelFor(d.Channels, 64, func(lo, hi int) {
		convSiLU(data(dst), data(x), state, wv, d.Channels, d.ConvKernel, lo, hi)
	})
}

// ConvSiLU is the reference causal depthwise convolution: x and dst are
// rows of channels values, state holds each channel's previous k-1 inputs
// (oldest first) and is advanced past the rows of x, w holds each
// channel's k taps (the last for the current input). dst = silu(conv).
func ConvSiLU(dst, x, state, w []float32, channels, k int) {
	convSiLU(dst, x, state, w, channels, k, 0, channels)
}

// convSiLU does channels [lo, hi) of ConvSiLU.
func convSiLU(dst, x, state, w []float32, channels, k, lo, hi int) {
	rows := len(x) / channels
	window := make([]float32, k-1+rows)
	for c := lo; c < hi; c++ {
		// The channel's inputs in time order: the state, then the rows.
		copy(window, state[c*(k-1):(c+1)*(k-1)])
		for r := range rows {
			window[k-1+r] = x[r*channels+c]
		}
		taps := w[c*k : (c+1)*k]
		for r := range rows {
			var sum float32
			for i, t := range taps {
				sum += t * window[r+i]
			}
			dst[r*channels+c] = silu(sum)
		}
		copy(state[c*(k-1):(c+1)*(k-1)], window[rows:])
	}
}

func (b *Backend) GatedDeltaRule(dst, x, beta, alpha engine.Tensor, st engine.RecurrentState, layer int, a, dtBias *engine.Weight, d *engine.DeltaNet) {
	state := st.(*recurrentState).delta[layer]
	av, dv := b.vectors[a], b.vectors[dtBias]
	// Value heads are independent: each worker runs whole heads through
	// every row of the batch.
	b.pool.parallelFor(d.VHeads, 1, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			deltaRuleHead(data(dst), data(x), data(beta), data(alpha), state, av, dv, d, h)
		}
	})
}

// GatedDeltaRule is the reference delta rule (see engine.Backend): x rows
// hold q, k and v, beta and alpha rows one value per value head, state
// d.VHeads matrices of d.StateDim^2 values (element (i, j) of head h at
// h*dim*dim + j*dim + i), a and dtBias one value per value head.
func GatedDeltaRule(dst, x, beta, alpha, state, a, dtBias []float32, d *engine.DeltaNet) {
	for h := range d.VHeads {
		deltaRuleHead(dst, x, beta, alpha, state, a, dtBias, d, h)
	}
}

// deltaRuleHead runs value head h through every row.
func deltaRuleHead(dst, x, beta, alpha, state, a, dtBias []float32, d *engine.DeltaNet, h int) {
	dim, nk, nv := d.StateDim, d.KHeads, d.VHeads
	width := (2*nk + nv) * dim
	kh := h % nk
	s := state[h*dim*dim : (h+1)*dim*dim]
	q, k := make([]float32, dim), make([]float32, dim)
	scale := float32(1 / math.Sqrt(float64(dim)))
	for r := range len(x) / width {
		row := x[r*width : (r+1)*width]
		l2Normalize(q, row[kh*dim:(kh+1)*dim], d.Eps)
		l2Normalize(k, row[(nk+kh)*dim:(nk+kh+1)*dim], d.Eps)
		v := row[(2*nk+h)*dim : (2*nk+h+1)*dim]
		b := sigmoid(beta[r*nv+h])
		decay := Expf(a[h] * softplus(alpha[r*nv+h]+dtBias[h]))
		deltaColumns(s, k, q, v, dst[(r*nv+h)*dim:(r*nv+h+1)*dim], decay, b, scale)
	}
}

// deltaColumns is one token's delta rule on a head's state s, column j
// (value j's weights over the keys) at s[j*dim:]: decay the column, read
// the value it predicts for k, move it towards v[j] by beta, and read it
// out for q. It adds as ggml's CPU op does: ggml_vec_dot_f32's order for
// the two products (Dot), and ggml_vec_mad_f32's for the update (one FMA
// per value in 64-value steps, the rest multiplied and added).
func deltaColumns(s, k, q, v, out []float32, decay, beta, scale float32) {
	dim := len(k)
	body := dim &^ 63
	kb, qb := floatBytes(k), floatBytes(q)
	for j := range out {
		col := s[j*dim : (j+1)*dim]
		for i := scaleRowSIMD(col, decay); i < dim; i++ {
			col[i] *= decay
		}
		cb := floatBytes(col)
		delta := (v[j] - Dot(gguf.TypeF32, dim, cb, kb)) * beta
		for i := madRowSIMD(col, k, body, delta); i < body; i++ {
			col[i] = fma32(k[i], delta, col[i])
		}
		for i := body; i < dim; i++ {
			col[i] += float32(k[i] * delta)
		}
		out[j] = Dot(gguf.TypeF32, dim, cb, qb) * scale
	}
}

// floatBytes views float32s as the little-endian bytes Dot reads.
func floatBytes(x []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}

// l2Normalize sets dst = x / max(|x|, eps), as ggml_l2_norm does.
func l2Normalize(dst, x []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	scale := 1 / max(float32(math.Sqrt(sum)), eps)
	for i, v := range x {
		dst[i] = v * scale
	}
}

func (b *Backend) GatedRMSNorm(dst, x, z engine.Tensor, w *engine.Weight, eps float32) {
	wv := b.vectors[w]
	groups := x.Cols / len(wv)
	b.pool.parallelFor(x.Rows*groups, 8, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			r, c := g/groups, g%groups*len(wv)
			GatedRMSNorm(row(dst, r)[c:c+len(wv)], row(x, r)[c:c+len(wv)], row(z, r)[c:c+len(wv)], wv, eps)
		}
	})
}

// GatedRMSNorm sets dst = RMSNorm(x) * w * silu(z). dst may alias x.
func GatedRMSNorm(dst, x, z, w []float32, eps float32) {
	RMSNorm(dst, x, w, eps)
	for i, g := range z {
		dst[i] *= silu(g)
	}
}

func (b *Backend) SplitHeads(a, bt, src engine.Tensor, width int) {
	for r := range src.Rows {
		SplitHeads(row(a, r), row(bt, r), row(src, r), width)
	}
}

// SplitHeads copies src = [a_0 b_0 a_1 b_1 ...] (runs of width values) into
// a = [a_0 a_1 ...] and b = [b_0 b_1 ...].
func SplitHeads(a, b, src []float32, width int) {
	for h := range len(a) / width {
		copy(a[h*width:(h+1)*width], src[2*h*width:])
		copy(b[h*width:(h+1)*width], src[(2*h+1)*width:])
	}
}

func (b *Backend) SigmoidMul(dst, gate engine.Tensor) {
	d, g := data(dst), data(gate)
	for i := range d {
		d[i] *= sigmoid(g[i])
	}
}

// sigmoid is 1/(1+e^-x), with ggml's vectorised exponential.
func sigmoid(x float32) float32 { return 1 / (1 + VecExpf(-x)) }

// silu is x*sigmoid(x), computed as ggml does: x/(1+e^-x).
func silu(x float32) float32 { return x / (1 + VecExpf(-x)) }

// softplus is ln(1+e^x), or x above 20 where that is x in float32, as ggml
// computes it.
func softplus(x float32) float32 {
	if x > 20 {
		return x
	}
	return float32(math.Log1p(float64(Expf(x))))
}
