package tokenizer

// Hand-written splitters for the patterns that dominate real use. The GPT-2
// and Llama 3 ones are ports of llama.cpp's unicode_regex_split_custom_*
// (llama.cpp never runs those regexes through std::regex); the number
// splitters replace the trivial \p{N} and \p{N}+ stages.

// numberSplitter handles \p{N} (maxRun 1) and \p{N}+ (maxRun 0): runs of
// number codepoints are pieces, and so is the text between them.
type numberSplitter struct{ maxRun int }

func (s numberSplitter) split(t *cpText, in, out []int) []int {
	start := 0
	for _, n := range in {
		lo, hi := start, start+n
		prev := lo
		for pos := lo; pos < hi; {
			if t.flags[pos]&flagNumber == 0 {
				pos++
				continue
			}
			if pos > prev {
				out = append(out, pos-prev)
			}
			end := pos + 1
			if s.maxRun != 1 {
				for end < hi && t.flags[end]&flagNumber != 0 {
					end++
				}
			}
			out = append(out, end-pos)
			pos, prev = end, end
		}
		if prev < hi {
			out = append(out, hi-prev)
		}
		start = hi
	}
	return out
}

const outOfRange = -1

// window gives bounds-checked access to one piece of a cpText, answering
// outOfRange / no flags past its ends like llama.cpp's _get_cpt/_get_flags.
type window struct {
	t      *cpText
	lo, hi int
}

func (w window) cpt(p int) rune {
	if p >= w.lo && p < w.hi {
		return w.t.cps[p]
	}
	return outOfRange
}

func (w window) flags(p int) cpFlags {
	if p >= w.lo && p < w.hi {
		return w.t.flags[p]
	}
	return 0
}

// gpt2Splitter is llama.cpp's unicode_regex_split_custom_gpt2:
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
type gpt2Splitter struct{}

func (gpt2Splitter) split(t *cpText, in, out []int) []int {
	start := 0
	for _, n := range in {
		w := window{t, start, start + n}
		start += n
		for pos := w.lo; pos < w.hi; {
			c, f := t.cps[pos], t.flags[pos]
			if c == '\'' && pos+1 < w.hi {
				c1 := w.cpt(pos + 1)
				if c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd' {
					out = append(out, 2)
					pos += 2
					continue
				}
				if pos+2 < w.hi {
					c2 := w.cpt(pos + 2)
					if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
						out = append(out, 3)
						pos += 3
						continue
					}
				}
			}
			tokStart := pos
			f2 := f
			if c == ' ' {
				f2 = w.flags(pos + 1)
			}
			switch {
			case f2&flagLetter != 0, f2&flagNumber != 0:
				class := f2 & (flagLetter | flagNumber)
				if c == ' ' {
					pos++
				}
				for w.flags(pos)&class != 0 {
					pos++
				}
			case f2&(flagWhitespace|flagLetter|flagNumber) == 0 && f2 != 0:
				if c == ' ' {
					pos++
				}
				for g := w.flags(pos); g&(flagWhitespace|flagLetter|flagNumber) == 0 && g != 0; g = w.flags(pos) {
					pos++
				}
			default:
				spaces := 0
				for w.flags(pos+spaces)&flagWhitespace != 0 {
					spaces++
				}
				switch {
				case spaces > 1 && w.cpt(pos+spaces) != outOfRange:
					pos += spaces - 1 // \s+(?!\S): leave the last space to the next word
				case spaces > 0:
					pos += spaces
				default:
					pos++
				}
			}
			out = append(out, pos-tokStart)
		}
	}
	return out
}

// llama3Splitter is llama.cpp's unicode_regex_split_custom_llama3:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type llama3Splitter struct{}

func (llama3Splitter) split(t *cpText, in, out []int) []int {
	const notWord = flagWhitespace | flagLetter | flagNumber
	start := 0
	for _, n := range in {
		w := window{t, start, start + n}
		start += n
		for pos := w.lo; pos < w.hi; {
			c, f := t.cps[pos], t.flags[pos]
			if c == '\'' && pos+1 < w.hi {
				c1 := asciiLower(w.cpt(pos + 1))
				if c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd' {
					out = append(out, 2)
					pos += 2
					continue
				}
				if pos+2 < w.hi {
					c2 := asciiLower(w.cpt(pos + 2))
					if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
						out = append(out, 3)
						pos += 3
						continue
					}
				}
			}
			tokStart := pos
			// [^\r\n\p{L}\p{N}]?\p{L}+
			if !(c == '\r' || c == '\n' || f&flagNumber != 0) && (f&flagLetter != 0 || w.flags(pos+1)&flagLetter != 0) {
				pos++
				for w.flags(pos)&flagLetter != 0 {
					pos++
				}
				out = append(out, pos-tokStart)
				continue
			}
			// \p{N}{1,3}
			if f&flagNumber != 0 {
				for pos < w.hi && t.flags[pos]&flagNumber != 0 && pos-tokStart < 3 {
					pos++
				}
				out = append(out, pos-tokStart)
				continue
			}
			// ' ?[^\s\p{L}\p{N}]+[\r\n]*'. llama.cpp tests the flags of the
			// first codepoint (not of the one after the space) for "defined";
			// we keep that quirk.
			f2 := f
			if c == ' ' {
				f2 = w.flags(pos + 1)
			}
			if f2&notWord == 0 && f != 0 {
				if c == ' ' {
					pos++
				}
				for g := w.flags(pos); g&notWord == 0 && g != 0; g = w.flags(pos) {
					pos++
				}
				for c2 := w.cpt(pos); c2 == '\r' || c2 == '\n'; c2 = w.cpt(pos) {
					pos++
				}
				out = append(out, pos-tokStart)
				continue
			}
			spaces, lastNewline := 0, 0
			for w.flags(pos+spaces)&flagWhitespace != 0 {
				if c2 := w.cpt(pos + spaces); c2 == '\r' || c2 == '\n' {
					lastNewline = pos + spaces + 1
				}
				spaces++
			}
			switch {
			case lastNewline > 0: // \s*[\r\n]+
				pos = lastNewline
			case spaces > 1 && w.cpt(pos+spaces) != outOfRange: // \s+(?!\S)
				pos += spaces - 1
			case spaces > 0: // \s+
				pos += spaces
			default:
				pos++
			}
			out = append(out, pos-tokStart)
		}
	}
	return out
}
