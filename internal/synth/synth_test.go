package synth

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
)

// TestZeroModel: a zero-weight model has the preset's shape, reads as
// zeros, and takes almost no disk.
func TestZeroModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteFile(path, "smollm2-1.7b", "q4_k_m", Options{Zero: true}); err != nil {
		t.Fatal(err)
	}
	m, err := engine.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Config
	if c.Embd != 2048 || c.Layers != 24 || c.Heads != 32 || c.FFN != 8192 || m.Vocab != 49152 {
		t.Errorf("shape %+v, vocab %d", c, m.Vocab)
	}
	want, err := Bytes("smollm2-1.7b", "q4_k_m")
	if err != nil {
		t.Fatal(err)
	}
	var data int64
	seen := map[*engine.Weight]bool{} // the tied LM head is the embedding
	for _, u := range m.Weights() {
		if seen[u.W] {
			continue
		}
		seen[u.W] = true
		data += int64(len(u.W.Data))
		for _, b := range u.W.Data[:min(len(u.W.Data), 4096)] {
			if b != 0 {
				t.Fatalf("%s: not zero", u.W.Name)
			}
		}
	}
	if data != want {
		t.Errorf("%d bytes of weights, want %d", data, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > fi.Size()/100 {
		t.Errorf("%d of %d bytes on disk: not sparse", st.Blocks*512, fi.Size())
	}
}

func TestUnknownPreset(t *testing.T) {
	for _, tc := range [][2]string{{"nope", "q4_k_m"}, {"smollm2-135m", "q3"}} {
		if err := Write(nil, tc[0], tc[1], Options{}); err == nil {
			t.Errorf("%v: no error", tc)
		}
	}
}
