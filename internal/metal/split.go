package metal

import (
	"fmt"
	"time"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/kernels"
)

// Long passes as several command buffers.
//
// macOS kills a command buffer that keeps the GPU too long (the watchdog's
// kIOGPUCommandBufferCallbackErrorImpactingInteractivity on a Mac that
// drives a display), and the pass of a long prompt through a 4B model takes
// seconds. So the backend estimates each dispatch's GPU time as it records
// it, from its floating-point operations and memory traffic on the slowest
// GPU it supports, and Sync commits a pass of several rows as command
// buffers of at most cbBudget each. A pass of one row (a decoded token)
// stays one command buffer: it reads every weight once, so it takes at most
// the memory's size over its bandwidth, a quarter of a second on any Apple
// silicon Mac (an M1 with 16 GB at 68 GB/s, an M2 Ultra with 192 GB at
// 800 GB/s).
const (
	// cbBudget is the estimated GPU time of a command buffer of a split
	// pass: far under the watchdog's limit even if the estimate is several
	// times too low.
	cbBudget = 200 * time.Millisecond
	// slowFLOPS and slowBandwidth are the rates the estimate assumes:
	// under half of the float throughput of an M1's 7-core GPU (2.3
	// TFLOPS), and under its memory bandwidth (68 GB/s).
	slowFLOPS     = 1e12
	slowBandwidth = 50e9
	// dispatchCost is the least a dispatch is counted for (its launch and
	// barrier, and the small kernels that state no cost).
	dispatchCost = 5 * time.Microsecond
)

// gpuTime is the estimated GPU time of work of flops floating-point
// operations over bytes of memory traffic.
func gpuTime(flops, bytes float64) time.Duration {
	return max(time.Duration(max(flops/slowFLOPS, bytes/slowBandwidth)*float64(time.Second)), dispatchCost)
}

// matMulCost estimates MatMul of rows activation rows with w on the
// kernel the rows choose: each threadgroup column of mul_mm and mul_mv_batch
// reads the weights again.
func matMulCost(w *engine.Weight, rows int) time.Duration {
	passes := rows
	switch {
	case rows >= mulMMMinRows:
		passes = ceilDiv(rows, kernels.MMCols)
	case rows > 1:
		passes = ceilDiv(rows, kernels.MVBatch)
	}
	flops := 2 * float64(w.Rows) * float64(w.Cols) * float64(rows)
	bytes := float64(len(w.Data))*float64(passes) + 4*float64(rows)*float64(w.Rows+w.Cols)
	return gpuTime(flops, bytes)
}

// attendCost estimates attention of rows query rows at positions pos.. over
// the keys up to each: a product with every key and value of the context
// per head (causality would halve it).
func attendCost(rows, pos int, a *engine.Attention) time.Duration {
	ctx := float64(pos + rows)
	flops := 4 * float64(rows) * float64(a.Heads*a.HeadDim) * ctx
	bytes := 2 * 4 * ctx * float64(a.KVHeads*a.HeadDim) * float64(ceilDiv(rows, 8)) // K and V, re-read per few rows
	return gpuTime(flops, bytes)
}

// account adds a dispatch of the estimated cost to the pass being
// recorded: it starts a new command buffer when the current one would
// exceed the budget.
func (b *Backend) account(cost time.Duration) {
	cost = max(cost, dispatchCost)
	start := 0
	if n := len(b.splits); n > 0 {
		start = b.splits[n-1]
	}
	if b.segCost+cost > b.budget && len(b.pending) > start {
		b.splits = append(b.splits, len(b.pending))
		b.segCost = 0
	}
	b.segCost += cost
}

// syncSplit runs the recorded pass as a command buffer per segment
// (b.splits): each is encoded while the one before runs and committed
// once that one has been waited for, as devices require.
func (b *Backend) syncSplit() error {
	var (
		prev  CommandBuffer
		prevN int
		err   error
	)
	start := 0
	for _, end := range append(b.splits, len(b.pending)) {
		var cb CommandBuffer
		if cb, err = b.dev.Encode(b.pending[start:end]); err != nil {
			err = fmt.Errorf("metal: %w", err)
			break
		}
		if prev != nil {
			err, prev = b.wait(prev, prevN), nil
		}
		if err == nil {
			if err = cb.Commit(); err != nil {
				err = fmt.Errorf("metal: %w", err)
			}
		}
		if err != nil {
			cb.Discard()
			break
		}
		prev, prevN, start = cb, end-start, end
	}
	if prev != nil {
		if werr := b.wait(prev, prevN); err == nil {
			err = werr
		}
	}
	b.endPass()
	return err
}
