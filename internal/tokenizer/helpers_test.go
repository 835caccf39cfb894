package tokenizer

import (
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
)

// openTokenizer loads the tokenizer of a GGUF file under the test data.
func openTokenizer(t testing.TB, elems ...string) *Tokenizer {
	t.Helper()
	path := testdata.Path(t, elems...)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
