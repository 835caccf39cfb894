package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
)

// buildPieceCache computes every token's text with special=true, as
// llama.cpp caches token_to_piece.
func (t *Tokenizer) buildPieceCache() {
	t.pieces = make([][]byte, len(t.tokens))
	for id := range t.tokens {
		t.pieces[id] = t.computePiece(int32(id))
	}
}

// computePiece is llama.cpp's token_to_piece(special=true) without the cache.
func (t *Tokenizer) computePiece(id int32) []byte {
	text, attr := t.tokens[id], t.attrs[id]
	switch {
	case attr&(attrUnknown|attrControl|attrUserDefined) != 0:
		return []byte(text)
	case attr&attrNormal != 0:
		if t.kind == kindBPE {
			return byteLevelPiece(text)
		}
		return []byte(strings.ReplaceAll(text, spaceEscape, " "))
	case attr&attrByte != 0:
		if t.kind == kindBPE {
			// Byte-typed tokens in a byte-level vocabulary hold one
			// byte-level character; llama.cpp would parse "<0xXX>" here.
			if b, ok := parseByteToken(text); ok {
				return []byte{b}
			}
			return byteLevelPiece(text)
		}
		if b, ok := parseByteToken(text); ok {
			return []byte{b}
		}
		return nil
	}
	return nil // unused and undefined tokens print nothing
}

// parseByteToken reads SentencePiece's "<0xXX>" byte tokens.
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	return byte(v), err == nil
}

// Piece is llama_token_to_piece: the bytes token id stands for. With
// special false, control and unknown tokens give nothing. The bytes need not
// be valid UTF-8 on their own (byte tokens, split characters).
func (t *Tokenizer) Piece(id int32, special bool) ([]byte, error) {
	if err := t.checkID(id); err != nil {
		return nil, err
	}
	return t.piece(id, special), nil
}

// piece returns the cached piece; callers must not modify it.
func (t *Tokenizer) piece(id int32, special bool) []byte {
	if !special && t.attrs[id]&(attrUnknown|attrControl) != 0 {
		return nil
	}
	return t.pieces[id]
}

// Detokenize is llama_detokenize: removeSpecial drops a leading BOS and a
// trailing EOS the model adds; unparseSpecial renders control tokens.
func (t *Tokenizer) Detokenize(ids []int32, removeSpecial, unparseSpecial bool) (string, error) {
	for _, id := range ids {
		if err := t.checkID(id); err != nil {
			return "", fmt.Errorf("decode: %w", err)
		}
	}
	removeSpace := t.addSpacePrefix
	if removeSpecial && t.addBOS && len(ids) > 0 && ids[0] == t.bos {
		removeSpace = false
		ids = ids[1:]
	}
	if removeSpecial && t.addEOS && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	var out []byte
	for _, id := range ids {
		p := t.piece(id, unparseSpecial)
		if removeSpace && len(p) > 0 && p[0] == ' ' {
			p = p[1:] // the space SentencePiece added in front of the text
		}
		removeSpace = false
		out = append(out, p...)
	}
	if t.cleanSpaces {
		out = cleanUpSpaces(out)
	}
	return string(out), nil
}

// cleanUpSpaces is llama.cpp's port of Hugging Face's
// clean_up_tokenization_spaces: " ?", " !", " .", " ," lose the space, a
// lone " ' " is joined, and " 's", " 'm", " 're", " 've" close up.
func cleanUpSpaces(text []byte) []byte {
	// Pass 1: space before ? ! . ,
	out := text[:0]
	for i, c := range text {
		if i > 0 && text[i-1] == ' ' && (c == '?' || c == '!' || c == '.' || c == ',') {
			out = out[:len(out)-1]
		}
		out = append(out, c)
	}
	// Pass 2: " ' " becomes "'". llama.cpp overwrites the dropped space with
	// NUL, so the next character does not see a space before it.
	text = append([]byte(nil), out...)
	out = out[:0]
	for i := 0; i < len(text); i++ {
		c := text[i]
		if i > 0 && c == '\'' && i+1 < len(text) && text[i-1] == ' ' && text[i+1] == ' ' {
			out = out[:len(out)-1]
			out = append(out, c)
			i++
			text[i] = 0
			continue
		}
		out = append(out, c)
	}
	// Pass 3: contractions.
	text = append(text[:0], out...)
	out = out[:0]
	for i, c := range text {
		if i > 0 && text[i-1] == ' ' && c == '\'' && i+1 < len(text) {
			c1 := text[i+1]
			switch {
			case c1 == 's' || c1 == 'm':
				out = out[:len(out)-1]
			case c1 == 't' || c1 == 'd':
			case i+2 < len(text):
				c2 := text[i+2]
				if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') {
					out = out[:len(out)-1]
				}
			}
		}
		out = append(out, c)
	}
	return out
}
