// Package testdata locates the shared golden test data (models, golden
// logits, vocabularies, text) produced with llama.cpp. The data is never
// part of the repository: it lives in ../shared/testdata beside the clone,
// or wherever QUANT_TESTDATA points.
package testdata

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// EnvDir overrides the location of the test data.
const EnvDir = "QUANT_TESTDATA"

// EnvRequire, when non-empty, turns missing test data into a test failure
// (CI sets it, so CI can never pass by skipping).
const EnvRequire = "QUANT_REQUIRE_TESTDATA"

// Dir returns the test data folder, or skips the test (fails it when
// EnvRequire is set) with one line saying what is missing.
func Dir(t testing.TB) string {
	t.Helper()
	dir, ok := Find()
	if !ok {
		msg := "test data folder " + dir + " is missing (set " + EnvDir + " to the shared testdata folder)"
		if os.Getenv(EnvRequire) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// Find returns the test data folder and whether it exists.
func Find() (string, bool) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		// internal/testdata/testdata.go -> repository root -> ../shared/testdata
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata")
	}
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir()
}

// Path joins elems under Dir.
func Path(t testing.TB, elems ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Dir(t)}, elems...)...)
}

// Glob returns the files under Dir that match the pattern elems join to,
// failing the test when there are none.
func Glob(t testing.TB, elems ...string) []string {
	t.Helper()
	pattern := Path(t, elems...)
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	return m
}

// Models lists the .gguf files in models/.
func Models(t testing.TB) []string {
	t.Helper()
	return Glob(t, "models", "*.gguf")
}

// Unquantized reports whether a test model's weights are F32, F16 or BF16
// (stories260K is F32).
func Unquantized(model string) bool {
	return model == "stories260K" || strings.HasSuffix(model, "-f32") ||
		strings.HasSuffix(model, "-f16") || strings.HasSuffix(model, "-bf16")
}

// LogitTolerance is the largest max and mean absolute logit difference
// accepted between two implementations of a test model that add their
// float32 terms in different orders (a GPU backend against a CPU one, ours
// or llama.cpp's). F32 weights agree to float rounding. F16 and BF16
// weights multiply activations rounded to F16/BF16, as llama.cpp does:
// where two float32 sums differ in the last bit, a value near a rounding
// boundary rounds the other way, and on these random models that moves
// logits by up to ~4e-3 (F16) and ~2e-2 (BF16). The same happens, larger,
// with Q8 activations for quantized weights.
func LogitTolerance(model string) (maxAbs, meanAbs float64) {
	switch {
	case strings.HasSuffix(model, "-f16"):
		return 4e-3, 1e-3
	case strings.HasSuffix(model, "-bf16"):
		return 3e-2, 4e-3
	case Unquantized(model):
		return 1e-3, 1e-4
	}
	return 0.35, 0.05
}

// CPULogitTolerance is LogitTolerance for quant's CPU backend against
// llama.cpp's: the CPU backend sums float weights in ggml's orders, so F32,
// F16 and BF16 models agree within 1e-3 (on the test data, bit for bit).
func CPULogitTolerance(model string) (maxAbs, meanAbs float64) {
	if Unquantized(model) {
		return 1e-3, 1e-4
	}
	return LogitTolerance(model)
}
