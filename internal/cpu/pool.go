package cpu

import "sync"

// pool runs parallel loops on persistent goroutines, so an operation costs a
// wake-up rather than goroutine creation.
type pool struct {
	workers int
	jobs    chan job
	wg      sync.WaitGroup
}

type job struct {
	fn     func(lo, hi int)
	lo, hi int
	done   *sync.WaitGroup
}

func newPool(workers int) *pool {
	p := &pool{workers: max(workers, 1), jobs: make(chan job)}
	for i := 1; i < p.workers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				j.fn(j.lo, j.hi)
				j.done.Done()
			}
		}()
	}
	return p
}

// parallelFor calls fn over [0, n) split into about workers*4 chunks of at
// least grain items; the calling goroutine takes a share of the work.
func (p *pool) parallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks := min(p.workers*4, (n+grain-1)/max(grain, 1))
	if chunks <= 1 || p.workers == 1 {
		fn(0, n)
		return
	}
	size := (n + chunks - 1) / chunks
	var done sync.WaitGroup
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		done.Add(1)
		select {
		case p.jobs <- job{fn: fn, lo: lo, hi: hi, done: &done}:
		default: // every worker is busy: do this chunk here
			fn(lo, hi)
			done.Done()
		}
	}
	done.Wait()
}

func (p *pool) close() {
	close(p.jobs)
	p.wg.Wait()
}
