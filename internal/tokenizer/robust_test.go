package tokenizer

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
)

// buildGGUF writes metadata as a tensor-less GGUF file and opens it.
func buildGGUF(t *testing.T, meta []gguf.KV) *gguf.File {
	t.Helper()
	var buf bytes.Buffer
	if err := gguf.Write(&buf, meta, nil, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vocab.gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func strs(s ...string) gguf.Array { return gguf.Array{Elem: gguf.ValString, Values: s} }

// tinyBPEMeta is a working byte-level BPE vocabulary: the four letters of
// "abc " and their merges, plus a control token.
func tinyBPEMeta() []gguf.KV {
	return []gguf.KV{
		{Key: keyModel, Value: "gpt2"},
		{Key: keyPre, Value: "gpt-2"},
		{Key: keyTokens, Value: strs("a", "b", "c", "Ġ", "ab", "abc", "Ġabc", "<|endoftext|>")},
		{Key: keyTokenType, Value: gguf.Array{Elem: gguf.ValInt32, Values: []int32{1, 1, 1, 1, 1, 1, 1, 3}}},
		{Key: keyMerges, Value: strs("a b", "ab c", "Ġ abc")},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(7)},
	}
}

// with replaces (or, with a nil value, removes) one key.
func with(meta []gguf.KV, key string, value any) []gguf.KV {
	var out []gguf.KV
	found := false
	for _, kv := range meta {
		if kv.Key == key {
			found = true
			if value == nil {
				continue
			}
			kv.Value = value
		}
		out = append(out, kv)
	}
	if !found && value != nil {
		out = append(out, gguf.KV{Key: key, Value: value})
	}
	return out
}

func TestFromGGUFErrors(t *testing.T) {
	base := tinyBPEMeta()
	tests := []struct {
		name string
		meta []gguf.KV
		want []string // substrings of the error
	}{
		{"no model", with(base, keyModel, nil), []string{"missing tokenizer.ggml.model"}},
		{"wordpiece without cls", with(base, keyModel, "bert"), []string{"add_bos_token is true", "bos_token_id"}},
		{"wordpiece without sep", with(with(base, keyModel, "bert"), "tokenizer.ggml.bos_token_id", uint32(0)),
			[]string{"add_sep_token is true", "seperator_token_id"}},
		{"unigram", with(base, keyModel, "t5"), []string{`"t5"`, "not supported"}},
		{"no tokens", with(base, keyTokens, nil), []string{"missing tokenizer.ggml.tokens"}},
		{"tokens not strings", with(base, keyTokens, gguf.Array{Elem: gguf.ValInt32, Values: []int32{1}}), []string{"tokenizer.ggml.tokens", "i32"}},
		{"no merges", with(base, keyMerges, nil), []string{"missing tokenizer.ggml.merges"}},
		{"type count", with(base, keyTokenType, gguf.Array{Elem: gguf.ValInt32, Values: []int32{1, 1}}),
			[]string{"tokenizer.ggml.token_type has 2 entries", "tokenizer.ggml.tokens has 8"}},
		{"score count", with(base, keyScores, gguf.Array{Elem: gguf.ValFloat32, Values: make([]float32, 9)}),
			[]string{"tokenizer.ggml.scores has 9 entries", "tokenizer.ggml.tokens has 8"}},
		{"score type", with(base, keyScores, strs("x")), []string{"tokenizer.ggml.scores", "string"}},
		{"unknown pre", with(base, keyPre, "no-such-pre"), []string{`"no-such-pre"`, "tokenizer.ggml.pre"}},
		{"duplicate", with(base, keyTokens, strs("a", "b", "c", "Ġ", "ab", "abc", "Ġabc", "a")), []string{"duplicate token", `"a"`, "ids 0 and 7"}},
		{"add_bos without bos", with(base, keyAddBOS, true), []string{"add_bos_token is true", "bos_token_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromGGUF(buildGGUF(t, tc.meta))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := FromGGUF(nil); err == nil {
		t.Error("nil file: no error")
	}
}

func TestTinyWordPiece(t *testing.T) {
	meta := []gguf.KV{
		{Key: keyModel, Value: "bert"},
		{Key: keyTokens, Value: strs("[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁hello", "▁he", "llo", "▁,", "▁wor", "ld", "▁w")},
		{Key: keyTokenType, Value: gguf.Array{Elem: gguf.ValInt32, Values: []int32{3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1}}},
		{Key: "tokenizer.ggml.unknown_token_id", Value: uint32(1)},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(2)},
		{Key: "tokenizer.ggml.seperator_token_id", Value: uint32(3)},
	}
	tok, err := FromGGUF(buildGGUF(t, meta))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text    string
		special bool
		want    []int32
	}{
		{"Hello, World", false, []int32{4, 7, 8, 9}},
		{"HeLLo xyz", true, []int32{2, 4, 1, 3}},
		{"wx", false, []int32{1}}, // "▁w" matches but "x" does not: the word is unknown
		{"  \t", false, nil},
	} {
		got, err := tok.Encode(tc.text, tc.special, false)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, %v; want %v", tc.text, got, err, tc.want)
		}
	}
	if s, _ := tok.Detokenize([]int32{4, 7, 8, 9}, false, false); s != " hello , world" {
		t.Errorf("Detokenize = %q", s)
	}
}

