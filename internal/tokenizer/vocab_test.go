package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/testdata"
)

// vocabCase is one llama.cpp test-tokenizer-0 vector.
type vocabCase struct {
	text string
	ids  []int32
}

// readVocabCases parses <vocab>.gguf.inp (texts, each followed by the line
// __ggml_vocab_test__) and .out (one line of ids per text).
func readVocabCases(t *testing.T, ggufPath string) []vocabCase {
	t.Helper()
	inp, err := os.ReadFile(ggufPath + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(ggufPath + ".out")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] != "" {
		t.Fatalf("%s.inp does not end with the separator", ggufPath)
	}
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d inputs but %d output lines", ggufPath, len(texts), len(lines))
	}
	cases := make([]vocabCase, len(texts))
	for i, text := range texts {
		cases[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			v, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", ggufPath, i+1, err)
			}
			cases[i].ids = append(cases[i].ids, int32(v))
		}
	}
	return cases
}

// TestVocabVectors checks every llama.cpp vocabulary test vector
// (add_special=false, parse_special=false, as test-tokenizer-0 does).
func TestVocabVectors(t *testing.T) {
	for _, path := range testdata.Glob(t, "vocab", "ggml-vocab-*.gguf") {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "ggml-vocab-"), ".gguf")
		t.Run(name, func(t *testing.T) {
			tok := openTokenizer(t, "vocab", filepath.Base(path))
			cases := readVocabCases(t, path)
			passed := 0
			for i, c := range cases {
				got, err := tok.Encode(c.text, false, false)
				if err != nil {
					t.Errorf("case %d %q: %v", i, c.text, err)
					continue
				}
				if !slices.Equal(got, c.ids) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, c.text, got, c.ids)
					continue
				}
				passed++
			}
			t.Logf("%s: %d/%d cases passed", name, passed, len(cases))
		})
	}
}
