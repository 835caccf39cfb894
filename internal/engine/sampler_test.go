package engine

import (
	"math"
	"strings"
	"testing"
)

func TestSampler(t *testing.T) {
	logits := []float32{1, 5, 3, 5, -2, 0.5}
	cases := []struct {
		name string
		cfg  SamplerConfig
		want func(id int32) bool
	}{
		{"greedy takes the lowest id on ties", SamplerConfig{Temperature: 0}, func(id int32) bool { return id == 1 }},
		{"top-k 1 is greedy", SamplerConfig{Temperature: 1, TopK: 1, TopP: 1}, func(id int32) bool { return id == 1 }},
		{"top-k 2 keeps the two best", SamplerConfig{Temperature: 5, TopK: 2, TopP: 1}, func(id int32) bool { return id == 1 || id == 3 }},
		{"min-p drops the unlikely", SamplerConfig{Temperature: 1, TopP: 1, MinP: 0.5}, func(id int32) bool { return id == 1 || id == 3 }},
		{"top-p keeps the nucleus", SamplerConfig{Temperature: 1, TopP: 0.4}, func(id int32) bool { return id == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSampler(c.cfg)
			for range 200 {
				if id := s.Sample(logits); !c.want(id) {
					t.Fatalf("sampled %d", id)
				}
			}
		})
	}
}

func TestSamplerSeeded(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(i%17) * 0.3
	}
	draw := func(seed uint64) []int32 {
		s := NewSampler(SamplerConfig{Temperature: 1.5, TopP: 1, Seed: seed})
		var ids []int32
		for range 50 {
			ids = append(ids, s.Sample(logits))
		}
		return ids
	}
	a, b, c := draw(7), draw(7), draw(8)
	same := func(x, y []int32) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("same seed gave different tokens")
	}
	if same(a, c) {
		t.Error("different seeds gave the same 50 tokens")
	}
}

func TestRepeatPenalty(t *testing.T) {
	s := NewSampler(SamplerConfig{Temperature: 0, RepeatPenalty: 3, RepeatWindow: 4})
	logits := []float32{2, 1.5, -1}
	s.Accept(0)
	if id := s.Sample(logits); id != 1 {
		t.Errorf("penalised token still chosen: %d", id)
	}
	if logits[0] != 2 {
		t.Error("Sample modified the logits")
	}
	s.SetHistory([]int32{2, 2, 2, 2, 2})
	if id := s.Sample(logits); id != 0 {
		t.Errorf("window did not forget token 0: chose %d", id)
	}
}

func TestSamplerConfigValidate(t *testing.T) {
	nan := float32(math.NaN())
	if err := DefaultSamplerConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, c := range []struct {
		edit func(*SamplerConfig)
		want string
	}{
		{func(c *SamplerConfig) { c.Temperature = nan }, "temperature NaN"},
		{func(c *SamplerConfig) { c.Temperature = -1 }, "temperature -1"},
		{func(c *SamplerConfig) { c.TopK = -3 }, "top-k -3"},
		{func(c *SamplerConfig) { c.TopP = -1 }, "top-p -1"},
		{func(c *SamplerConfig) { c.TopP = 1.5 }, "top-p 1.5"},
		{func(c *SamplerConfig) { c.MinP = 2 }, "min-p 2"},
		{func(c *SamplerConfig) { c.RepeatPenalty = 0 }, "repeat penalty 0"},
		{func(c *SamplerConfig) { c.RepeatPenalty = float32(math.Inf(1)) }, "repeat penalty +Inf"},
		{func(c *SamplerConfig) { c.RepeatWindow = -2 }, "repeat window -2"},
	} {
		cfg := DefaultSamplerConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q...", cfg, err, c.want)
		}
	}
}
