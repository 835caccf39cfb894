package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
)

// quant runs the command in-process and returns stdout, stderr and the error.
func quant(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return quantStdin(t, "", args...)
}

func quantStdin(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func writeModel(t *testing.T, meta []gguf.KV, tensors []gguf.WriteTensor) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gguf.Write(f, meta, tensors, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBadInput: every kind of bad input is a one-line error naming the
// problem, never a panic.
func TestBadInput(t *testing.T) {
	dir := testdata.Dir(t)
	stories := filepath.Join(dir, "models", "stories260K.gguf")
	tmp := t.TempDir()
	raw, _ := os.ReadFile(stories)
	truncated := filepath.Join(tmp, "truncated.gguf")
	os.WriteFile(truncated, raw[:len(raw)/2], 0o644)
	notGGUF := filepath.Join(tmp, "notes.txt")
	os.WriteFile(notGGUF, []byte("just some text\n"), 0o644)
	badType := filepath.Join(tmp, "badtype.gguf")
	b := append([]byte(nil), raw...)
	f, err := gguf.Open(stories)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Patch the first tensor's type id to 99, an id ggml does not define.
	name := f.Tensors[0].Name
	at := bytes.Index(b, []byte(name)) + len(name) + 4 + 8*len(f.Tensors[0].Dims)
	binary.LittleEndian.PutUint32(b[at:], 99)
	os.WriteFile(badType, b, 0o644)
	unknownArch := writeModel(t, []gguf.KV{{Key: "general.architecture", Value: "gptx"}}, nil)
	longPrompt := strings.Repeat("once upon a time ", 200)

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"run", filepath.Join(tmp, "nope.gguf"), "-p", "hi"}, "no such file"},
		{"truncated", []string{"info", truncated}, "truncated"},
		{"not gguf", []string{"run", notGGUF, "-p", "hi"}, "not a GGUF file"},
		{"unknown tensor type", []string{"info", badType}, "unsupported tensor type id 99"},
		{"unsupported architecture", []string{"run", unknownArch, "-p", "hi"}, `unsupported architecture "gptx"`},
		{"prompt longer than context", []string{"run", stories, "-c", "64", "-p", longPrompt}, "the context holds 64"},
		{"no prompt", []string{"run", stories}, "no prompt"},
		{"bad backend", []string{"run", stories, "-p", "x", "--backend", "tpu"}, `unknown backend "tpu"`},
		{"ppl without text", []string{"ppl", stories}, "no text"},
		{"ppl text too short", []string{"ppl", stories, "-f", notGGUF, "-c", "128"}, "need at least 256 tokens"},
		{"bench bad reps", []string{"bench", stories, "-r", "0"}, "-r 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := quant(t, c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, c.want)
			}
		})
	}
}

// TestExitCode builds the binary once: errors exit non-zero with one line on stderr.
func TestExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(quantBinary(t), "info", "/nonexistent/model.gguf")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit: %v", err)
	}
	if lines := strings.Count(stderr.String(), "\n"); lines != 1 || !strings.HasPrefix(stderr.String(), "quant: ") {
		t.Errorf("stderr %q: want one line starting with quant:", stderr.String())
	}
}

// TestInfoGolden checks quant info's facts against llama.cpp's for every test model.
func TestInfoGolden(t *testing.T) {
	dir := testdata.Dir(t)
	for _, path := range testdata.Models(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".gguf")
		t.Run(name, func(t *testing.T) {
			var g struct {
				NParams    uint64         `json:"model_n_params"`
				Size       uint64         `json:"model_size_bytes"`
				NVocab     int            `json:"n_vocab"`
				TypeCounts map[string]int `json:"tensor_type_counts"`
			}
			raw, _ := os.ReadFile(filepath.Join(dir, "golden", name+".json"))
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			info := infoJSON(t, path)
			counts := map[string]int{}
			for _, c := range info.TensorTypes {
				counts[c.Type] = c.Count
			}
			if info.Params != g.NParams || info.FileBytes != g.Size || info.VocabSize != g.NVocab || !mapsEqual(counts, g.TypeCounts) {
				t.Errorf("info %+v; llama.cpp: params %d, size %d, vocab %d, types %v", info, g.NParams, g.Size, g.NVocab, g.TypeCounts)
			}
			if text, _, err := quant(t, "info", "--verbose", path); err != nil || !strings.Contains(text, "general.architecture") {
				t.Errorf("info --verbose: %v", err)
			}
		})
	}
}

