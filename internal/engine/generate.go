package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrContextFull is returned when generation reaches the end of the context.
var ErrContextFull = errors.New("context is full")

// Session holds the position in the KV cache between calls, so a chat keeps
// its history without re-evaluating it.
type Session struct {
	r *Runner
	// history holds the tokens whose keys and values are in the cache.
	history []int32
	// dirty is set when a forward pass failed or was interrupted part-way:
	// a recurrent state then holds part of a batch that history does not.
	dirty bool
}

// NewSession starts an empty session on r.
func NewSession(r *Runner) *Session { return &Session{r: r} }

// Pos is the number of positions used so far.
func (s *Session) Pos() int { return len(s.history) }

// History is the tokens whose keys and values are in the cache (the
// caller must not modify them).
func (s *Session) History() []int32 { return s.history[:len(s.history):len(s.history)] }

// Rewind keeps the longest prefix of the history that tokens starts with
// and returns the rest of tokens: what still needs evaluating. A chat
// re-renders the whole conversation each turn and only pays for the new part.
func (s *Session) Rewind(tokens []int32) []int32 {
	n := 0
	for n < len(tokens) && n < len(s.history) && tokens[n] == s.history[n] {
		n++
	}
	if n == len(tokens) && n > 0 {
		n-- // re-evaluate the last token to get its logits
	}
	if s.r.Recurrent() && (n < len(s.history) || s.dirty) {
		// A recurrent state holds only the latest position: going back
		// (or past an interrupted batch) means evaluating the whole
		// sequence again.
		n = 0
	}
	if n == 0 {
		s.dirty = false
	}
	s.history = s.history[:n]
	return tokens[n:]
}

// Prefill evaluates tokens in batches after the history and returns the
// last token's logits. Cancelling ctx stops it within one backend
// operation when the runner's backend is Interruptible; the batches
// evaluated until then stay in the history.
func (s *Session) Prefill(ctx context.Context, tokens []int32) ([]float32, error) {
	defer watch(s.r, ctx)()
	if len(tokens) == 0 {
		return nil, errors.New("empty prompt")
	}
	if s.Pos()+len(tokens) > s.r.opts.Context {
		return nil, fmt.Errorf("prompt of %d tokens does not fit: %d of the %d-token context are in use", len(tokens), s.Pos(), s.r.opts.Context)
	}
	var logits []float32
	for len(tokens) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(len(tokens), s.r.opts.Batch)
		var err error
		if logits, err = s.forward(tokens[:n]); err != nil {
			return nil, err
		}
		s.history = append(s.history, tokens[:n]...)
		tokens = tokens[n:]
	}
	if s.r.opts.AllLogits {
		logits = logits[len(logits)-s.r.m.Vocab:]
	}
	return logits, nil
}

// forward evaluates tokens after the history (without adding them to it).
func (s *Session) forward(tokens []int32) ([]float32, error) {
	logits, err := s.r.Forward(tokens, s.Pos())
	if err != nil {
		s.dirty = true
	}
	return logits, err
}

// Stats are the timings of one generation. PromptTokens counts the prompt
// tokens evaluated, which is fewer than the prompt when it was interrupted.
type Stats struct {
	PromptTokens, GenTokens int
	PromptTime, GenTime     time.Duration
}

// PromptRate is prompt tokens per second.
func (s Stats) PromptRate() float64 { return rate(s.PromptTokens, s.PromptTime) }

// GenRate is generated tokens per second.
func (s Stats) GenRate() float64 { return rate(s.GenTokens, s.GenTime) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Generate evaluates prompt, then samples up to maxTokens tokens (until the
// context is full when maxTokens < 0), calling emit for each. It stops early
// at a token for which stop returns true (that token is not emitted), when
// ctx is cancelled (returning ctx.Err()), or with ErrContextFull. Logits
// that are not finite (a broken model) are an error naming the position.
// The tokens after the first are decoded by a Decoder: on a GPU, each one's
// pass is encoded while the GPU runs the one before, and greedy sampling
// without a repeat penalty picks the token on the GPU.
func (s *Session) Generate(ctx context.Context, prompt []int32, maxTokens int, smp *Sampler, stop func(int32) bool, emit func(int32) error) (st Stats, err error) {
	defer watch(s.r, ctx)()
	start, startPos := time.Now(), s.Pos()
	logits, err := s.Prefill(ctx, prompt)
	st.PromptTokens, st.PromptTime = s.Pos()-startPos, time.Since(start)
	if err != nil {
		return st, err
	}
	smp.SetHistory(s.history)
	start = time.Now()
	defer func() { st.GenTime = time.Since(start) }()
	if err := CheckFinite(logits, s.Pos()-1); err != nil {
		return st, err
	}
	next := smp.Sample(logits)
	dec := s.r.Decoder(smp.Greedy())
	defer dec.Close()
	for maxTokens < 0 || st.GenTokens < maxTokens {
		if stop(next) {
			return st, nil
		}
		smp.Accept(next)
		if err := emit(next); err != nil {
			return st, err
		}
		st.GenTokens++
		if st.GenTokens == maxTokens {
			break
		}
		if s.Pos() >= s.r.opts.Context {
			return st, ErrContextFull
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if next, err = s.decode(dec, smp, next); err != nil {
			return st, err
		}
	}
	return st, nil
}

// decode evaluates id after the history, adds it, and samples the token
// that follows.
func (s *Session) decode(dec *Decoder, smp *Sampler, id int32) (int32, error) {
	pos := s.Pos()
	var next int32
	var err error
	if smp.Greedy() {
		next, err = dec.NextGreedy(id, pos)
	} else {
		var logits []float32
		if logits, err = dec.Next(id, pos); err == nil {
			err = CheckFinite(logits, pos)
			next = smp.Sample(logits)
		}
	}
	if err != nil {
		s.dirty = true
		return 0, err
	}
	s.history = append(s.history, id)
	return next, nil
}

// NonFiniteError reports logits that are NaN or infinite: the model (or a
// kernel) is broken from that position on.
type NonFiniteError struct {
	Pos   int     // position whose logits are bad
	Token int     // first vocabulary entry that is not finite
	Value float32 // its value
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("the model's logits at position %d are not finite (token %d: %v): its weights or the computation are broken", e.Pos, e.Token, e.Value)
}

// CheckFinite returns a *NonFiniteError when a logit of the row for
// position pos is NaN or infinite.
func CheckFinite(logits []float32, pos int) error {
	for i, v := range logits {
		if v-v != 0 { // NaN or ±Inf
			return &NonFiniteError{Pos: pos, Token: i, Value: v}
		}
	}
	return nil
}
