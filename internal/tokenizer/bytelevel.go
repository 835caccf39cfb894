package tokenizer

import (
	"fmt"
	"strings"
)

// GPT-2's byte-level alphabet: every byte is shown as a printable codepoint
// so that vocabularies and merges are plain text. Printable Latin-1 bytes map
// to themselves; the other 68 bytes map to U+0100.. in byte order.
var byteToRune, runeToByte = func() (b2r [256]rune, r2b map[rune]byte) {
	r2b = make(map[rune]byte, 256)
	printable := func(b int) bool {
		return ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF)
	}
	n := 0
	for b := range 256 {
		if printable(b) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// byteLevelDecode turns a vocabulary string back into the bytes it stands
// for. ok is false when the string holds a codepoint outside the alphabet:
// such a token can never be produced by byte-level BPE.
func byteLevelDecode(s string) (raw string, ok bool) {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		c, found := runeToByte[r]
		if !found {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// byteLevelPiece is llama.cpp's llama_decode_text: the bytes of a normal
// BPE token, with a visible marker for codepoints outside the alphabet.
func byteLevelPiece(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := decodeCodepoint(s, i)
		if c, ok := runeToByte[r]; ok && n > 0 {
			out = append(out, c)
		} else {
			// llama.cpp appends the codepoint's UTF-8 in hex followed by the
			// whole token text; odd, but it is what its detokenizer prints.
			out = append(out, "[UNK_BYTE_0x"...)
			for _, c := range []byte(string(r)) {
				out = fmt.Appendf(out, "%02x", c)
			}
			out = append(out, s...)
			out = append(out, ']')
		}
		i += n
	}
	return out
}
