package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// BenchResult is one llama-bench style test: "pp512" or "tg128".
type BenchResult struct {
	Test    string    `json:"test"`
	Tokens  int       `json:"tokens"`
	Samples []float64 `json:"samples_tok_s"`
	Mean    float64   `json:"avg_tok_s"`
	StdDev  float64   `json:"stddev_tok_s"`
	// GPU time per token and GPU time over wall time, on GPU backends.
	GPUMsPerToken float64 `json:"gpu_ms_per_token,omitempty"`
	GPUBusy       float64 `json:"gpu_busy,omitempty"`
}

// GPUTimer is implemented by backends that can report the GPU time their
// command buffers took, and how many there were.
type GPUTimer interface {
	GPUTime() (time.Duration, int)
}

// BenchPrompt measures prompt processing: n random tokens evaluated from an
// empty cache in batches, reps times after one warm-up run.
func BenchPrompt(ctx context.Context, r *Runner, n, reps int) (BenchResult, error) {
	tokens := benchTokens(r.m.Vocab, n)
	return benchLoop(ctx, r.b, fmt.Sprintf("pp%d", n), n, reps, func() error {
		_, err := NewSession(r).Prefill(ctx, tokens)
		return err
	})
}

// BenchGenerate measures decoding: n tokens evaluated one at a time from an
// empty cache, reps times after one warm-up run.
func BenchGenerate(ctx context.Context, r *Runner, n, reps int) (BenchResult, error) {
	tokens := benchTokens(r.m.Vocab, n)
	return benchLoop(ctx, r.b, fmt.Sprintf("tg%d", n), n, reps, func() error {
		for pos, t := range tokens {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := r.Forward([]int32{t}, pos); err != nil {
				return err
			}
		}
		return nil
	})
}

func benchTokens(vocab, n int) []int32 {
	rng := rand.New(rand.NewPCG(1, 2))
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(rng.IntN(vocab))
	}
	return t
}

func benchLoop(ctx context.Context, b Backend, test string, n, reps int, run func() error) (BenchResult, error) {
	res := BenchResult{Test: test, Tokens: n}
	if err := run(); err != nil { // warm-up: page in weights, grow buffers
		return res, err
	}
	timer, gpu := b.(GPUTimer)
	var gpuStart time.Duration
	if gpu {
		gpuStart, _ = timer.GPUTime()
	}
	var wall time.Duration
	for range reps {
		start := time.Now()
		if err := run(); err != nil {
			return res, err
		}
		d := time.Since(start)
		wall += d
		res.Samples = append(res.Samples, float64(n)/d.Seconds())
	}
	res.Mean, res.StdDev = meanStd(res.Samples)
	if gpu {
		gpuEnd, _ := timer.GPUTime()
		spent := gpuEnd - gpuStart
		res.GPUMsPerToken = float64(spent.Microseconds()) / 1000 / float64(n*reps)
		res.GPUBusy = spent.Seconds() / wall.Seconds()
	}
	return res, ctx.Err()
}

func meanStd(x []float64) (mean, sd float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(sd / float64(len(x)-1))
}
