package synth

import "strings"

// Token types as in llama.cpp.
const (
	tokenNormal  int32 = 1
	tokenControl int32 = 3
)

// byteLevel maps each byte to the printable character GPT-2's byte-level
// BPE uses for it (printable ASCII and Latin-1 map to themselves).
func byteLevel() [256]string {
	var m [256]string
	n := 0
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			m[b] = string(rune(b))
		} else {
			m[b] = string(rune(256 + n))
			n++
		}
	}
	return m
}

// words seed the first merges so common English text tokenizes into
// plausible pieces; the rest of the vocabulary is filled with merges of
// existing tokens.
const words = `the of and to in is was for on that with as by at from his he it an were are which this be
or has had first also new their after who its but one two they been her she there more all would when time
into other years only over about some can most city later many state such these may world school during
used united between under while both three than known year where being since however city part then film
team him through made war north well season south early high before people game series until around best
work called life same first second great music album song band club national government history century
during american number each area public family him up out so what if no just like not did very because`

// bpeVocab builds a byte-level BPE vocabulary of exactly size tokens:
// specials, the 256 byte tokens, then tokens made by merges.
func bpeVocab(size int, specials []string) (tokens []string, types []int32, merges []string) {
	seen := map[string]bool{}
	add := func(tok string, typ int32) {
		seen[tok] = true
		tokens = append(tokens, tok)
		types = append(types, typ)
	}
	for _, s := range specials {
		add(s, tokenControl)
	}
	bytes := byteLevel()
	for _, s := range bytes {
		add(s, tokenNormal)
	}
	merge := func(a, b string) {
		if len(tokens) < size && !seen[a+b] {
			merges = append(merges, a+" "+b)
			add(a+b, tokenNormal)
		}
	}
	space := bytes[' ']
	for _, w := range strings.Fields(words) {
		for _, word := range []string{w, space + w} {
			chars := strings.Split(word, "")
			cur := chars[0]
			for _, c := range chars[1:] {
				merge(cur, c)
				cur += c
			}
		}
	}
	// Fill up with merges of pairs of earlier tokens, shortest first.
	first := len(specials)
	for i := first; len(tokens) < size; i++ {
		for j := first; j <= i && len(tokens) < size; j++ {
			if len(tokens[i])+len(tokens[j]) <= 16 {
				merge(tokens[i], tokens[j])
			}
		}
	}
	return tokens, types, merges
}