func TestTinyBPE(t *testing.T) {
	tok, err := FromGGUF(buildGGUF(t, tinyBPEMeta()))
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOS() != noToken || tok.eos != 7 || tok.AddBOS() || tok.addEOS || len(tok.tokens) != 8 {
		t.Errorf("bos %d eos %d add %v/%v n %d", tok.BOS(), tok.eos, tok.AddBOS(), tok.addEOS, len(tok.tokens))
	}
	for _, tc := range []struct {
		text         string
		parseSpecial bool
		want         []int32
	}{
		{"abc abc", false, []int32{5, 6}},
		{"cab", false, []int32{2, 4}},
		{"abc<|endoftext|>", true, []int32{5, 7}},
		// Bytes the vocabulary cannot spell are dropped, as llama.cpp does.
		{"abc<|endoftext|>", false, []int32{5}},
	} {
		got, err := tok.Encode(tc.text, true, tc.parseSpecial)
		if err != nil || !equalIDs(got, tc.want) {
			t.Errorf("Encode(%q, %v) = %v, %v; want %v", tc.text, tc.parseSpecial, got, err, tc.want)
		}
	}
	if !tok.IsEOG(7) || tok.IsEOG(5) {
		t.Error("IsEOG")
	}
	if s, _ := tok.Detokenize([]int32{5, 6, 7}, false, false); s != "abc abc" {
		t.Errorf("Detokenize unparseSpecial=false = %q", s)
	}
	if s, _ := tok.Detokenize([]int32{5, 6, 7}, false, true); s != "abc abc<|endoftext|>" {
		t.Errorf("Detokenize unparseSpecial=true = %q", s)
	}
}

func TestDecodeErrors(t *testing.T) {
	tok, err := FromGGUF(buildGGUF(t, tinyBPEMeta()))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{-1, 8, 1 << 30} {
		if _, err := tok.Detokenize([]int32{0, id}, false, false); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Detokenize id %d: err = %v", id, err)
		}
		if _, err := tok.Piece(id, true); err == nil {
			t.Errorf("Piece id %d: no error", id)
		}
		if _, err := tok.NewStreamDecoder().Next(id); err == nil {
			t.Errorf("stream id %d: no error", id)
		}
	}
}

