package tokenizer

import "fmt"

// scratch holds the buffers one Encode call reuses; pooled per tokenizer.
type scratch struct {
	frags   []fragment
	symbols []symbol
	heap    bigramHeap
	split   splitScratch
}

func (t *Tokenizer) getScratch() *scratch {
	if s, ok := t.scratchPool.Get().(*scratch); ok {
		return s
	}
	return &scratch{}
}

// Encode tokenizes text like llama_tokenize. addSpecial adds BOS and EOS as
// the model asks (AddBOS, AddEOS); parseSpecial lets control tokens written
// in the text (e.g. "<|im_start|>") become their ids instead of plain text.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	s := t.getScratch()
	defer t.scratchPool.Put(s)
	s.frags = t.partition(text, parseSpecial, s.frags)

	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	var err error
	switch t.kind {
	case kindSPM:
		// SentencePiece prefixes a space to text at the start and after
		// each special token, as the original tokenizer does for a new
		// sentence.
		prevSpecial := true
		for _, fr := range s.frags {
			if fr.token != noToken {
				out = append(out, fr.token)
				prevSpecial = true
				continue
			}
			txt := fr.text
			if t.addSpacePrefix && prevSpecial {
				txt = " " + txt
			}
			if out, err = t.encodeSPM(s, txt, out); err != nil {
				return nil, fmt.Errorf("encode: %w", err)
			}
			prevSpecial = false
		}
	case kindBPE:
		for _, fr := range s.frags {
			if fr.token != noToken {
				out = append(out, fr.token)
				continue
			}
			out = t.encodeBPE(s, fr.text, out)
		}
	case kindWPM:
		for _, fr := range s.frags {
			if fr.token != noToken {
				out = append(out, fr.token)
				continue
			}
			out = t.encodeWPM(fr.text, out)
		}
		if addSpecial && t.addSep {
			out = append(out, t.sep)
		}
		return out, nil // llama.cpp adds no EOS for WordPiece
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out, nil
}
