package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fatih/color"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
)

// wantOneLineError fails unless err is one line containing every want.
func wantOneLineError(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", what, err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: error spans lines: %q", what, err)
	}
}

// statsLines returns the "prompt N tokens" count of each stats line.
func statsLines(stderr string) []int {
	var out []int
	for _, m := range regexp.MustCompile(`prompt (\d+) tokens,`).FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// TestHugeContext: a context that cannot be allocated is a one-line error
// saying what it needs and what fits, from run, bench and ppl, instead of
// the runtime dying; a context past the training length is a warning.
func TestHugeContext(t *testing.T) {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	text := testdata.Path(t, "text", "wiki.test.raw")
	for _, c := range [][]string{
		{"run", stories, "-p", "hi", "-c", "2000000000"},
		{"run", stories, "-p", "hi", "-c", "9223372036854775807"},
		{"ppl", stories, "-f", text, "-c", "2000000000"},
		{"bench", stories, "-p", "2000000000", "-n", "1", "-r", "1"},
		{"bench", stories, "-p", "8", "-d", "2000000000", "-n", "0", "-r", "1"},
	} {
		_, _, err := quant(t, c...)
		wantOneLineError(t, strings.Join(c, " "), err, "needs", "of memory", "fits a context of")
	}
	_, stderr, err := quant(t, "run", stories, "-p", "hi", "-n", "1", "-c", "4096", "--temp", "0")
	if err != nil || !strings.Contains(stderr, "warning: a context of 4096 tokens is longer than the 2048 the model was trained on") {
		t.Errorf("-c 4096 on a 2048-token model: %v, stderr %q", err, stderr)
	}
}

// TestChatOutgrowsContext: a conversation longer than -c goes on, dropping
// the oldest exchanges (the system message stays) and saying so.
func TestChatOutgrowsContext(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	stdin := "Hello there\nHow are you today my friend\nTell me a story about a cat\nAnd another one about a dog\n"
	_, stderr, err := quantStdin(t, stdin, "run", model, "--chat", "-n", "8", "--temp", "0", "-c", "64", "--system", "Be brief.")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if n := len(statsLines(stderr)); n != 4 {
		t.Errorf("%d replies, want 4:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "dropped the oldest 2 messages, keeping the system message") {
		t.Errorf("no note about the dropped messages:\n%s", stderr)
	}
}

// TestChatLongLine: a pasted line of 1.5 MB is read whole (no line-length
// limit): it is too long for the context, which the chat says before going
// on with the next message.
func TestChatLongLine(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	stdin := strings.Repeat("word ", 300000) + "\nhi\n"
	_, stderr, err := quantStdin(t, stdin, "run", model, "--chat", "-n", "2", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "the context holds 512") || len(statsLines(stderr)) != 1 {
		t.Errorf("stderr %q: want the long line refused and the next one answered", stderr[:min(len(stderr), 2000)])
	}
}

// nanModel writes stories260K with NaN output-norm weights: every logit
// is NaN.
func nanModel(t *testing.T) string {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	return rewriteModel(t, stories, func(meta []gguf.KV, ts []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
		for i := range ts {
			if ts[i].Name == "output_norm.weight" {
				n := ts[i].Dims[0]
				ts[i].Data = func() ([]byte, error) {
					b := make([]byte, 4*n)
					for j := range n {
						binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(float32(math.NaN())))
					}
					return b, nil
				}
			}
		}
		return meta, ts
	})
}

// TestPerplexityChecks: ppl refuses contexts that score nothing and
// --chunks 0, and a model with NaN logits fails ppl and run with the
// position instead of printing NaN.
func TestPerplexityChecks(t *testing.T) {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	text := testdata.Path(t, "text", "wiki.test.raw")
	for _, c := range []string{"1", "2"} {
		_, _, err := quant(t, "ppl", stories, "-f", text, "-c", c)
		wantOneLineError(t, "ppl -c "+c, err, "at least 3")
	}
	_, _, err := quant(t, "ppl", stories, "-f", text, "-c", "128", "--chunks", "0")
	wantOneLineError(t, "--chunks 0", err, "--chunks 0")
	if out, _, err := quant(t, "ppl", stories, "-f", text, "-c", "3", "--chunks", "2", "--json"); err != nil || strings.Contains(out, "NaN") {
		t.Errorf("ppl -c 3: %v %s", err, out)
	}

	bad := nanModel(t)
	_, _, err = quant(t, "ppl", bad, "-f", text, "-c", "16", "--chunks", "2")
	wantOneLineError(t, "ppl, NaN model", err, "chunk 1", "position 0", "not finite")
	_, _, err = quant(t, "run", bad, "-p", "Once upon a time", "-n", "4")
	wantOneLineError(t, "run, NaN model", err, "not finite")
}

// TestFlagChecks: out-of-range sampling and thread flags, and flags that
// contradict each other, are one-line errors; --threads 0 is one per core.
func TestFlagChecks(t *testing.T) {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	tmp := filepath.Join(t.TempDir(), "prompt.txt")
	os.WriteFile(tmp, []byte("Once upon a time"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--top-p", "-1"}, "top-p -1"},
		{[]string{"--temp", "nan"}, "temperature NaN"},
		{[]string{"--min-p", "2"}, "min-p 2"},
		{[]string{"--repeat-penalty", "0"}, "repeat penalty 0"},
		{[]string{"--top-k", "-1"}, "top-k -1"},
		{[]string{"--threads", "-4"}, "--threads -4"},
		{[]string{"--system", "Be brief."}, "--system needs --chat"},
		{[]string{"-f", tmp}, "-p or -f, not both"},
		{[]string{"--think"}, "need --chat"},
		{[]string{"--chat", "--think", "--no-think"}, "not both"},
		{[]string{"-ctk", "q3_k"}, "-ctk q3_k"},
		{[]string{"-fa", "maybe"}, `-fa "maybe"`},
	} {
		_, _, err := quant(t, append([]string{"run", stories, "-p", "hi"}, c.args...)...)
		wantOneLineError(t, strings.Join(c.args, " "), err, c.want)
	}
	for _, args := range [][]string{{"bench", stories, "-t", "-4"}, {"ppl", stories, "-f", tmp, "-t", "-4"}} {
		_, _, err := quant(t, args...)
		wantOneLineError(t, strings.Join(args, " "), err, "-4")
	}
	if _, _, err := quant(t, "run", stories, "-p", "hi", "-n", "1", "--threads", "0"); err != nil {
		t.Errorf("--threads 0: %v", err)
	}
}

// TestPromptFromStdin: -f - reads the prompt from stdin.
func TestPromptFromStdin(t *testing.T) {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	out, _, err := quantStdin(t, "Once upon a time", "run", stories, "-f", "-", "-n", "4", "--temp", "0")
	if err != nil || !strings.HasPrefix(out, "Once upon a time") || len(out) <= len("Once upon a time") {
		t.Errorf("run -f -: %q, %v", out, err)
	}
}

// overlappingModel is stories260K with its second tensor's data placed at
// the first one's offset.
func overlappingModel(t *testing.T) (path, first, second string) {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	raw, err := os.ReadFile(stories)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(stories)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := f.Tensors[0], f.Tensors[1]
	// A tensor info: name, n_dims (u32), dims (u64 each), type (u32), offset (u64).
	at := bytes.Index(raw, []byte(b.Name)) + len(b.Name) + 4 + 8*len(b.Dims) + 4
	if binary.LittleEndian.Uint64(raw[at:]) != b.Offset {
		t.Fatalf("tensor info of %s not found", b.Name)
	}
	binary.LittleEndian.PutUint64(raw[at:], a.Offset)
	path = filepath.Join(t.TempDir(), "overlap.gguf")
	os.WriteFile(path, raw, 0o644)
	return path, a.Name, b.Name
}

// TestOverlappingTensors: info, run and ppl refuse a file whose tensors
// share bytes, naming both.
func TestOverlappingTensors(t *testing.T) {
	path, first, second := overlappingModel(t)
	text := testdata.Path(t, "text", "wiki.test.raw")
	for _, args := range [][]string{{"info", path}, {"run", path, "-p", "hi"}, {"ppl", path, "-f", text}, {"bench", path}} {
		_, _, err := quant(t, args...)
		wantOneLineError(t, args[0], err, first, second, "overlap")
	}
}

// TestChatTemplateNotes: a model without a template says once that ChatML
// stands in; a template that cannot render is one error, without the
// doubled "chat template: chat template:" prefix.
func TestChatTemplateNotes(t *testing.T) {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	_, stderr, err := quantStdin(t, "Hi\nHello again\n", "run", stories, "--chat", "-n", "2", "--temp", "0")
	if err != nil || strings.Count(stderr, "no chat template; using ChatML") != 1 {
		t.Errorf("chat without a template: %v, stderr %q", err, stderr)
	}
	bpe := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	broken := rewriteModel(t, bpe, func(meta []gguf.KV, ts []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
		return setKey(meta, "tokenizer.chat_template", "{% for %}"), ts
	})
	_, _, err = quant(t, "run", broken, "--chat", "-p", "hi")
	wantOneLineError(t, "broken template", err, "chat template")
	if err != nil && strings.Contains(err.Error(), "chat template: chat template") {
		t.Errorf("error %q repeats its prefix", err)
	}
}

// TestThinkFlags: --think and --no-think reach the template's
// enable_thinking; without either the template's default holds.
func TestThinkFlags(t *testing.T) {
	bpe := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	tmpl := "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" +
		"{% if add_generation_prompt %}<|im_start|>assistant\n" +
		"{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
	model := rewriteModel(t, bpe, func(meta []gguf.KV, ts []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
		return setKey(meta, "tokenizer.chat_template", tmpl), ts
	})
	prompt := func(flags ...string) int {
		_, stderr, err := quant(t, append([]string{"run", model, "--chat", "-p", "hi", "-n", "1", "--temp", "0"}, flags...)...)
		if n := statsLines(stderr); err != nil || len(n) != 1 {
			t.Fatalf("%v: %v\n%s", flags, err, stderr)
		} else {
			return n[0]
		}
		return 0
	}
	def, think, noThink := prompt(), prompt("--think"), prompt("--no-think")
	if def != think || noThink <= think {
		t.Errorf("prompt tokens: default %d, --think %d, --no-think %d: want the default equal to --think and --no-think longer", def, think, noThink)
	}
}

// TestSeedShown: a sampled run prints its seed, and that seed repeats it.
func TestSeedShown(t *testing.T) {
	stories := testdata.Path(t, "models", "stories260K.gguf")
	out, stderr, err := quant(t, "run", stories, "-p", "Once upon a time", "-n", "16", "--temp", "1")
	m := regexp.MustCompile(`seed (\d+)`).FindStringSubmatch(stderr)
	if err != nil || m == nil {
		t.Fatalf("no seed in %q (%v)", stderr, err)
	}
	again, _, err := quant(t, "run", stories, "-p", "Once upon a time", "-n", "16", "--temp", "1", "--seed", m[1])
	if err != nil || again != out {
		t.Errorf("--seed %s gave %q, the first run %q", m[1], again, out)
	}
}

// TestVersion: quant --version names the build, Go and the backends.
func TestVersion(t *testing.T) {
	out, _, err := quant(t, "--version")
	for _, want := range []string{"quant ", "commit", "go1.", "backend cpu:", "backend metal:"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("--version %q (%v): want %q", out, err, want)
		}
	}
}

// TestSyntheticNote: a model with random weights says so before its
// gibberish; a real one does not.
func TestSyntheticNote(t *testing.T) {
	note := "weights are random"
	_, stderr, _ := quant(t, "run", testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf"), "-p", "hi", "-n", "1")
	if !strings.Contains(stderr, note) {
		t.Errorf("synthetic model: stderr %q", stderr)
	}
	_, stderr, _ = quant(t, "run", testdata.Path(t, "models", "stories260K.gguf"), "-p", "hi", "-n", "1")
	if strings.Contains(stderr, note) {
		t.Errorf("real model: stderr %q", stderr)
	}
}

// TestColourPerStream: colour is decided per stream: with stdout taken
// for a terminal (color.NoColor false), stats written to a file still
// carry no escape codes.
func TestColourPerStream(t *testing.T) {
	saved := color.NoColor
	color.NoColor = false
	defer func() { color.NoColor = saved }()
	_, stderr, err := quant(t, "run", testdata.Path(t, "models", "stories260K.gguf"), "-p", "hi", "-n", "2")
	if err != nil || strings.Contains(stderr, "\x1b[") {
		t.Errorf("stderr to a buffer has escape codes: %q (%v)", stderr, err)
	}
}

// TestInfoJSONMetadata: info --json -v carries every metadata value typed
// and whole.
func TestInfoJSONMetadata(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	out, _, err := quant(t, "info", "--json", "-v", model)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmpl, _ := f.String("tokenizer.chat_template")
	md := info.Metadata
	tokens, _ := md["tokenizer.ggml.tokens"].([]any)
	if md["general.architecture"] != "llama" || md["tokenizer.chat_template"] != tmpl || md["general.file_type"] != 15.0 || len(tokens) != 8192 {
		t.Errorf("metadata: architecture %#v, file type %#v, %d tokens, template whole: %v",
			md["general.architecture"], md["general.file_type"], len(tokens), md["tokenizer.chat_template"] == tmpl)
	}
}

// TestCacheSizeShown: run says at start what the KV cache takes for the
// context and types asked for (tiny-llama: 2 layers of 64 KV values, so
// 1024 q8_0 keys are 2*1024*64*34/32 bytes), and bench's JSON records the
// bytes of each test's cache.
func TestCacheSizeShown(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-llama-q8_0.gguf")
	_, stderr, err := quant(t, "run", model, "-p", "hi", "-n", "1", "-c", "1024", "-ctk", "q8_0", "-ctv", "q4_0")
	want := "quant: KV cache 0.20 MiB (1024 tokens, 2 layers, K q8_0: 0.13 MiB, V q4_0: 0.07 MiB)"
	if err != nil || !strings.Contains(stderr, want) {
		t.Errorf("run: stderr %q (%v), want %q", stderr, err, want)
	}
	out, _, err := quant(t, "bench", model, "-p", "8", "-n", "0", "-r", "1", "-ctk", "f16,q8_0", "-o", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			KVCacheBytes uint64 `json:"kv_cache_bytes"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, rec.KVCacheBytes)
	}
	// 8 positions: f16 keys 2*8*64*2, q8_0 keys 2*8*64*34/32, f16 values.
	if want := []uint64{2048 + 2048, 1088 + 2048}; !slices.Equal(got, want) {
		t.Errorf("bench kv_cache_bytes %v, want %v", got, want)
	}
}

// TestBenchBandwidth: with --bandwidth a tg test reports the bytes a
// decoded token reads (every weight, the embedding table's one row when
// the output head has its own weights, the KV cache up to the test's
// middle position), the GB/s that makes and the measured read bandwidth.
func TestBenchBandwidth(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-llama-q8_0.gguf")
	f, err := gguf.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var weights uint64
	for i := range f.Tensors {
		weights += f.Tensors[i].Size
	}
	embd, _ := f.Tensor("token_embd.weight")
	if _, untied := f.Tensor("output.weight"); untied {
		weights -= embd.Size - embd.Size/embd.Dims[1]
	}
	// Depth 4 and 4 tokens: the middle token is at position 6, so it reads 7
	// positions of f16 keys and values: 2 layers x 7 x 64 values x 2 bytes each.
	want := weights + 2*2*7*64*2

	out, _, err := quant(t, "bench", model, "-p", "0", "-n", "4", "-d", "4", "-r", "1", "--bandwidth", "-o", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		AvgTs      float64 `json:"avg_ts"`
		Bytes      uint64  `json:"decode_bytes_per_token"`
		DecodeGBs  float64 `json:"decode_gbs"`
		MemReadGBs float64 `json:"mem_read_gbs"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if rec.Bytes != want {
		t.Errorf("decode_bytes_per_token %d, want %d", rec.Bytes, want)
	}
	if got := float64(rec.Bytes) * rec.AvgTs / 1e9; math.Abs(rec.DecodeGBs-got) > 1e-9*got {
		t.Errorf("decode_gbs %g, want bytes x t/s = %g", rec.DecodeGBs, got)
	}
	if !(rec.MemReadGBs > 0) || math.IsInf(rec.MemReadGBs, 0) {
		t.Errorf("mem_read_gbs %g, want a measured bandwidth", rec.MemReadGBs)
	}
}
