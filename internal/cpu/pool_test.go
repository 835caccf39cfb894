package cpu

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelFor checks that every index is visited exactly once, for
// loops that split and loops that do not, back to back (workers still
// spinning) and after the workers have gone to sleep.
func TestParallelFor(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 8} {
		p := newPool(workers)
		for i, tc := range []struct{ n, grain int }{
			{0, 1}, {1, 1}, {7, 1}, {100, 1}, {100, 8}, {1000, 3}, {5, 100},
		} {
			if i == 3 {
				time.Sleep(2 * spinTime) // let the workers sleep
			}
			counts := make([]atomic.Int32, tc.n)
			p.parallelFor(tc.n, tc.grain, func(lo, hi int) {
				for j := lo; j < hi; j++ {
					counts[j].Add(1)
				}
			})
			for j := range counts {
				if c := counts[j].Load(); c != 1 {
					t.Fatalf("%d workers, n=%d grain=%d: index %d visited %d times", workers, tc.n, tc.grain, j, c)
				}
			}
		}
		p.close()
	}
}
