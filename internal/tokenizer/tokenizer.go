// Package tokenizer turns text into token ids and back exactly as llama.cpp
// does for the vocabularies stored in GGUF metadata: byte-level BPE
// (tokenizer.ggml.model "gpt2") with the pre-tokenizer selected by
// tokenizer.ggml.pre, and SentencePiece (tokenizer.ggml.model "llama").
// It also renders chat templates.
//
// Invalid UTF-8 in a prompt is tolerated, never an error, and kept byte for
// byte: every invalid byte becomes a byte token (BPE) or byte-fallback token
// (SentencePiece), so Detokenize gives the input back. This is a deliberate
// difference from llama.cpp, which replaces each invalid byte with U+FFFD
// before byte-level BPE (losing the byte) and lets an invalid lead byte
// swallow the bytes after it in SentencePiece. Words are still split as
// llama.cpp splits them (an invalid byte is classified like U+FFFD), and
// valid UTF-8 tokenizes exactly as in llama.cpp.
package tokenizer

import (
	"fmt"
	"sync"

	"github.com/quant-llm/quant/internal/gguf"
)

// modelKind is llama.cpp's llama_vocab_type.
type modelKind int

const (
	kindSPM modelKind = iota // SentencePiece: tokenizer.ggml.model "llama"
	kindBPE                  // byte-level BPE: tokenizer.ggml.model "gpt2"
	kindWPM                  // WordPiece: tokenizer.ggml.model "bert"
)

func (k modelKind) String() string {
	switch k {
	case kindSPM:
		return "SPM"
	case kindWPM:
		return "WPM"
	}
	return "BPE"
}

// noToken is LLAMA_TOKEN_NULL.
const noToken int32 = -1

// Tokenizer encodes and decodes text for one vocabulary. It is immutable
// after FromGGUF and safe for concurrent use.
type Tokenizer struct {
	kind  modelKind
	model string // tokenizer.ggml.model
	pre   string // tokenizer.ggml.pre

	tokens []string // token texts as stored (byte-level encoded for BPE)
	scores []float32
	attrs  []tokenAttr
	toID   map[string]int32

	// Byte-level BPE works on raw bytes: bpeVocab and ranks are keyed by the
	// decoded bytes of tokens and merges, which is equivalent to llama.cpp's
	// lookups of byte-level encoded strings and saves encoding every word.
	bpeVocab     map[string]int32
	ranks        map[mergePair]int32
	pretok       *preTokenizer
	ignoreMerges bool

	// spaceJoiners: characters that precede U+2581 inside some SPM token.
	spaceJoiners map[string]bool

	// byteToken[b] is the token for the single byte b (BPE: the byte-level
	// character; SPM: <0xXX>, else the one-byte token), or noToken.
	byteToken [256]int32

	special []int32 // control, user-defined and unknown tokens, longest first

	bos, eos, eot, eom, unk, sep, pad int32
	fim                               [6]int32 // indexed by fimPre..fimSep
	eog                               map[int32]bool

	addBOS, addEOS bool
	addSep         bool // WordPiece appends the separator token
	maxTokenLen    int  // longest token text in bytes (WordPiece matching)
	addSpacePrefix bool // SPM: prepend a space to text after BOS/specials
	cleanSpaces    bool // clean_up_tokenization_spaces when detokenizing
	pieces         [][]byte
	chatTemplate   string
	scratchPool    sync.Pool
}

// mergePair is a BPE merge, as raw bytes of its two halves.
type mergePair struct{ left, right string }

// FromGGUF builds the tokenizer described by f's tokenizer.* metadata.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	if f == nil {
		return nil, fmt.Errorf("tokenizer: nil GGUF file")
	}
	t, err := load(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer from %s: %w", f.Path, err)
	}
	return t, nil
}

// BOS is the beginning-of-sequence token, or -1 if the model has none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// AddBOS reports whether Encode with addSpecial prepends BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// IsEOG reports whether id ends generation: EOS, EOT, EOM and the tokens
// llama.cpp recognises by their text (<|eot_id|>, <|im_end|>, <|end|>,
// <end_of_turn>, <|endoftext|>, ...).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// ChatTemplate is tokenizer.chat_template, or "" when the model has none.
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

func (t *Tokenizer) checkID(id int32) error {
	if id < 0 || int(id) >= len(t.tokens) {
		return fmt.Errorf("token id %d out of range [0, %d)", id, len(t.tokens))
	}
	return nil
}
