package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// SamplerConfig selects how the next token is drawn from the logits.
// Temperature <= 0 means greedy (argmax).
type SamplerConfig struct {
	Temperature   float32
	TopK          int     // 0 disables
	TopP          float32 // 1 disables
	MinP          float32 // 0 disables
	RepeatPenalty float32 // 1 disables
	RepeatWindow  int     // how many recent tokens the penalty looks at
	Seed          uint64
}

// DefaultSamplerConfig matches llama.cpp's defaults.
func DefaultSamplerConfig() SamplerConfig {
	return SamplerConfig{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1, RepeatWindow: 64}
}

// Validate rejects settings outside the range each one is defined on.
func (c SamplerConfig) Validate() error {
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	switch {
	case !finite(c.Temperature) || c.Temperature < 0:
		return fmt.Errorf("temperature %v: want a number >= 0 (0 = greedy)", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("top-k %d: want 0 (off) or more", c.TopK)
	case !finite(c.TopP) || c.TopP < 0 || c.TopP > 1:
		return fmt.Errorf("top-p %v: want a probability from 0 to 1 (1 = off)", c.TopP)
	case !finite(c.MinP) || c.MinP < 0 || c.MinP > 1:
		return fmt.Errorf("min-p %v: want a fraction from 0 (off) to 1", c.MinP)
	case !finite(c.RepeatPenalty) || c.RepeatPenalty <= 0:
		return fmt.Errorf("repeat penalty %v: want a number > 0 (1 = off)", c.RepeatPenalty)
	case c.RepeatWindow < 0:
		return fmt.Errorf("repeat window %d: want 0 or more tokens", c.RepeatWindow)
	}
	return nil
}

// Sampler draws tokens; the same seed and inputs give the same tokens.
type Sampler struct {
	cfg     SamplerConfig
	rng     *rand.Rand
	recent  []int32
	cands   []candidate
	scratch []float32
}

type candidate struct {
	id int32
	p  float32 // logit, then probability
}

// NewSampler returns a sampler for cfg.
func NewSampler(cfg SamplerConfig) *Sampler {
	return &Sampler{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
}

// SetHistory replaces the tokens the repeat penalty looks at.
func (s *Sampler) SetHistory(tokens []int32) {
	s.recent = s.recent[:0]
	for _, t := range tokens {
		s.Accept(t)
	}
}

// Accept records a token of the context (prompt or generated) for the
// repeat penalty.
func (s *Sampler) Accept(id int32) {
	if s.cfg.RepeatWindow <= 0 {
		return
	}
	s.recent = append(s.recent, id)
	if len(s.recent) > s.cfg.RepeatWindow {
		s.recent = s.recent[len(s.recent)-s.cfg.RepeatWindow:]
	}
}

// topK returns the TopK largest logits (all when TopK is 0), sorted by
// decreasing logit. A min-heap keeps it O(n log k) over a large vocabulary.
func (s *Sampler) topK(l []float32) []candidate {
	k := s.cfg.TopK
	if k <= 0 || k > len(l) {
		k = len(l)
	}
	h := s.cands[:0]
	less := func(a, b candidate) bool { return a.p < b.p || (a.p == b.p && a.id > b.id) }
	down := func(i int) {
		for {
			m := i
			if l := 2*i + 1; l < len(h) && less(h[l], h[m]) {
				m = l
			}
			if r := 2*i + 2; r < len(h) && less(h[r], h[m]) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i, v := range l {
		c := candidate{int32(i), v}
		if len(h) < k {
			h = append(h, c)
			for j := len(h) - 1; j > 0 && less(h[j], h[(j-1)/2]); j = (j - 1) / 2 {
				h[j], h[(j-1)/2] = h[(j-1)/2], h[j]
			}
		} else if less(h[0], c) {
			h[0] = c
			down(0)
		}
	}
	s.cands = h
	sort.Slice(h, func(i, j int) bool { return less(h[j], h[i]) })
	return h
}

// Greedy reports whether Sample picks the largest logit whatever the
// history: greedy decoding without a repeat penalty, which a decoder can
// leave to the device (Decoder.NextGreedy).
func (s *Sampler) Greedy() bool {
	return s.cfg.Temperature <= 0 && (s.cfg.RepeatPenalty == 1 || s.cfg.RepeatWindow <= 0)
}

// Argmax returns the index of the largest logit, the lowest on ties.
func Argmax(logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// Sample picks the next token from logits (which it does not modify).
func (s *Sampler) Sample(logits []float32) int32 {
	l := logits
	if s.cfg.RepeatPenalty != 1 && len(s.recent) > 0 {
		s.scratch = append(s.scratch[:0], logits...)
		l = s.scratch
		seen := map[int32]bool{}
		for _, id := range s.recent {
			if seen[id] {
				continue
			}
			seen[id] = true
			// llama.cpp's penalty: shrink positive logits, grow negative ones.
			if l[id] > 0 {
				l[id] /= s.cfg.RepeatPenalty
			} else {
				l[id] *= s.cfg.RepeatPenalty
			}
		}
	}
	if s.cfg.Temperature <= 0 {
		return Argmax(l)
	}

	c := s.topK(l)
	// Softmax at temperature.
	maxv := c[0].p
	var sum float64
	for i := range c {
		e := math.Exp(float64((c[i].p - maxv) / s.cfg.Temperature))
		c[i].p = float32(e)
		sum += e
	}
	for i := range c {
		c[i].p = float32(float64(c[i].p) / sum)
	}
	if s.cfg.MinP > 0 {
		floor := c[0].p * s.cfg.MinP
		n := 1
		for n < len(c) && c[n].p >= floor {
			n++
		}
		c = c[:n]
	}
	if s.cfg.TopP > 0 && s.cfg.TopP < 1 {
		var cum float32
		for i := range c {
			cum += c[i].p
			if cum >= s.cfg.TopP {
				c = c[:i+1]
				break
			}
		}
	}
	var total float32
	for _, x := range c {
		total += x.p
	}
	u := s.rng.Float32() * total
	for _, x := range c {
		u -= x.p
		if u <= 0 {
			return x.id
		}
	}
	return c[len(c)-1].id
}