// TestInvalidUTF8 checks the documented choice: invalid bytes are kept and
// become byte tokens (BPE) or byte-fallback tokens (SPM), so decoding gives
// the input back.
func TestInvalidUTF8(t *testing.T) {
	inputs := []string{"abc\xffdef", "\xc3", "x\xe2\x82", "\xed\xa0\x80 surrogate", "\xc0\x80 overlong", "é\xff\xfe é"}
	for _, vocab := range []string{"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"} {
		tok := openTokenizer(t, "vocab", vocab)
		for _, in := range inputs {
			ids, err := tok.Encode(in, false, false)
			if err != nil {
				t.Fatalf("%s %q: %v", vocab, in, err)
			}
			got, err := tok.Detokenize(ids, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if got != in {
				t.Errorf("%s: decode(encode(%q)) = %q (ids %v)", vocab, in, got, ids)
			}
		}
	}
	// The invalid byte is classified like U+FFFD, so the words around it are
	// split as llama.cpp splits them.
	tok := openTokenizer(t, "vocab", "ggml-vocab-gpt-2.gguf")
	a, _ := tok.Encode("hello \xff world", false, false)
	b, _ := tok.Encode("hello \ufffd world", false, false)
	if a[0] != b[0] || a[len(a)-1] != b[len(b)-1] {
		t.Errorf("invalid byte splits differently from U+FFFD: %v vs %v", a, b)
	}
}

func TestIsEOG(t *testing.T) {
	tests := []struct {
		file    []string
		eog     []string
		notEOG  []string
		eosText string
	}{
		{[]string{"models", "tiny-bpe-q4_k_m.gguf"}, []string{"<|endoftext|>", "<|im_end|>"}, []string{"<|im_start|>", "Hello"}, "<|im_end|>"},
		{[]string{"models", "stories260K.gguf"}, []string{"</s>"}, []string{"<s>", "<unk>"}, "</s>"},
		{[]string{"vocab", "ggml-vocab-phi-3.gguf"}, []string{"<|end|>", "<|endoftext|>"}, []string{"<|user|>", "<s>"}, "<|endoftext|>"},
		{[]string{"vocab", "ggml-vocab-gpt-2.gguf"}, []string{"<|endoftext|>"}, []string{"Hello"}, "<|endoftext|>"},
	}
	for _, tc := range tests {
		tok := openTokenizer(t, tc.file...)
		if got := tok.tokens[tok.eos]; got != tc.eosText {
			t.Errorf("%v: EOS is %q, want %q", tc.file, got, tc.eosText)
		}
		for _, s := range tc.eog {
			if id, ok := tok.toID[s]; !ok || !tok.IsEOG(id) {
				t.Errorf("%v: %q should end generation", tc.file, s)
			}
		}
		for _, s := range tc.notEOG {
			if id, ok := tok.toID[s]; ok && tok.IsEOG(id) {
				t.Errorf("%v: %q should not end generation", tc.file, s)
			}
		}
	}
}

// TestRoundTrip: every llama.cpp test text decodes back to itself. Pieces
// always concatenate to the input (SentencePiece adds one leading space);
// Detokenize equals the input where the model does not clean up spaces.
func TestRoundTrip(t *testing.T) {
	dir := testdata.Dir(t)
	for _, name := range []string{"gpt-2", "llama-spm", "phi-3", "deepseek-coder", "deepseek-llm", "falcon", "mpt", "refact", "starcoder"} {
		path := dir + "/vocab/ggml-vocab-" + name + ".gguf"
		tok := openTokenizer(t, "vocab", "ggml-vocab-"+name+".gguf")
		for _, c := range readVocabCases(t, path) {
			ids, err := tok.Encode(c.text, false, false)
			if err != nil {
				t.Fatal(err)
			}
			var raw []byte
			for _, id := range ids {
				p, _ := tok.Piece(id, true)
				raw = append(raw, p...)
			}
			want := c.text
			if tok.kind == kindSPM && want != "" {
				want = " " + want
			}
			if string(raw) != want {
				t.Errorf("%s: pieces of %q give %q", name, c.text, raw)
			}
			if !tok.cleanSpaces {
				if got, _ := tok.Detokenize(ids, false, false); got != c.text {
					t.Errorf("%s: decode(encode(%q)) = %q", name, c.text, got)
				}
			}
		}
	}
}

func TestStreamDecoder(t *testing.T) {
	tok := openTokenizer(t, "models", "stories260K.gguf")
	text := "Once upon a time, 猫 and é went to ☃ land"
	ids, err := tok.Encode(text, false, false)
	if err != nil {
		t.Fatal(err)
	}
	d := tok.NewStreamDecoder()
	var out strings.Builder
	for _, id := range ids {
		chunk, err := d.Next(id)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(chunk) {
			t.Fatalf("chunk %q is not whole characters", chunk)
		}
		out.WriteString(chunk)
	}
	out.WriteString(d.Flush())
	if out.String() != " "+text {
		t.Errorf("streamed %q", out.String())
	}
	// An incomplete character at the end comes out with Flush.
	d = tok.NewStreamDecoder()
	e2 := tok.byteToken[0xE2]
	if s, _ := d.Next(e2); s != "" {
		t.Errorf("half a character was emitted: %q", s)
	}
	if s := d.Flush(); s != "\xe2" {
		t.Errorf("Flush = %q", s)
	}
	// Control tokens appear only with Special.
	d = tok.NewStreamDecoder()
	if s, _ := d.Next(tok.eos); s != "" {
		t.Errorf("EOS printed as %q", s)
	}
	d.Special = true
	if s, _ := d.Next(tok.eos); s != "</s>" {
		t.Errorf("EOS with Special = %q", s)
	}
}

func TestCompleteUTF8Prefix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"abc", 3}, {"a\xe2", 1}, {"a\xe2\x98", 1}, {"a\xe2\x98\x83", 4},
		{"\xf0\x9f\x98", 0}, {"\xf0\x9f\x98\x80", 4}, {"a\xff", 2}, {"a\x80", 2}, {"é\xc3", 2},
	} {
		if got := completeUTF8Prefix([]byte(tc.in)); got != tc.want {
			t.Errorf("completeUTF8Prefix(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// FuzzEncodeDecode: any input encodes without error and its pieces give the
// input back (byte-level BPE keeps every byte; SentencePiece falls back to
// bytes, adds a leading space and shows U+2581 as a space), and the stream
// decoder emits the same bytes.
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range []string{"", "Hello world!", " leading", "trailing  ", "\n\n\t x", "it's 2024: 12345 ½",
		"日本語のテキスト", "emoji 😀👍🏽", "<|im_start|>user\nHi<|im_end|>", "\xff\xfe bad \xc3", "a\u2581b", "  \u00a0\u3000 "} {
		f.Add(s)
	}
	bpe := openTokenizer(f, "vocab", "ggml-vocab-gpt-2.gguf")
	spm := openTokenizer(f, "models", "stories260K.gguf")
	f.Fuzz(func(t *testing.T, text string) {
		for _, tok := range []*Tokenizer{bpe, spm} {
			// parseSpecial is off: written control tokens ("<s>") would
			// otherwise become ids whose text is not part of the output.
			ids, err := tok.Encode(text, true, false)
			if err != nil {
				t.Fatalf("%s: %v", tok.kind, err)
			}
			want := text
			if tok.kind == kindSPM {
				want = strings.ReplaceAll(text, spaceEscape, " ")
				if text != "" {
					want = " " + want
				}
			}
			var raw []byte
			var streamed strings.Builder
			d := tok.NewStreamDecoder()
			d.Special = true
			if tok.AddBOS() {
				ids = ids[1:]
			}
			for _, id := range ids {
				p, err := tok.Piece(id, true)
				if err != nil {
					t.Fatal(err)
				}
				raw = append(raw, p...)
				s, err := d.Next(id)
				if err != nil {
					t.Fatal(err)
				}
				streamed.WriteString(s)
			}
			streamed.WriteString(d.Flush())
			if string(raw) != want {
				t.Fatalf("%s: pieces of %q give %q", tok.kind, text, raw)
			}
			if streamed.String() != want {
				t.Fatalf("%s: stream of %q gives %q", tok.kind, text, streamed.String())
			}
			if _, err := tok.Detokenize(ids, false, false); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestConcurrentEncode: one Tokenizer serves many goroutines (run with -race).
func TestConcurrentEncode(t *testing.T) {
	for _, tok := range []*Tokenizer{openTokenizer(t, "models", "tiny-bpe-q4_k_m.gguf"), openTokenizer(t, "models", "stories260K.gguf")} {
		texts := []string{"Hello world!", "<|im_start|>user\nHi<|im_end|>", "The year 2024 was 12,345 days", "日本語 é"}
		want := make([][]int32, len(texts))
		for i, s := range texts {
			want[i], _ = tok.Encode(s, true, true)
		}
		errs := make(chan string, 8)
		done := make(chan bool)
		for g := range 4 {
			go func() {
				for k := range 50 {
					i := (g + k) % len(texts)
					if got, _ := tok.Encode(texts[i], true, true); !equalIDs(got, want[i]) {
						errs <- texts[i]
					}
				}
				done <- true
			}()
		}
		for range 4 {
			<-done
		}
		close(errs)
		for s := range errs {
			t.Errorf("%s: concurrent Encode(%q) differs", tok.kind, s)
		}
	}
}
