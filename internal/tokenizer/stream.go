package tokenizer

import "fmt"

// StreamDecoder turns generated tokens into text one token at a time. A
// token may end in the middle of a UTF-8 character (byte tokens, or BPE
// tokens that split a character); such trailing bytes are held back until
// the character is complete, so every chunk is whole characters. Bytes that
// can never form a character are passed through as they are.
//
// Pieces are emitted raw (llama_token_to_piece), without Detokenize's clean-ups,
// which is what generation wants: the text continues an existing prompt.
type StreamDecoder struct {
	t *Tokenizer
	// Special makes control tokens (e.g. <|im_end|>) appear in the output.
	Special bool
	pending []byte
}

// NewStreamDecoder returns a decoder that leaves control tokens out.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Next adds token id and returns the text that is now complete (possibly "").
func (d *StreamDecoder) Next(id int32) (string, error) {
	if err := d.t.checkID(id); err != nil {
		return "", fmt.Errorf("stream decode: %w", err)
	}
	d.pending = append(d.pending, d.t.piece(id, d.Special)...)
	n := completeUTF8Prefix(d.pending)
	out := string(d.pending[:n])
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return out, nil
}

// Flush returns whatever is held back (an incomplete character at the end
// of generation) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	out := string(d.pending)
	d.pending = d.pending[:0]
	return out
}

// completeUTF8Prefix is the length of b without a trailing incomplete but
// so-far valid UTF-8 sequence: a lead byte followed by fewer continuation
// bytes than it announces. Anything else, valid or not, is complete.
func completeUTF8Prefix(b []byte) int {
	// A sequence is at most 4 bytes, so only the last 3 can be incomplete.
	for back := 1; back <= 3 && back <= len(b); back++ {
		c := b[len(b)-back]
		if c&0xC0 == 0x80 {
			continue // continuation byte: keep looking for the lead byte
		}
		need := 0
		switch {
		case c&0xE0 == 0xC0:
			need = 2
		case c&0xF0 == 0xE0:
			need = 3
		case c&0xF8 == 0xF0:
			need = 4
		}
		if need > back {
			return len(b) - back
		}
		return len(b)
	}
	return len(b)
}
