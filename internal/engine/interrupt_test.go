package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
)

// cancelAt counts the operations that multiply by weight matrices and
// cancels a context at the n-th.
type cancelAt struct {
	engine.Backend
	n, calls int
	cancel   context.CancelFunc
}

func (c *cancelAt) count() {
	c.calls++
	if c.calls == c.n {
		c.cancel()
	}
}

func (c *cancelAt) MatMul(dst engine.Tensor, w *engine.Weight, x engine.Tensor) {
	c.count()
	c.Backend.MatMul(dst, w, x)
}

func (c *cancelAt) QKV(q, k, v engine.Tensor, wq, wk, wv *engine.Weight, x engine.Tensor) {
	c.count()
	c.Backend.QKV(q, k, v, wq, wk, wv, x)
}

func (c *cancelAt) GateUp(dst engine.Tensor, gate, up *engine.Weight, x engine.Tensor) {
	c.count()
	c.Backend.GateUp(dst, gate, up, x)
}

func (c *cancelAt) MatMulAdd(dst engine.Tensor, w *engine.Weight, x engine.Tensor) {
	c.count()
	c.Backend.MatMulAdd(dst, w, x)
}

// TestInterruptWithinALayer: cancelling a prompt's evaluation stops it at
// the next backend operation, not at the end of the batch, and the session
// stays usable: the next prompt gives the logits a fresh session gives.
// For the hybrid model, whose recurrent state the interrupted batch has
// half updated, the session evaluates again from position 0.
func TestInterruptWithinALayer(t *testing.T) {
	for _, path := range []string{
		testdata.Path(t, "models", "stories260K.gguf"),
		testdata.Path(t, "qwen35", "tiny-qwen35-F32.gguf"),
	} {
		t.Run(path[strings.LastIndex(path, "/")+1:], func(t *testing.T) {
			m := enginetest.Open(t, path)
			counter := &cancelAt{Backend: enginetest.CPU(t)}
			r := enginetest.Runner(t, m, engine.Interruptible(counter), engine.Options{Context: 128, Batch: 64})
			prompt := make([]int32, 96)
			for i := range prompt {
				prompt[i] = int32(1 + i*7%(m.Vocab-1))
			}
			s := engine.NewSession(r)
			// The first batch of 64 completes; the second is cancelled
			// at its third operation with weight matrices, inside the
			// first layer.
			full := countMatMuls(t, m, prompt[:64])
			ctx, cancel := context.WithCancel(context.Background())
			counter.n, counter.cancel = full+3, cancel
			_, err := s.Prefill(ctx, prompt)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("prefill: %v, want context.Canceled", err)
			}
			if counter.calls != full+3 {
				t.Errorf("%d matrix products ran, want %d: the batch went on after the cancellation", counter.calls, full+3)
			}
			if s.Pos() != 64 {
				t.Errorf("history %d tokens after the interruption, want the 64 of the finished batch", s.Pos())
			}

			counter.n = -1
			next := append(append([]int32(nil), prompt...), 5, 6, 7)
			got, err := s.Prefill(context.Background(), s.Rewind(next))
			if err != nil {
				t.Fatal(err)
			}
			fresh := freshLogits(t, m, next)
			for i := range fresh {
				if got[i] != fresh[i] {
					t.Fatalf("logit %d after the interruption %v, fresh session %v", i, got[i], fresh[i])
				}
			}
		})
	}
}

// countMatMuls is how many matrix products one forward pass over tokens takes.
func countMatMuls(t *testing.T, m *engine.Model, tokens []int32) int {
	c := &cancelAt{Backend: enginetest.CPU(t), n: -1}
	r := enginetest.Runner(t, m, c, engine.Options{Context: 128, Batch: 64})
	if _, err := r.Forward(tokens, 0); err != nil {
		t.Fatal(err)
	}
	return c.calls
}

func freshLogits(t *testing.T, m *engine.Model, tokens []int32) []float32 {
	r := enginetest.Runner(t, m, enginetest.CPU(t), engine.Options{Context: 128, Batch: 64})
	logits, err := engine.NewSession(r).Prefill(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), logits...)
}

// nanModel is stories260K with its output norm's weights NaN: every
// logit is NaN.
func nanModel(t *testing.T) *engine.Model {
	m := enginetest.Open(t, testdata.Path(t, "models", "stories260K.gguf"))
	norm := *m.OutputNorm
	nan := binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN())))
	norm.Data = bytes.Repeat(nan, len(norm.Data)/4)
	m.OutputNorm = &norm
	return m
}

// TestNonFiniteLogits: generation and perplexity stop with an error naming
// the first position whose logits are not finite.
func TestNonFiniteLogits(t *testing.T) {
	m := nanModel(t)
	b := enginetest.CPU(t)
	r := enginetest.Runner(t, m, b, engine.Options{Context: 64, Batch: 64})
	_, err := engine.NewSession(r).Generate(context.Background(), []int32{1, 2, 3}, 4, engine.NewSampler(engine.SamplerConfig{}),
		func(int32) bool { return false }, func(int32) error { return nil })
	var nf *engine.NonFiniteError
	if !errors.As(err, &nf) || nf.Pos != 2 {
		t.Errorf("generate: %v, want a NonFiniteError at position 2", err)
	}

	rp := enginetest.Runner(t, m, b, engine.Options{Context: 16, Batch: 16, AllLogits: true})
	tokens := make([]int32, 64)
	_, err = engine.Perplexity(context.Background(), rp, tokens, engine.PerplexityConfig{Context: 16}, nil)
	if !errors.As(err, &nf) || nf.Pos != 0 || !strings.Contains(err.Error(), "chunk 1") {
		t.Errorf("perplexity: %v, want a NonFiniteError at position 0 of chunk 1", err)
	}
}

// TestPerplexityContextTooSmall: a chunk too short to score a token is an
// error, not NaN.
func TestPerplexityContextTooSmall(t *testing.T) {
	r := enginetest.CPURunner(t, testdata.Path(t, "models", "stories260K.gguf"), engine.Options{Context: 8, Batch: 8, AllLogits: true})
	tokens := make([]int32, 100)
	for _, n := range []int{1, 2} {
		if _, err := engine.Perplexity(context.Background(), r, tokens, engine.PerplexityConfig{Context: n}, nil); err == nil || !strings.Contains(err.Error(), "scores no token") {
			t.Errorf("context %d: %v", n, err)
		}
	}
	if res, err := engine.Perplexity(context.Background(), r, tokens, engine.PerplexityConfig{Context: 3, Chunks: 2}, nil); err != nil || res.Tokens != 2 || math.IsNaN(res.PPL) {
		t.Errorf("context 3: %+v, %v", res, err)
	}
}
