package engine

import (
	"errors"
	"fmt"
)

// Pipeliner is an optional Backend capability for decoding: a forward pass
// recorded and encoded before the token ids it embeds are known, while the
// device still runs the pass before, and started once sampling has chosen
// them. A GPU backend hides its encoding behind the GPU's work this way;
// Decoder uses it when the backend has it.
type Pipeliner interface {
	// Argmax records the greedy choice over x (one row): the index of
	// its largest value, the lowest on ties, which Step.Argmax returns.
	Argmax(x Tensor)
	// Prepare encodes what was recorded since the last Sync or Prepare
	// as a step that has not started. The ids Embed was given are
	// placeholders for those Step.Start writes.
	Prepare() (Step, error)
}

// Step is a forward pass that Pipeliner.Prepare encoded.
type Step interface {
	// Start writes the token ids the pass embeds (as many as its Embed
	// was given) where the device reads them, and starts the work.
	Start(ids []int32) error
	// Wait waits for the work; then Read sees its results.
	Wait() error
	// Argmax is the result of the pass's Argmax after Wait: the index,
	// and false when a value of the row is NaN or infinite.
	Argmax() (id int32, finite bool)
	// Discard drops a step that was not started.
	Discard()
}

// Decoder evaluates a sequence one token at a time. On a Pipeliner
// backend each Next starts the pass encoded for its position, encodes the
// pass of the next position while the device runs it, and only then waits:
// one command buffer and one wait per token, and between two passes on the
// device only the sampling and the write of the token id. Elsewhere Next is
// Runner.Forward. Close the decoder before evaluating anything else on its
// runner.
type Decoder struct {
	r      *Runner
	p      Pipeliner // nil: Forward
	greedy bool
	// ids is the token Start writes; placeholder the one Embed records.
	ids, placeholder [1]int32
	// ahead is the pass of position aheadPos, encoded and not started.
	ahead    Step
	aheadPos int
}

// Decoder returns a decoder of r's sequence. With greedy, the passes also
// pick the greedy token on the device, for NextGreedy.
func (r *Runner) Decoder(greedy bool) *Decoder {
	p, _ := Unwrap(r.b).(Pipeliner)
	return &Decoder{r: r, p: p, greedy: greedy}
}

// Next evaluates token id at position pos and returns its logits (the
// last row of Forward's, reused by the next call).
func (d *Decoder) Next(id int32, pos int) ([]float32, error) {
	if !d.pipelined(pos) {
		return d.r.Forward([]int32{id}, pos)
	}
	if _, err := d.step(id, pos); err != nil {
		return nil, err
	}
	return d.r.readLogits(1)
}

// NextGreedy evaluates token id at position pos and returns the token
// that greedy sampling picks from its logits: the largest logit's, as
// Argmax, read back alone when the device picks it. Logits that are not
// finite are a *NonFiniteError.
func (d *Decoder) NextGreedy(id int32, pos int) (int32, error) {
	if !d.pipelined(pos) || !d.greedy {
		logits, err := d.Next(id, pos)
		if err != nil {
			return 0, err
		}
		if err := CheckFinite(logits, pos); err != nil {
			return 0, err
		}
		return Argmax(logits), nil
	}
	s, err := d.step(id, pos)
	if err != nil {
		return 0, err
	}
	next, finite := s.Argmax()
	if !finite {
		logits, err := d.r.readLogits(1)
		if err == nil {
			err = CheckFinite(logits, pos)
		}
		return 0, err
	}
	return next, nil
}

// pipelined reports whether the pass at pos is encoded ahead: on a
// Pipeliner, past position 0, where Forward resets a recurrent state.
func (d *Decoder) pipelined(pos int) bool { return d.p != nil && pos > 0 }

// step runs the pass of id at pos, encoding the next position's meanwhile.
func (d *Decoder) step(id int32, pos int) (Step, error) {
	s := d.ahead
	d.ahead = nil
	if s == nil || d.aheadPos != pos {
		if s != nil {
			s.Discard()
		}
		var err error
		if s, err = d.prepare(pos); err != nil {
			return nil, err
		}
	}
	d.ids[0] = id
	if err := d.r.begin(d.ids[:], pos); err != nil {
		s.Discard()
		return nil, err
	}
	if err := d.r.interrupted(); err != nil {
		// The pass may have been recorded in part.
		s.Discard()
		return nil, err
	}
	if err := s.Start(d.ids[:]); err != nil {
		s.Discard()
		return nil, err
	}
	// The device runs pos; encode pos+1 meanwhile.
	var aheadErr error
	if pos+1 < d.r.opts.Context {
		d.ahead, aheadErr = d.prepare(pos + 1)
		d.aheadPos = pos + 1
	}
	if err := errors.Join(s.Wait(), aheadErr); err != nil {
		return nil, err
	}
	if err := d.r.interrupted(); err != nil {
		return nil, err
	}
	return s, nil
}

// prepare records the pass of one token at pos, its id left to Start.
func (d *Decoder) prepare(pos int) (Step, error) {
	if pos >= d.r.opts.Context {
		return nil, fmt.Errorf("position %d exceeds the context of %d", pos, d.r.opts.Context)
	}
	d.r.encode(d.placeholder[:], pos)
	if d.greedy {
		d.p.Argmax(d.r.logits.RowRange(0, 1))
	}
	return d.p.Prepare()
}

// Close drops the pass encoded ahead.
func (d *Decoder) Close() {
	if d.ahead != nil {
		d.ahead.Discard()
		d.ahead = nil
	}
}
