package engine_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
)

// The llama.cpp fixtures of Qwen3.5 have one shape. This file checks the
// engine on other shapes against a plain float64 implementation of the
// decode-step math in ../shared/testdata/qwen35/README.md, written here
// from that text alone (it calls nothing of the engine or the CPU backend),
// on synthetic F32 models with the fixture's tensor names and metadata keys.

// qwen35Shape is one synthetic Qwen3.5 model.
type qwen35Shape struct {
	name                              string
	embd, ffn, layers, vocab          int
	heads, kvHeads, headDim, ropeDims int // the attention layers
	sections                          [4]int32
	ropeBase, eps                     float32
	kHeads, vHeads, stateDim, conv    int    // the DeltaNet layers
	interval                          int    // full_attention_interval
	recurrent                         []bool // attention.recurrent_layers, overriding interval (nil: no key)
	untied                            bool   // an output.weight instead of token_embd as the LM head
	// bigDtBias sets value head 0's ssm_dt.bias to 95 in every DeltaNet
	// layer, past softplus's cutoff (and past float32 exp's range).
	bigDtBias bool
}

// qwen35Base is the default of every field a shape below does not set: the
// fixture's structure at a quarter of its width.
var qwen35Base = qwen35Shape{
	embd: 64, ffn: 128, layers: 4, vocab: 211,
	heads: 4, kvHeads: 2, headDim: 32, ropeDims: 16, sections: [4]int32{3, 3, 2, 0},
	ropeBase: 1e7, eps: 1e-6,
	kHeads: 2, vHeads: 4, stateDim: 16, conv: 4, interval: 4,
}

func qwen35Shapes() []qwen35Shape {
	with := func(name string, edit func(s *qwen35Shape)) qwen35Shape {
		s := qwen35Base
		s.name = name
		edit(&s)
		return s
	}
	return []qwen35Shape{
		with("k heads = v heads", func(s *qwen35Shape) { s.kHeads, s.vHeads, s.stateDim = 2, 2, 32 }),
		with("v heads = 4 x k heads, state 16, conv 3, sections 2110", func(s *qwen35Shape) {
			s.kHeads, s.vHeads, s.conv = 2, 8, 3
			s.heads, s.kvHeads = 4, 1
			s.sections, s.ropeBase = [4]int32{2, 1, 1, 0}, 1e4 // wraps every 4 pairs; all 8 rotate
		}),
		with("untied output, eps 1e-5", func(s *qwen35Shape) { s.untied, s.eps, s.ropeBase = true, 1e-5, 1e4 }),
		with("sections 1111: pairs 3 and 7 fixed", func(s *qwen35Shape) {
			s.sections, s.ropeBase = [4]int32{1, 1, 1, 1}, 1e4
		}),
		with("sections 1010: odd pairs fixed, head dim 64", func(s *qwen35Shape) {
			s.sections, s.ropeBase, s.headDim, s.heads, s.kvHeads = [4]int32{1, 0, 1, 0}, 1e4, 64, 2, 1
		}),
		with("full rotary", func(s *qwen35Shape) { s.ropeDims, s.sections = 32, [4]int32{6, 5, 5, 0} }),
		with("interval 2, eps 1e-5", func(s *qwen35Shape) { s.interval, s.eps, s.kHeads = 2, 1e-5, 1 }),
		with("recurrent_layers over interval 4", func(s *qwen35Shape) {
			s.layers, s.recurrent = 5, []bool{true, false, false, true, true}
		}),
		with("state 64, conv 5, kv heads = heads, softplus cutoff", func(s *qwen35Shape) {
			s.kHeads, s.vHeads, s.stateDim, s.conv = 1, 2, 64, 5
			s.heads, s.kvHeads, s.untied, s.bigDtBias = 2, 2, true, true
		}),
	}
}

