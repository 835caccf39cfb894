package engine

import "context"

// Interruptible wraps b so that cancelling the context of a running
// Session, Perplexity or Bench call stops the forward pass at the next
// backend operation instead of at the end of the batch: a prompt of
// thousands of tokens on a large model stops within one matrix product.
// Once the context is cancelled, every remaining operation of the pass is
// skipped and Sync reports the context's error, so Forward returns it.
// The positions of an interrupted pass are not added to a Session's
// history; a recurrent state it touched is evaluated again from position 0.
//
// Pass the wrapper to NewRunner; the other methods of b are used as they are.
func Interruptible(b Backend) Backend {
	if _, ok := b.(*interruptible); ok {
		return b
	}
	return &interruptible{Backend: b}
}

// Unwrap returns the backend inside an Interruptible wrapper (b itself
// otherwise), for optional interfaces such as GPUTimer.
func Unwrap(b Backend) Backend {
	if ib, ok := b.(*interruptible); ok {
		return ib.Backend
	}
	return b
}

type interruptible struct {
	Backend
	// ctx is the context of the call that is running, nil between calls;
	// done is its Done channel.
	ctx  context.Context
	done <-chan struct{}
}

// watch makes ctx interrupt r's forward passes until the returned function
// is called. Calls nest: an inner watch of the same context is a no-op.
func watch(r *Runner, ctx context.Context) (release func()) {
	ib, ok := r.b.(*interruptible)
	if !ok || ib.ctx != nil {
		return func() {}
	}
	ib.ctx, ib.done = ctx, ctx.Done()
	return func() { ib.ctx, ib.done = nil, nil }
}

// interrupted is the error of the context that stopped r's forward pass
// (which may then be recorded in part), nil when none did.
func (r *Runner) interrupted() error {
	if ib, ok := r.b.(*interruptible); ok && ib.stopped() {
		return ib.ctx.Err()
	}
	return nil
}

func (b *interruptible) stopped() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *interruptible) Sync() error {
	err := b.Backend.Sync()
	if b.stopped() {
		return b.ctx.Err()
	}
	return err
}

func (b *interruptible) Embed(dst Tensor, table *Weight, ids []int32) {
	if !b.stopped() {
		b.Backend.Embed(dst, table, ids)
	}
}

func (b *interruptible) RMSNorm(dst, x Tensor, w *Weight, eps float32) {
	if !b.stopped() {
		b.Backend.RMSNorm(dst, x, w, eps)
	}
}

func (b *interruptible) MatMul(dst Tensor, w *Weight, x Tensor) {
	if !b.stopped() {
		b.Backend.MatMul(dst, w, x)
	}
}

func (b *interruptible) AddBias(x Tensor, bias *Weight) {
	if !b.stopped() {
		b.Backend.AddBias(x, bias)
	}
}

func (b *interruptible) QKV(q, k, v Tensor, wq, wk, wv *Weight, x Tensor) {
	if !b.stopped() {
		b.Backend.QKV(q, k, v, wq, wk, wv, x)
	}
}

func (b *interruptible) RoPEStoreKV(c KVCache, layer int, q, k, v Tensor, pos int, a *Attention, r *Rope, n *HeadNorm) {
	if !b.stopped() {
		b.Backend.RoPEStoreKV(c, layer, q, k, v, pos, a, r, n)
	}
}

func (b *interruptible) Attend(dst, q Tensor, c KVCache, layer, pos int, a *Attention) {
	if !b.stopped() {
		b.Backend.Attend(dst, q, c, layer, pos, a)
	}
}

func (b *interruptible) GateUp(dst Tensor, gate, up *Weight, x Tensor) {
	if !b.stopped() {
		b.Backend.GateUp(dst, gate, up, x)
	}
}

func (b *interruptible) MatMulAdd(dst Tensor, w *Weight, x Tensor) {
	if !b.stopped() {
		b.Backend.MatMulAdd(dst, w, x)
	}
}

func (b *interruptible) SplitHeads(x, y, src Tensor, width int) {
	if !b.stopped() {
		b.Backend.SplitHeads(x, y, src, width)
	}
}

func (b *interruptible) SigmoidMul(dst, gate Tensor) {
	if !b.stopped() {
		b.Backend.SigmoidMul(dst, gate)
	}
}

func (b *interruptible) ConvSiLU(dst, x Tensor, s RecurrentState, layer int, w *Weight, d *DeltaNet) {
	if !b.stopped() {
		b.Backend.ConvSiLU(dst, x, s, layer, w, d)
	}
}

func (b *interruptible) GatedDeltaRule(dst, x, beta, alpha Tensor, s RecurrentState, layer int, a, dtBias *Weight, d *DeltaNet) {
	if !b.stopped() {
		b.Backend.GatedDeltaRule(dst, x, beta, alpha, s, layer, a, dtBias, d)
	}
}

func (b *interruptible) GatedRMSNorm(dst, x, z Tensor, w *Weight, eps float32) {
	if !b.stopped() {
		b.Backend.GatedRMSNorm(dst, x, z, w, eps)
	}
}
