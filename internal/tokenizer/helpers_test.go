package tokenizer

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

// testdataDir is the shared golden data folder: $QUANT_TESTDATA, else
// ../shared/testdata beside the repository. The data is never copied into the
// repository. Without it the test is skipped, or fails when
// QUANT_REQUIRE_TESTDATA is set (as in CI).
func testdataDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("QUANT_TESTDATA")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		msg := "test data folder " + dir + " is missing (set QUANT_TESTDATA to the shared testdata folder)"
		if os.Getenv("QUANT_REQUIRE_TESTDATA") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// openTokenizer loads the tokenizer of a GGUF file under the test data.
func openTokenizer(t testing.TB, elems ...string) *Tokenizer {
	t.Helper()
	path := filepath.Join(append([]string{testdataDir(t)}, elems...)...)
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
