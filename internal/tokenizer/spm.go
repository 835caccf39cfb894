package tokenizer

import "strings"

// spaceEscape is U+2581, SentencePiece's visible space.
const spaceEscape = "\u2581"

// encodeSPM tokenizes one raw-text fragment: spaces become U+2581, then the
// text is cut where no token can span (see spaceJoiners) and each segment
// goes through spmSegment. Merges never cross such a cut, so the result is
// the one llama.cpp gets for the whole fragment, with small heaps instead of
// one of millions of entries.
func (t *Tokenizer) encodeSPM(s *scratch, text string, out []int32) ([]int32, error) {
	text = strings.ReplaceAll(text, " ", spaceEscape)
	start, prevLen := 0, 0
	for i := 0; i < len(text); {
		_, n := decodeCodepoint(text, i)
		if i > start && strings.HasPrefix(text[i:], spaceEscape) && !t.spaceJoiners[text[i-prevLen:i]] {
			var err error
			if out, err = t.spmSegment(s, text[start:i], out); err != nil {
				return nil, err
			}
			start = i
		}
		i, prevLen = i+n, n
	}
	return t.spmSegment(s, text[start:], out)
}

// spaceJoinerSet lists the characters that some token contains directly
// before U+2581: only there may a merge cross the start of a word.
func spaceJoinerSet(tokens []string) map[string]bool {
	set := map[string]bool{}
	for _, tok := range tokens {
		prev := ""
		for i := 0; i < len(tok); {
			_, n := decodeCodepoint(tok, i)
			c := tok[i : i+n]
			if c == spaceEscape && prev != "" {
				set[prev] = true
			}
			prev = c
			i += n
		}
	}
	return set
}

// spmSegment is llm_tokenizer_spm_session::tokenize: start from UTF-8
// characters and repeatedly merge the adjacent pair whose concatenation is
// the highest-scoring token. Leftovers that are not tokens become byte
// tokens (or unk when the vocabulary has no byte tokens).
func (t *Tokenizer) spmSegment(s *scratch, text string, out []int32) ([]int32, error) {
	syms := s.symbols[:0]
	for off := 0; off < len(text); {
		// llama.cpp takes the length its lead byte announces even when the
		// bytes after it are not continuation bytes, swallowing e.g. an
		// escaped space into a byte-fallback run. We split invalid UTF-8
		// into single bytes instead, so it round-trips; valid text is
		// split identically.
		_, n := decodeCodepoint(text, off)
		syms = append(syms, symbol{start: int32(off), n: int32(n), prev: int32(len(syms) - 1), next: int32(len(syms) + 1)})
		off += n
	}
	if len(syms) == 0 {
		return out, nil
	}
	syms[len(syms)-1].next = -1

	h := &s.heap
	h.items = h.items[:0] // ordered as llm_bigram_spm: best score, then leftmost
	add := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		ls, rs := &syms[l], &syms[r]
		id, ok := t.toID[text[ls.start:ls.start+ls.n+rs.n]]
		if !ok {
			return
		}
		h.push(bigram{left: l, right: r, size: ls.n + rs.n, key: scoreKey(t.scores[id])})
	}
	for i := 1; i < len(syms); i++ {
		add(int32(i-1), int32(i))
	}
	for len(h.items) > 0 {
		b := h.pop()
		ls, rs := &syms[b.left], &syms[b.right]
		if ls.n == 0 || rs.n == 0 || ls.n+rs.n != b.size {
			continue
		}
		ls.n += rs.n
		rs.n = 0
		ls.next = rs.next
		if rs.next >= 0 {
			syms[rs.next].prev = b.left
		}
		add(ls.prev, b.left)
		add(b.left, ls.next)
	}
	// llama.cpp's resegment also consults a map of merged pairs, but only for
	// symbols that are not tokens, and every merged symbol is a token: a
	// symbol is thus either a token or an unmerged character spelled in bytes.
	for i := int32(0); i >= 0; i = syms[i].next {
		sym := syms[i]
		piece := text[sym.start : sym.start+sym.n]
		if id, ok := t.toID[piece]; ok {
			out = append(out, id)
			continue
		}
		for j := range len(piece) {
			id := t.byteToken[piece[j]]
			if id == noToken {
				if t.unk == noToken {
					s.symbols = syms
					return out, &byteFallbackError{b: piece[j]}
				}
				id = t.unk
			}
			out = append(out, id)
		}
	}
	s.symbols = syms
	return out, nil
}

type byteFallbackError struct{ b byte }

func (e *byteFallbackError) Error() string {
	return "byte 0x" + hexByte(e.b) + " has no token (no <0xXX> byte token and no unknown token)"
}

func hexByte(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}