// TestQwen35Reference runs 29 random tokens through each shape in one
// batch, in batches of 7 (each continuing the state) and one token at a
// time, with every position's logits compared with the float64 reference
// (F32 KV cache, the default). F32 rounding alone gives up to 7e-5 (in the
// 4:1 shape, where a DeltaNet layer's first query and key are nearly
// orthogonal and its output's RMSNorm magnifies their rounding); each
// mistake tried in the reference (head mappings, pairing, sections, conv
// taps, scales, gates, eps, the LM head) moved some shape's logits by 0.01-6.
func TestQwen35Reference(t *testing.T) {
	const n, tolerance = 29, 1e-4
	for i, s := range qwen35Shapes() {
		t.Run(s.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(35, uint64(i)))
			path, ref := writeQwen35(t, s, rng)
			tokens := make([]int32, n)
			for j := range tokens {
				tokens[j] = int32(rng.IntN(s.vocab))
			}
			var want []float32
			for pos, tok := range tokens {
				for _, v := range ref.step(tok, pos) {
					want = append(want, float32(v))
				}
			}
			for _, batch := range []int{n, 7, 1} {
				r := enginetest.CPURunner(t, path, engine.Options{Context: n, Batch: batch, AllLogits: true})
				var got []float32
				for pos := 0; pos < n; pos += batch {
					logits, err := r.Forward(tokens[pos:min(pos+batch, n)], pos)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, logits...)
				}
				testdata.CheckLogits(t, fmt.Sprintf("batches of %d vs the float64 reference", batch), got, want, tolerance, math.Inf(1))
			}
		})
	}
}

