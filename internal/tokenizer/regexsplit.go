package tokenizer

import (
	"fmt"
	"strings"

	"github.com/dlclark/regexp2/v2"
)

// Collapsed codes, as in llama.cpp's unicode_regex_split: every non-ASCII
// codepoint becomes one byte standing for its category so that std::regex
// (and here regexp2) can match \p{..} classes with plain character ranges.
const (
	collapsedOther  = 0xD0
	collapsedNumber = 0xD1
	collapsedLetter = 0xD2
	collapsedPunct  = 0xD3
	collapsedAccent = 0xD4
	collapsedSymbol = 0xD5
	collapsedSpace  = 0x0B // vertical tab: a whitespace std::regex knows
)

func (t *cpText) collapsedView() []rune {
	if len(t.collapsed) == len(t.cps) && len(t.cps) > 0 {
		return t.collapsed
	}
	t.collapsed = t.collapsed[:0]
	for i, r := range t.cps {
		f := t.flags[i]
		switch {
		case r < 128:
		case f&flagWhitespace != 0:
			r = collapsedSpace
		case f&flagNumber != 0:
			r = collapsedNumber
		case f&flagLetter != 0:
			r = collapsedLetter
		case f&flagPunct != 0:
			r = collapsedPunct
		case f&flagAccentMark != 0:
			r = collapsedAccent
		case f&flagSymbol != 0:
			r = collapsedSymbol
		default:
			r = collapsedOther
		}
		t.collapsed = append(t.collapsed, r)
	}
	return t.collapsed
}

func (t *cpText) wideView() []rune {
	if len(t.wide) == len(t.cps) && len(t.cps) > 0 {
		return t.wide
	}
	t.wide = t.wide[:0]
	for i, r := range t.cps {
		if r > 0x7F && t.flags[i]&flagWhitespace != 0 {
			r = collapsedSpace
		}
		t.wide = append(t.wide, r)
	}
	return t.wide
}

// compileStage picks the hand-written splitter llama.cpp would use for expr,
// or compiles expr for regexp2 the way llama.cpp prepares it for std::regex.
func compileStage(expr string) (splitStage, error) {
	switch expr {
	case reGPT2:
		return gpt2Splitter{}, nil
	case reLlama3, reLlama3Orig:
		return llama3Splitter{}, nil
	case reNumber:
		return numberSplitter{maxRun: 1}, nil
	case reNumbers:
		return numberSplitter{}, nil
	}
	return compileRegexStage(expr)
}

// compileRegexStage prepares expr for regexp2 the way llama.cpp prepares it
// for std::regex: \p{..} classes are rewritten for the collapsed text.
func compileRegexStage(expr string) (splitStage, error) {
	collapsed := usesCategories(expr)
	pattern := expr
	if collapsed {
		for _, r := range expr {
			if r >= 128 {
				return nil, fmt.Errorf("regex %q mixes unicode categories and non-ASCII characters", expr)
			}
		}
		pattern = collapseRegex(expr)
	}
	// ECMAScript's $ matches only at the very end; .NET's also before a
	// final newline. \z is the ECMAScript meaning.
	if strings.HasSuffix(pattern, "$") && !strings.HasSuffix(pattern, `\$`) {
		pattern = pattern[:len(pattern)-1] + `\z`
	}
	re, err := regexp2.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("compile pre-tokenizer regex %q: %w", expr, err)
	}
	return &regexSplitter{re: re, collapsed: collapsed}, nil
}

var categoryNames = []string{`\p{N}`, `\p{L}`, `\p{P}`, `\p{M}`, `\p{S}`, `\p{Lu}`, `\p{Ll}`, `\p{Lt}`, `\p{Lm}`, `\p{Lo}`}

func usesCategories(expr string) bool {
	for _, c := range categoryNames {
		if strings.Contains(expr, c) {
			return true
		}
	}
	return false
}

// categoryClass is the character-class body that replaces \p{..} in a
// collapsed regex: the collapsed code plus the ASCII members of the category.
// The ASCII sets are llama.cpp's (which leave '~' out of \p{S}).
func categoryClass(name string) (string, bool) {
	switch name {
	case `\p{N}`:
		return string(rune(collapsedNumber)) + `0-9`, true
	case `\p{L}`, `\p{Lu}`, `\p{Ll}`, `\p{Lt}`, `\p{Lm}`, `\p{Lo}`:
		return string(rune(collapsedLetter)) + `A-Za-z`, true
	case `\p{P}`:
		return string(rune(collapsedPunct)) + `!-#%-*,-/:-;?-@\[-\]_\{\}`, true
	case `\p{M}`:
		return string(rune(collapsedAccent)), true
	case `\p{S}`:
		return string(rune(collapsedSymbol)) + "\\$\\+<->^`\\|", true
	}
	return "", false
}

// collapseRegex rewrites \p{..} classes for the collapsed text, as llama.cpp's
// unicode_regex_split does (wrapping them in [] unless already inside one).
func collapseRegex(expr string) string {
	var b strings.Builder
	inside := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c == '[' && (i == 0 || expr[i-1] != '\\') {
			b.WriteByte('[')
			inside = true
			continue
		}
		if inside && c == ']' && expr[i-1] != '\\' {
			b.WriteByte(']')
			inside = false
			continue
		}
		if c == '\\' && i+3 < len(expr) && expr[i+1] == 'p' && expr[i+2] == '{' {
			if end := strings.IndexByte(expr[i+3:], '}'); end >= 0 && i+3+end <= i+10 {
				closing := i + 3 + end
				if class, ok := categoryClass(expr[i : closing+1]); ok {
					if !inside {
						b.WriteByte('[')
					}
					b.WriteString(class)
					if !inside {
						b.WriteByte(']')
					}
					i = closing
					continue
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// regexSplitter is llama.cpp's std::regex fallback: matches and the text
// between them both become pieces.
type regexSplitter struct {
	re        *regexp2.Regexp
	collapsed bool
}

func (s *regexSplitter) split(t *cpText, in, out []int) []int {
	view := t.wideView()
	if s.collapsed {
		view = t.collapsedView()
	}
	start := 0
	for _, n := range in {
		piece := view[start : start+n]
		prev := 0
		// The only error regexp2 reports is a timeout, and none is set.
		_ = s.re.FindRunesMatches(piece, 0, func(m regexp2.MatchView) bool {
			idx, length, _ := m.GroupRange(0)
			if idx > prev {
				out = append(out, idx-prev)
			}
			if length > 0 {
				out = append(out, length)
			}
			prev = idx + length
			return true
		})
		if prev < n {
			out = append(out, n-prev)
		}
		start += n
	}
	return out
}