// infoJSON is what quant info --json says of the model at path.
func infoJSON(t *testing.T, path string) modelInfo {
	t.Helper()
	out, _, err := quant(t, "info", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var info modelInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// TestInfoHeadDim: quant info shows the hyper-parameters the engine reads,
// so the head dim is attention.key_length where the file sets it, not
// embedding_length / head_count.
func TestInfoHeadDim(t *testing.T) {
	model := rewriteModel(t, testdata.Path(t, "models", "stories260K.gguf"), func(meta []gguf.KV, ts []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
		return setKey(meta, "llama.attention.key_length", uint32(16)), ts // 64 / 8 heads = 8
	})
	info := infoJSON(t, model)
	if info.HeadDim != 16 || info.Heads != 8 || info.EmbeddingDim != 64 {
		t.Errorf("head dim %d, %d heads, embedding %d: want 16, 8, 64", info.HeadDim, info.Heads, info.EmbeddingDim)
	}
	if text, _, err := quant(t, "info", model); err != nil || !strings.Contains(text, "head dim 16") {
		t.Errorf("info text %q, %v", text, err)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRunStory: the real stories260K model continues the prompt greedily
// exactly as llama.cpp does.
func TestRunStory(t *testing.T) {
	model := testdata.Path(t, "models", "stories260K.gguf")
	out, stderr, err := quant(t, "run", model, "-p", "Once upon a time, there was a little girl", "-n", "32", "--temp", "0", "--backend", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	want := "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."
	if !strings.HasPrefix(out, want) {
		t.Errorf("output %q, want it to start with %q", out, want)
	}
	if !strings.Contains(stderr, "tok/s") {
		t.Errorf("no speed statistics on stderr: %q", stderr)
	}
}

// TestInteractiveChat: two turns on stdin; the second only evaluates what
// the first left out of the KV cache.
func TestInteractiveChat(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	_, stderr, err := quantStdin(t, "Hello!\nHow are you?\n", "run", model, "--chat", "-n", "4", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	var prompts []string
	for _, line := range strings.Split(stderr, "\n") {
		if i := strings.Index(line, "prompt "); i >= 0 {
			prompts = append(prompts, strings.Fields(line[i:])[1])
		}
	}
	// Turn 1: the default system message, the user message and the
	// assistant header (42 tokens). Turn 2 re-renders the conversation and
	// evaluates only the new part.
	if len(prompts) != 2 || prompts[0] != "42" || prompts[1] == "42" {
		t.Errorf("prompt token counts per turn %v: want 42, then fewer", prompts)
	}
}

// TestPPLCommand: quant ppl with llama-perplexity's arguments reproduces its
// final estimate on the real model.
func TestPPLCommand(t *testing.T) {
	model := testdata.Path(t, "models", "stories260K.gguf")
	text := testdata.Path(t, "text", "wiki.test.raw")
	out, _, err := quant(t, "ppl", model, "-f", text, "-c", "128", "-b", "128", "--chunks", "20", "--threads", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		PPL    float64   `json:"ppl"`
		Chunks []float64 `json:"chunks"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	const llamaCpp = 109.4429 // perplexity.runs.default.final_ppl
	if len(res.Chunks) != 20 || res.PPL < llamaCpp*0.995 || res.PPL > llamaCpp*1.005 {
		t.Errorf("PPL %.4f over %d chunks, llama.cpp %.4f", res.PPL, len(res.Chunks), llamaCpp)
	}
	text2, _, err := quant(t, "ppl", model, "-f", text, "-c", "128", "--chunks", "2")
	if err != nil || !strings.Contains(text2, "Final estimate: PPL = ") || !strings.Contains(text2, "[1]") {
		t.Errorf("text output %q, %v", text2, err)
	}
}
