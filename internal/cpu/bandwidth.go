package cpu

import (
	"time"

	"github.com/quant-llm/quant/internal/gguf"
)

// ReadBandwidth measures how many bytes per second threads workers read
// from memory: the best of several passes over a buffer of size bytes
// (make it several times the last-level cache), each worker summing its
// chunks with the F32 dot kernel the way decode streams weights. It is the
// bound a decode step reading every weight once per token can approach.
func ReadBandwidth(threads, size int) float64 {
	const chunk = 1 << 20 // bytes a worker claims at a time
	size = max(size/chunk, 1) * chunk
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i) // touch every page before timing
	}
	p := newPool(threads)
	defer p.close()
	sums := make([]float32, size/chunk) // keeps the reads from being optimised away
	best := time.Duration(1<<63 - 1)
	for range 5 {
		start := time.Now()
		p.parallelFor(size/chunk, 1, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				b := buf[c*chunk : (c+1)*chunk]
				sums[c] = Dot(gguf.TypeF32, chunk/4, b, b)
			}
		})
		best = min(best, time.Since(start))
	}
	return float64(size) / best.Seconds()
}
