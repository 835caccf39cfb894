package tokenizer

import (
	"math/rand"
	"slices"
	"testing"
)

// TestSplittersMatchRegex checks the hand-written splitters against the
// general regexp2 path (llama.cpp's std::regex fallback) on random text.
func TestSplittersMatchRegex(t *testing.T) {
	alphabet := []string{"a", "Z", "é", "日", " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "1", "½", "٣",
		"'", "'s", "'S", "'ll", "'Re", ".", ",", "!", "$", "~", "-", "😀", "\u0301", "\x00", "\x1f", "\xff", "\u0378"}
	cases := []struct {
		expr   string
		custom splitStage
	}{
		{reGPT2, gpt2Splitter{}},
		{reLlama3, llama3Splitter{}},
		{reNumber, numberSplitter{maxRun: 1}},
		{reNumbers, numberSplitter{}},
	}
	r := rand.New(rand.NewSource(7))
	for _, c := range cases {
		generic, err := compileRegexStage(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		var text cpText
		for range 3000 {
			s := ""
			for range r.Intn(10) {
				s += alphabet[r.Intn(len(alphabet))]
			}
			text.reset(s)
			in := []int{len(text.cps)}
			if len(text.cps) == 0 {
				continue
			}
			want := generic.split(&text, in, nil)
			got := c.custom.split(&text, in, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("%q on %q: custom %v, regex %v", c.expr, s, got, want)
			}
		}
	}
}
