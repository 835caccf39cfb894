package tokenizer

import "unicode"

// cpFlags are the codepoint classes llama.cpp's pre-tokenizers test
// (unicode_cpt_flags). Every assigned or unassigned codepoint has exactly one
// general-category bit; whitespace is an extra property on top of it.
type cpFlags uint16

const (
	flagNumber     cpFlags = 1 << iota // \p{N}
	flagLetter                         // \p{L}
	flagSeparator                      // \p{Z}
	flagAccentMark                     // \p{M}
	flagPunct                          // \p{P}
	flagSymbol                         // \p{S}
	flagControl                        // \p{C}, including unassigned codepoints
	flagWhitespace                     // Unicode White_Space (Python regex \s)

	categoryMask = flagWhitespace - 1
)

// replacementChar is what llama.cpp substitutes for each byte of invalid UTF-8
// before pre-tokenizing; we classify invalid bytes with its flags so words are
// split exactly as llama.cpp splits them.
const replacementChar = 0xFFFD

// latin1Flags caches the classes of U+0000..U+00FF, which dominate real text.
// It is computed once and never written afterwards.
var latin1Flags = func() (t [256]cpFlags) {
	for r := range t {
		t[r] = computeFlags(rune(r))
	}
	return t
}()

func computeFlags(r rune) cpFlags {
	if r < 0 || r > unicode.MaxRune {
		return 0
	}
	var f cpFlags
	switch {
	case unicode.IsLetter(r):
		f = flagLetter
	case unicode.IsNumber(r):
		f = flagNumber
	case unicode.IsMark(r):
		f = flagAccentMark
	case unicode.IsPunct(r):
		f = flagPunct
	case unicode.IsSymbol(r):
		f = flagSymbol
	case unicode.Is(unicode.Z, r):
		f = flagSeparator
	default:
		f = flagControl // Cc, Cf, Co, Cs and unassigned (Cn)
	}
	if unicode.Is(unicode.White_Space, r) {
		f |= flagWhitespace
	}
	return f
}

// flagsOf returns the classes of codepoint r; 0 for values outside Unicode.
func flagsOf(r rune) cpFlags {
	if uint32(r) < 256 {
		return latin1Flags[r]
	}
	return computeFlags(r)
}

// decodeCodepoint mirrors llama.cpp's unicode_cpt_from_utf8: it checks the
// continuation bytes but, unlike unicode/utf8, accepts overlong forms and
// surrogates. An invalid byte decodes as U+FFFD of width 1, as llama.cpp's
// unicode_cpts_from_utf8 does.
func decodeCodepoint(s string, i int) (r rune, size int) {
	b0 := s[i]
	if b0 < 0x80 {
		return rune(b0), 1
	}
	cont := func(k int) bool { return i+k < len(s) && s[i+k]&0xC0 == 0x80 }
	switch {
	case b0&0x40 == 0:
		return replacementChar, 1
	case b0&0x20 == 0:
		if cont(1) {
			return rune(b0&0x1F)<<6 | rune(s[i+1]&0x3F), 2
		}
	case b0&0x10 == 0:
		if cont(1) && cont(2) {
			return rune(b0&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3
		}
	case b0&0x08 == 0:
		if cont(1) && cont(2) && cont(3) {
			return rune(b0&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F), 4
		}
	}
	return replacementChar, 1
}

// asciiLower lowers A-Z only; the contraction rules compare against ASCII
// letters, and no non-ASCII codepoint lowercases to one of 's t m d r e v l'.
func asciiLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
