package tokenizer

import "strings"

// fragment is a piece of the input: raw text still to be tokenized, or a
// special token already recognised (token >= 0).
type fragment struct {
	token int32
	text  string
}

// partition splits text around special tokens, as llama.cpp's
// tokenizer_st_partition: each special token, longest first, is searched in
// every remaining text fragment. Control and unknown tokens are only matched
// with parseSpecial; user-defined tokens always are (like Hugging Face's
// added tokens). LSTRIP/RSTRIP tokens swallow adjacent ASCII whitespace.
func (t *Tokenizer) partition(text string, parseSpecial bool, frags []fragment) []fragment {
	frags = frags[:0]
	if text == "" {
		return frags
	}
	frags = append(frags, fragment{token: noToken, text: text})
	var next []fragment
	for _, id := range t.special {
		attr := t.attrs[id]
		if !parseSpecial && attr&(attrControl|attrUnknown) != 0 {
			continue
		}
		tok := t.tokens[id]
		// Every fragment is a substring of text: one search of the whole
		// input rules most special tokens out cheaply.
		if !strings.Contains(text, tok) {
			continue
		}
		next = next[:0]
		for _, fr := range frags {
			if fr.token != noToken {
				next = append(next, fr)
				continue
			}
			s := fr.text
			for {
				i := strings.Index(s, tok)
				if i < 0 {
					if s != "" {
						next = append(next, fragment{token: noToken, text: s})
					}
					break
				}
				left := s[:i]
				if attr&attrLStrip != 0 {
					left = strings.TrimRight(left, asciiSpace)
				}
				if left != "" {
					next = append(next, fragment{token: noToken, text: left})
				}
				next = append(next, fragment{token: id})
				s = s[i+len(tok):]
				if attr&attrRStrip != 0 {
					s = strings.TrimLeft(s, asciiSpace)
				}
			}
		}
		frags, next = next, frags
	}
	return frags
}

// asciiSpace is what C's isspace accepts, which llama.cpp uses for stripping.
const asciiSpace = " \t\n\v\f\r"
