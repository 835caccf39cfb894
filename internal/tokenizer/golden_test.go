package tokenizer

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/testdata"
)

// goldenFile is the part of a golden/<model>.json this package checks.
type goldenFile struct {
	ModelFile string `json:"model_file"`
	Tokenizer struct {
		AddBOS bool  `json:"add_bos"`
		AddEOS bool  `json:"add_eos"`
		BOS    int32 `json:"bos_id"`
		EOS    int32 `json:"eos_id"`
	} `json:"tokenizer"`
	Prompts []struct {
		Name           string   `json:"name"`
		Text           string   `json:"text"`
		AddSpecial     bool     `json:"add_special"`
		ParseSpecial   bool     `json:"parse_special"`
		IDs            []int32  `json:"ids"`
		PiecesHex      []string `json:"pieces_hex"`
		Detok          string   `json:"detokenize"`
		DetokHex       string   `json:"detokenize_hex"`
		DetokRemove    string   `json:"detokenize_remove_special"`
		DetokRemoveHex string   `json:"detokenize_remove_special_hex"`
	} `json:"prompts"`
	ChatTemplate      string `json:"chat_template"`
	ChatApplyTemplate *struct {
		Messages            []Message `json:"messages"`
		AddGenerationPrompt bool      `json:"add_generation_prompt"`
		Text                string    `json:"text"`
		IDs                 []int32   `json:"ids"`
	} `json:"chat_apply_template"`
	Wiki struct {
		NTokens     int     `json:"n_tokens"`
		FirstTokens []int32 `json:"first_tokens"`
	} `json:"wiki_tokenization"`
}

func readGolden(t *testing.T, path string) goldenFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return g
}

// exact returns the hex field when present (strings that are not valid
// UTF-8 are stored with replacement characters plus an exact hex copy).
func exact(t *testing.T, s, hexStr string) string {
	t.Helper()
	if hexStr == "" {
		return s
	}
	b, err := hex.DecodeString(hexStr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGoldenPrompts reproduces llama.cpp's prompt token ids, pieces and
// detokenized strings for every golden model.
func TestGoldenPrompts(t *testing.T) {
	for _, path := range testdata.Glob(t, "golden", "*.json") {
		g := readGolden(t, path)
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(t *testing.T) {
			tok := openTokenizer(t, g.ModelFile)
			if tok.AddBOS() != g.Tokenizer.AddBOS || tok.addEOS != g.Tokenizer.AddEOS ||
				tok.BOS() != g.Tokenizer.BOS || tok.eos != g.Tokenizer.EOS {
				t.Errorf("add_bos/add_eos/bos/eos = %v/%v/%d/%d, want %+v",
					tok.AddBOS(), tok.addEOS, tok.BOS(), tok.eos, g.Tokenizer)
			}
			for _, p := range g.Prompts {
				ids, err := tok.Encode(p.Text, p.AddSpecial, p.ParseSpecial)
				if err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
				if !slices.Equal(ids, p.IDs) {
					t.Errorf("%s: ids\n got %v\nwant %v", p.Name, ids, p.IDs)
					continue
				}
				for i, id := range ids {
					piece, err := tok.Piece(id, true)
					if err != nil {
						t.Fatal(err)
					}
					if want := p.PiecesHex[i]; hex.EncodeToString(piece) != want {
						t.Errorf("%s: piece %d (id %d) = %x, want %s", p.Name, i, id, piece, want)
					}
				}
				if got, _ := tok.Detokenize(ids, false, true); got != exact(t, p.Detok, p.DetokHex) {
					t.Errorf("%s: detokenize = %q, want %q", p.Name, got, p.Detok)
				}
				if got, _ := tok.Detokenize(ids, true, false); got != exact(t, p.DetokRemove, p.DetokRemoveHex) {
					t.Errorf("%s: detokenize(remove_special) = %q, want %q", p.Name, got, p.DetokRemove)
				}
			}
		})
	}
}

// TestGoldenWiki tokenizes the whole of wiki.test.raw (add_special=true,
// parse_special=false, as llama-perplexity) for each distinct tokenizer.
func TestGoldenWiki(t *testing.T) {
	dir := testdata.Dir(t)
	text, err := os.ReadFile(filepath.Join(dir, "text", "wiki.test.raw"))
	if err != nil {
		t.Fatal(err)
	}
	// The tiny-llama models share stories260K's vocabulary; check each
	// distinct vocabulary once to keep the test fast.
	for _, name := range []string{"stories260K", "tiny-bpe-q4_k_m"} {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, filepath.Join(dir, "golden", name+".json"))
			tok := openTokenizer(t, g.ModelFile)
			ids, err := tok.Encode(string(text), true, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != g.Wiki.NTokens {
				t.Errorf("token count %d, want %d", len(ids), g.Wiki.NTokens)
			}
			n := len(g.Wiki.FirstTokens)
			if len(ids) < n || !slices.Equal(ids[:n], g.Wiki.FirstTokens) {
				for i := range min(n, len(ids)) {
					if ids[i] != g.Wiki.FirstTokens[i] {
						t.Fatalf("first difference at token %d: got %v, want %v", i, ids[i:min(i+8, len(ids))], g.Wiki.FirstTokens[i:min(i+8, n)])
					}
				}
				t.Fatalf("got %d tokens, want at least %d", len(ids), n)
			}
			// Both vocabularies spell every byte, so the round trip is exact.
			// Without the BOS, Detokenize drops the space SentencePiece added.
			if tok.AddBOS() {
				ids = ids[1:]
			}
			got, err := tok.Detokenize(ids, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(text) {
				t.Errorf("decode(encode(wiki)) differs from wiki.test.raw (len %d vs %d)", len(got), len(text))
			}
		})
	}
}
