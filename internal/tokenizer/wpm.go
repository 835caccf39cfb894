package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// WordPiece (tokenizer.ggml.model "bert"), as llama.cpp's WPM tokenizer.

// wpmWords splits text into lowercase words: NFD-normalized as llama.cpp
// does it (see nfdBase), split at
// whitespace, with control characters dropped and punctuation, ASCII symbols
// and CJK ideographs as words of their own.
func wpmWords(text string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(text); {
		r, n := decodeCodepoint(text, i)
		i += n
		r = nfdBase(r)
		f := flagsOf(r)
		if f&flagWhitespace != 0 {
			flush()
			continue
		}
		if r == 0 || r == replacementChar || f&flagControl != 0 {
			continue
		}
		lr := unicode.ToLower(r)
		if f&flagPunct != 0 || (r < 0x7F && f&flagSymbol != 0) || isCJKChar(r) {
			flush()
			words = append(words, string(lr))
			continue
		}
		cur.WriteRune(lr)
	}
	flush()
	return words
}

// nfdBase is llama.cpp's unicode_cpts_normalize_nfd for one codepoint: its
// table maps a codepoint to the first codepoint of its NFD decomposition,
// so precomposed accents are dropped ("Ä" becomes "A").
func nfdBase(r rune) rune {
	if r < 0xC0 || r > unicode.MaxRune || !utf8.ValidRune(r) {
		return r
	}
	var buf [utf8.UTFMax]byte
	s := string(buf[:utf8.EncodeRune(buf[:], r)])
	if !norm.NFD.IsNormalString(s) {
		d, _ := utf8.DecodeRuneInString(norm.NFD.String(s))
		return d
	}
	return r
}

// isCJKChar is llama.cpp's (and BERT's) CJK ideograph test.
func isCJKChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B920 && r <= 0x2CEAF) || // 0x2B920 as in the HF and llama.cpp code
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// encodeWPM appends the WordPiece tokens of text: each word, prefixed with
// U+2581, is split greedily into the longest vocabulary matches from the
// left; a word with any unmatched position becomes the unknown token.
func (t *Tokenizer) encodeWPM(text string, out []int32) []int32 {
	for _, w := range wpmWords(text) {
		word := spaceEscape + w
		n := len(word)
		start := len(out)
		for i := 0; i < n; {
			matched := false
			for j := min(n, i+t.maxTokenLen+1); j > i; j-- {
				if id, ok := t.toID[word[i:j]]; ok {
					out = append(out, id)
					i = j
					matched = true
					break
				}
			}
			if !matched {
				out = out[:start]
				break
			}
		}
		if len(out) == start {
			out = append(out, t.unk)
		}
	}
	return out
}