// writeQwen35 writes a model of shape s with random F32 weights, in the
// fixture's tensor order, and returns its path and the same weights in
// float64 for the reference.
func writeQwen35(t *testing.T, s qwen35Shape, rng *rand.Rand) (string, *qwen35Ref) {
	t.Helper()
	ref := &qwen35Ref{s: s, recurrent: make([]bool, s.layers)}
	for i := range ref.recurrent {
		ref.recurrent[i] = (i+1)%s.interval != 0
		if s.recurrent != nil {
			ref.recurrent[i] = s.recurrent[i]
		}
	}
	var tensors []gguf.WriteTensor
	// add writes a rows x cols tensor (ggml ne [cols, rows]; 1-D when rows
	// is 0) of values from gen and returns them as rows of float64.
	add := func(name string, rows, cols int, gen func() float64) [][]float64 {
		dims, n := []uint64{uint64(cols), uint64(rows)}, rows
		if rows == 0 {
			dims, n = dims[:1], 1
		}
		data := make([]byte, 0, 4*n*cols)
		out := make([][]float64, n)
		for r := range out {
			out[r] = make([]float64, cols)
			for c := range out[r] {
				v := float32(gen())
				out[r][c] = float64(v)
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
			}
		}
		tensors = append(tensors, gguf.WriteTensor{Name: name, Type: gguf.TypeF32, Dims: dims,
			Data: func() ([]byte, error) { return data, nil }})
		return out
	}
	normal := func(std float64) func() float64 { return func() float64 { return std * rng.NormFloat64() } }
	uniform := func(lo, hi float64) func() float64 { return func() float64 { return lo + (hi-lo)*rng.Float64() } }
	// linear is a weight of n_out x n_in with the fixture's N(0, (gain/√n_in)²).
	linear := func(name string, nOut, nIn int, gain float64) [][]float64 {
		return add(name, nOut, nIn, normal(gain/math.Sqrt(float64(nIn))))
	}
	vector := func(name string, n int, gen func() float64) []float64 { return add(name, 0, n, gen)[0] }
	norm := uniform(0.8, 1.2)

	ref.embd = add("token_embd.weight", s.vocab, s.embd, normal(0.08))
	ref.out = ref.embd
	for i := range s.layers {
		p := fmt.Sprintf("blk.%d.", i)
		l := qwen35RefLayer{}
		l.attnNorm = vector(p+"attn_norm.weight", s.embd, norm)
		if ref.recurrent[i] {
			dk, nk, nv := s.stateDim, s.kHeads, s.vHeads
			l.qkv = linear(p+"attn_qkv.weight", (2*nk+nv)*dk, s.embd, 2)
			l.z = linear(p+"attn_gate.weight", nv*dk, s.embd, 1)
			l.conv = add(p+"ssm_conv1d.weight", (2*nk+nv)*dk, s.conv, uniform(-1, 1))
			dtBias := uniform(0, 1)
			if s.bigDtBias {
				dtBias = func() float64 { dtBias = uniform(0, 1); return 95 } // head 0 only
			}
			l.dtBias = vector(p+"ssm_dt.bias", nv, func() float64 { return dtBias() })
			l.a = vector(p+"ssm_a", nv, func() float64 { return -math.Exp(math.Log(0.05) * rng.Float64()) })
			l.beta = linear(p+"ssm_beta.weight", nv, s.embd, 1)
			l.alpha = linear(p+"ssm_alpha.weight", nv, s.embd, 0.5)
			l.ssmNorm = vector(p+"ssm_norm.weight", dk, norm)
			l.ssmOut = linear(p+"ssm_out.weight", s.embd, nv*dk, 1)
		} else {
			hd := s.headDim
			l.q = linear(p+"attn_q.weight", 2*s.heads*hd, s.embd, 1)
			l.k = linear(p+"attn_k.weight", s.kvHeads*hd, s.embd, 1)
			l.v = linear(p+"attn_v.weight", s.kvHeads*hd, s.embd, 1)
			l.o = linear(p+"attn_output.weight", s.embd, s.heads*hd, 1)
			l.qNorm = vector(p+"attn_q_norm.weight", hd, norm)
			l.kNorm = vector(p+"attn_k_norm.weight", hd, norm)
		}
		l.postNorm = vector(p+"post_attention_norm.weight", s.embd, norm)
		l.gate = linear(p+"ffn_gate.weight", s.ffn, s.embd, 1)
		l.up = linear(p+"ffn_up.weight", s.ffn, s.embd, 1)
		l.down = linear(p+"ffn_down.weight", s.embd, s.ffn, 1)
		ref.layers = append(ref.layers, l)
	}
	ref.outNorm = vector("output_norm.weight", s.embd, norm)
	if s.untied {
		ref.out = linear("output.weight", s.vocab, s.embd, 1)
	}

	u32 := func(v int) uint32 { return uint32(v) }
	key := func(k string, v any) gguf.KV { return gguf.KV{Key: "qwen35." + k, Value: v} }
	meta := []gguf.KV{
		{Key: "general.architecture", Value: "qwen35"},
		{Key: "general.name", Value: "reference-" + s.name},
		key("context_length", uint32(4096)),
		key("embedding_length", u32(s.embd)),
		key("block_count", u32(s.layers)),
		key("feed_forward_length", u32(s.ffn)),
		key("attention.head_count", u32(s.heads)),
		key("attention.head_count_kv", u32(s.kvHeads)),
		key("attention.key_length", u32(s.headDim)),
		key("attention.value_length", u32(s.headDim)),
		key("attention.layer_norm_rms_epsilon", s.eps),
		key("rope.freq_base", s.ropeBase),
		key("rope.dimension_count", u32(s.ropeDims)),
		key("rope.dimension_sections", gguf.Array{Elem: gguf.ValInt32, Values: s.sections[:]}),
		key("ssm.conv_kernel", u32(s.conv)),
		key("ssm.state_size", u32(s.stateDim)),
		key("ssm.group_count", u32(s.kHeads)),
		key("ssm.time_step_rank", u32(s.vHeads)),
		key("ssm.inner_size", u32(s.vHeads*s.stateDim)),
		key("full_attention_interval", u32(s.interval)),
		key("vocab_size", u32(s.vocab)),
		{Key: "general.file_type", Value: uint32(0)},
	}
	if s.recurrent != nil {
		meta = append(meta, key("attention.recurrent_layers", gguf.Array{Elem: gguf.ValBool, Values: s.recurrent}))
	}
	// No tokenizer: the engine runs token ids.
	var file bytes.Buffer
	path := filepath.Join(t.TempDir(), "qwen35.gguf")
	err := gguf.Write(&file, meta, tensors, nil)
	if err == nil {
		err = os.WriteFile(path, file.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path, ref
}

// qwen35Ref is the float64 reference: the weights (matrices as rows, y_r =
// row_r · x) and the state of the sequence so far.
type qwen35Ref struct {
	s            qwen35Shape
	recurrent    []bool
	embd, out    [][]float64
	outNorm      []float64
	layers       []qwen35RefLayer
	convState    [][][]float64   // per layer and channel: the previous conv-1 inputs, oldest first
	deltaState   [][][][]float64 // per layer and value head: S[i][j], key i, value j
	keys, values [][][]float64   // per layer and position: the cached (normed, rotated) k and v
}

type qwen35RefLayer struct {
	attnNorm, postNorm []float64
	gate, up, down     [][]float64
	// DeltaNet
	qkv, z, beta, alpha, conv, ssmOut [][]float64
	a, dtBias, ssmNorm                []float64
	// gated attention
	q, k, v, o   [][]float64
	qNorm, kNorm []float64
}

// step evaluates token tok at position pos (0, 1, 2, ... in turn) and
// returns its logits.
func (m *qwen35Ref) step(tok int32, pos int) []float64 {
	s := &m.s
	if pos == 0 {
		m.convState = make([][][]float64, s.layers)
		m.deltaState = make([][][][]float64, s.layers)
		m.keys = make([][][]float64, s.layers)
		m.values = make([][][]float64, s.layers)
		for i := range s.layers {
			m.convState[i] = zeros2((2*s.kHeads+s.vHeads)*s.stateDim, s.conv-1)
			m.deltaState[i] = make([][][]float64, s.vHeads)
			for h := range m.deltaState[i] {
				m.deltaState[i][h] = zeros2(s.stateDim, s.stateDim)
			}
		}
	}
	x := append([]float64(nil), m.embd[tok]...)
	for i := range m.layers {
		l := &m.layers[i]
		a := refRMSNorm(x, l.attnNorm, s.eps)
		var mix []float64
		if m.recurrent[i] {
			mix = m.deltaNet(i, a)
		} else {
			mix = m.attention(i, a, pos)
		}
		addTo(x, mix)
		b := refRMSNorm(x, l.postNorm, s.eps)
		g, u := matVec(l.gate, b), matVec(l.up, b)
		for j := range g {
			g[j] = refSiLU(g[j]) * u[j]
		}
		addTo(x, matVec(l.down, g))
	}
	return matVec(m.out, refRMSNorm(x, m.outNorm, s.eps))
}

// deltaNet is the Gated DeltaNet mixer of layer i on the normed input a.
func (m *qwen35Ref) deltaNet(i int, a []float64) []float64 {
	s, l := &m.s, &m.layers[i]
	nk, nv, dk := s.kHeads, s.vHeads, s.stateDim
	dv := dk
	mq := matVec(l.qkv, a)
	z := matVec(l.z, a)
	b := matVec(l.beta, a)
	alpha := matVec(l.alpha, a)

	// Causal depthwise convolution (tap conv-1 on the current input), SiLU.
	u := make([]float64, len(mq))
	for c := range mq {
		prev := m.convState[i][c]
		sum := l.conv[c][s.conv-1] * mq[c]
		for j, v := range prev {
			sum += l.conv[c][j] * v
		}
		u[c] = refSiLU(sum)
		copy(prev, prev[1:])
		prev[len(prev)-1] = mq[c]
	}
	q := func(j int) []float64 { return refL2Norm(u[j*dk:(j+1)*dk], s.eps) }
	k := func(j int) []float64 { return refL2Norm(u[(nk+j)*dk:(nk+j+1)*dk], s.eps) }
	v := func(h int) []float64 { return u[(2*nk+h)*dk : (2*nk+h+1)*dk] }

	y := make([]float64, 0, nv*dv)
	for h := range nv {
		j := h % nk // tiled: value head h reads key head h mod nk
		qj, kj, vh := q(j), k(j), v(h)
		beta := refSigmoid(b[h])
		decay := math.Exp(l.a[h] * refSoftplus(alpha[h]+l.dtBias[h]))
		S := m.deltaState[i][h]
		for ki := range dk {
			for vj := range dv {
				S[ki][vj] *= decay
			}
		}
		delta := make([]float64, dv)
		for vj := range dv {
			var r float64
			for ki := range dk {
				r += S[ki][vj] * kj[ki]
			}
			delta[vj] = beta * (vh[vj] - r)
		}
		for ki := range dk {
			for vj := range dv {
				S[ki][vj] += kj[ki] * delta[vj]
			}
		}
		o := make([]float64, dv)
		for vj := range dv {
			for ki := range dk {
				o[vj] += S[ki][vj] * qj[ki]
			}
			o[vj] /= math.Sqrt(float64(dk))
		}
		o = refRMSNorm(o, l.ssmNorm, s.eps)
		for vj := range o {
			o[vj] *= refSiLU(z[h*dv+vj])
		}
		y = append(y, o...)
	}
	return matVec(l.ssmOut, y)
}

// attention is the gated attention mixer of layer i on the normed input a
// at position pos.
func (m *qwen35Ref) attention(i int, a []float64, pos int) []float64 {
	s, l := &m.s, &m.layers[i]
	H, Hkv, D := s.heads, s.kvHeads, s.headDim
	f := matVec(l.q, a)
	kAll, vAll := matVec(l.k, a), matVec(l.v, a)
	var keys []float64
	for g := range Hkv {
		kg := refRMSNorm(kAll[g*D:(g+1)*D], l.kNorm, s.eps)
		m.rope(kg, pos)
		keys = append(keys, kg...)
	}
	m.keys[i] = append(m.keys[i], keys)
	m.values[i] = append(m.values[i], vAll)

	out := make([]float64, 0, H*D)
	for h := range H {
		qh := refRMSNorm(f[2*D*h:2*D*h+D], l.qNorm, s.eps)
		gate := f[2*D*h+D : 2*D*h+2*D]
		m.rope(qh, pos)
		kvh := h / (H / Hkv) // grouped: consecutive query heads share
		scores := make([]float64, pos+1)
		maxScore := math.Inf(-1)
		for tau := range scores {
			kt := m.keys[i][tau][kvh*D : (kvh+1)*D]
			for d := range D {
				scores[tau] += qh[d] * kt[d]
			}
			scores[tau] /= math.Sqrt(float64(D))
			maxScore = max(maxScore, scores[tau])
		}
		var sum float64
		for tau := range scores {
			scores[tau] = math.Exp(scores[tau] - maxScore)
			sum += scores[tau]
		}
		o := make([]float64, D)
		for tau, p := range scores {
			vt := m.values[i][tau][kvh*D : (kvh+1)*D]
			for d := range D {
				o[d] += p / sum * vt[d]
			}
		}
		for d := range D {
			o[d] *= refSigmoid(gate[d])
		}
		out = append(out, o...)
	}
	return matVec(l.o, out)
}

// rope rotates the first ropeDims values of one head in place: interleaved
// M-RoPE with NEOX pairs (i, i+ropeDims/2). A text token's position has
// components t = h = w = pos and e = 0, so a pair whose sector reads e
// stays as it is.
func (m *qwen35Ref) rope(x []float64, pos int) {
	s := &m.s
	n, sec := s.ropeDims, s.sections
	position := [4]float64{float64(pos), float64(pos), float64(pos), 0} // t, h, w, e
	sum := int(sec[0] + sec[1] + sec[2] + sec[3])
	for i := range n / 2 {
		sector := i % sum
		component := 3 // e
		switch {
		case sector%3 == 1 && sector < 3*int(sec[1]):
			component = 1 // h
		case sector%3 == 2 && sector < 3*int(sec[2]):
			component = 2 // w
		case sector%3 == 0 && sector < 3*int(sec[0]):
			component = 0 // t
		}
		theta := position[component] * math.Pow(float64(s.ropeBase), -2*float64(i)/float64(n))
		sin, cos := math.Sincos(theta)
		x0, x1 := x[i], x[i+n/2]
		x[i] = x0*cos - x1*sin
		x[i+n/2] = x0*sin + x1*cos
	}
}

func zeros2(rows, cols int) [][]float64 {
	out := make([][]float64, rows)
	for i := range out {
		out[i] = make([]float64, cols)
	}
	return out
}

func matVec(w [][]float64, x []float64) []float64 {
	y := make([]float64, len(w))
	for r, row := range w {
		for c, v := range row {
			y[r] += v * x[c]
		}
	}
	return y
}

func addTo(x, y []float64) {
	for i := range x {
		x[i] += y[i]
	}
}

// refRMSNorm is x / √(mean(x²) + eps) ⊙ w.
func refRMSNorm(x, w []float64, eps float32) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	scale := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
	return out
}

// refL2Norm is x / max(‖x‖, eps).
func refL2Norm(x []float64, eps float32) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	scale := 1 / max(math.Sqrt(ss), float64(eps))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * scale
	}
	return out
}

func refSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
func refSiLU(x float64) float64    { return x * refSigmoid(x) }

// refSoftplus is ln(1+eʸ), or y itself above 20.
func refSoftplus(y float64) float64 {
	if y > 20 {
		return y
	}
	return math.Log1p(math.Exp(y))
}
