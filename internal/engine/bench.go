package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// BenchTest is one llama-bench test: Prompt tokens evaluated in batches,
// then Gen tokens one at a time (decoded greedily, as generation decodes
// them), after Depth tokens already in the cache.
// Prompt alone is llama-bench's pp test, Gen alone its tg test, both its pg.
type BenchTest struct {
	Prompt, Gen, Depth int
}

// Name is the test as llama-bench prints it: "pp512", "tg128",
// "pp512+tg128", with " @ d1024" for a depth.
func (t BenchTest) Name() string {
	var s string
	switch {
	case t.Gen == 0:
		s = fmt.Sprintf("pp%d", t.Prompt)
	case t.Prompt == 0:
		s = fmt.Sprintf("tg%d", t.Gen)
	default:
		s = fmt.Sprintf("pp%d+tg%d", t.Prompt, t.Gen)
	}
	if t.Depth > 0 {
		s += fmt.Sprintf(" @ d%d", t.Depth)
	}
	return s
}

// Context is the cache size the test needs.
func (t BenchTest) Context() int { return max(t.Depth+t.Prompt+t.Gen, 1) }

// BenchResult is one test's timings, reps samples of the tokens of the test
// (prompt + generated) per second, as llama-bench reports them.
type BenchResult struct {
	BenchTest
	Test      string
	SamplesNs []uint64
	Samples   []float64 // tokens per second
	Mean      float64
	StdDev    float64
	// GPU time per token and GPU time over wall time, on GPU backends.
	GPUMsPerToken float64
	GPUBusy       float64
}

// AvgNs and StdDevNs are the mean and sample standard deviation of the
// samples' durations in nanoseconds.
func (r BenchResult) AvgNs() uint64 {
	m, _ := MeanStd(toFloats(r.SamplesNs))
	return uint64(m)
}

func (r BenchResult) StdDevNs() uint64 {
	_, sd := MeanStd(toFloats(r.SamplesNs))
	return uint64(sd)
}

func toFloats(v []uint64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// GPUTimer is implemented by backends that can report the GPU time their
// command buffers took, and how many there were.
type GPUTimer interface {
	GPUTime() (time.Duration, int)
}

// Bench runs t reps times on r (whose context must hold t.Context()
// tokens) after one warm-up, as llama-bench does: the warm-up evaluates
// the prompt and one generated token; each repetition starts from an empty
// cache, fills the depth untimed, then times the prompt and generation.
// The depth is evaluated once when the cache keeps it across repetitions
// (attention only; a recurrent state must be rebuilt each time).
func Bench(ctx context.Context, r *Runner, t BenchTest, reps int) (BenchResult, error) {
	defer watch(r, ctx)()
	res := BenchResult{BenchTest: t, Test: t.Name()}
	switch {
	case t.Prompt < 0 || t.Gen < 0 || t.Depth < 0 || t.Prompt+t.Gen == 0:
		return res, fmt.Errorf("bench test %+v: want prompt or generated tokens", t)
	case reps < 1:
		return res, fmt.Errorf("%d repetitions: want 1 or more", reps)
	case r.opts.Context < t.Context():
		return res, fmt.Errorf("test %s needs a context of %d, the runner holds %d", res.Test, t.Context(), r.opts.Context)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := func(n int) []int32 {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(rng.IntN(r.m.Vocab))
		}
		return ids
	}
	depth, prompt, gen := tokens(t.Depth), tokens(t.Prompt), tokens(t.Gen)

	// Warm-up: page in weights, grow buffers.
	if t.Prompt > 0 {
		if err := forwardBatches(r, prompt, 0); err != nil {
			return res, err
		}
	}
	if t.Gen > 0 {
		if _, err := r.Forward(gen[:1], 0); err != nil {
			return res, err
		}
	}

	timer, gpu := Unwrap(r.b).(GPUTimer)
	var gpuSpent, wall time.Duration
	for i := range reps {
		if t.Depth > 0 && (i == 0 || r.Recurrent()) {
			if err := forwardBatches(r, depth, 0); err != nil {
				return res, err
			}
		}
		var gpuStart time.Duration
		if gpu {
			gpuStart, _ = timer.GPUTime()
		}
		start := time.Now()
		pos := t.Depth
		if err := forwardBatches(r, prompt, pos); err != nil {
			return res, err
		}
		pos += t.Prompt
		if t.Gen > 0 {
			if err := decodeGreedy(r, gen[0], t.Gen, pos); err != nil {
				return res, err
			}
		}
		d := time.Since(start)
		if gpu {
			end, _ := timer.GPUTime()
			gpuSpent += end - gpuStart
		}
		wall += d
		res.SamplesNs = append(res.SamplesNs, uint64(d.Nanoseconds()))
		res.Samples = append(res.Samples, float64(t.Prompt+t.Gen)/d.Seconds())
	}
	res.Mean, res.StdDev = MeanStd(res.Samples)
	if gpu {
		res.GPUMsPerToken = float64(gpuSpent.Microseconds()) / 1000 / float64((t.Prompt+t.Gen)*reps)
		res.GPUBusy = gpuSpent.Seconds() / wall.Seconds()
	}
	return res, ctx.Err()
}

// decodeGreedy decodes n tokens from pos on, one at a time, as greedy
// generation does (the device picks the token where it can, and encodes
// each pass while it runs the one before): id first, then each time the
// token the pass before picked.
func decodeGreedy(r *Runner, id int32, n, pos int) error {
	dec := r.Decoder(true)
	defer dec.Close()
	for range n {
		var err error
		if id, err = dec.NextGreedy(id, pos); err != nil {
			return err
		}
		pos++
	}
	return nil
}

// forwardBatches evaluates tokens at pos, pos+1, ... in batches.
func forwardBatches(r *Runner, tokens []int32, pos int) error {
	for len(tokens) > 0 {
		n := min(len(tokens), r.opts.Batch)
		if _, err := r.Forward(tokens[:n], pos); err != nil {
			return err
		}
		tokens, pos = tokens[n:], pos+n
	}
	return nil
}

// MeanStd is the mean and sample standard deviation of x, as llama-bench
// reports its samples (0, 0 for none).
func MeanStd(x []float64) (mean, sd float64) {
	if len(x) == 0 {
		return 0, 0
	}
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
