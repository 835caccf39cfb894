package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// pool runs parallel loops on persistent worker goroutines. A forward pass
// runs hundreds of short loops per token, so two costs matter: waking a
// sleeping thread takes tens of microseconds, and a core slowed by a noisy
// neighbour holds everyone up at the end of a loop. Workers therefore spin
// for a while after a loop before they sleep, and every goroutine claims
// small chunks from a shared counter until none are left.
type pool struct {
	workers  int
	current  atomic.Pointer[loop] // the latest loop; workers compare it with the last they ran
	sleepers atomic.Int32         // workers blocked in wake.Wait
	mu       sync.Mutex           // guards closed and the wait on wake
	wake     *sync.Cond
	closed   bool
	wg       sync.WaitGroup
}

// loop is one parallelFor call. Each call gets its own, so a worker that
// looks late at a finished loop finds no chunks left rather than another
// loop's state.
type loop struct {
	fn      func(lo, hi int)
	n, size int
	chunks  int64        // ceil(n/size)
	next    atomic.Int64 // next chunk to claim
	pending atomic.Int64 // chunks not finished
}

// spinTime is how long an idle worker polls for the next loop before it
// sleeps: longer than the gaps between a token's loops, short enough not to
// burn a core between tokens.
const spinTime = 200 * time.Microsecond

func newPool(workers int) *pool {
	p := &pool{workers: max(workers, 1)}
	p.wake = sync.NewCond(&p.mu)
	for i := 1; i < p.workers; i++ {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

func (p *pool) work() {
	defer p.wg.Done()
	var last *loop
	for {
		l := p.await(last)
		if l == nil {
			return
		}
		l.run()
		last = l
	}
}

// await returns the first loop after last, or nil once the pool is closed.
func (p *pool) await(last *loop) *loop {
	deadline := time.Now().Add(spinTime)
	for i := 0; ; i++ {
		if l := p.current.Load(); l != last {
			return l
		}
		if i%1024 == 1023 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sleepers.Add(1)
	defer p.sleepers.Add(-1)
	for p.current.Load() == last && !p.closed {
		p.wake.Wait()
	}
	if p.closed {
		return nil
	}
	return p.current.Load()
}

// run claims and runs chunks until none are left.
func (l *loop) run() {
	for {
		c := l.next.Add(1) - 1
		if c >= l.chunks {
			return
		}
		lo := int(c) * l.size
		l.fn(lo, min(lo+l.size, l.n))
		l.pending.Add(-1)
	}
}

// parallelFor calls fn over [0, n) split into about workers*8 chunks of at
// least grain items; the calling goroutine takes a share of the work.
func (p *pool) parallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks := min(p.workers*8, (n+grain-1)/max(grain, 1))
	if chunks <= 1 || p.workers == 1 {
		fn(0, n)
		return
	}
	size := (n + chunks - 1) / chunks
	l := &loop{fn: fn, n: n, size: size, chunks: int64((n + size - 1) / size)}
	l.pending.Store(l.chunks)
	p.current.Store(l)
	if p.sleepers.Load() > 0 {
		p.mu.Lock()
		p.wake.Broadcast()
		p.mu.Unlock()
	}
	l.run()
	for i := 0; l.pending.Load() > 0; i++ {
		if i%64 == 63 {
			runtime.Gosched()
		}
	}
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.wake.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}
