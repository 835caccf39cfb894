package tokenizer

import (
	"fmt"
	"strings"

	"github.com/dlclark/regexp2/v2"
)

// Pre-tokenizer regexes, copied from llama.cpp's llm_tokenizer_bpe so the
// same strings select the same code paths (two of them have hand-written
// splitters in llama.cpp's unicode.cpp, which we mirror).
const (
	reGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	// reLlama3 is llama.cpp's case-insensitive rewrite of the Llama 3 regex.
	reLlama3 = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// reLlama3Orig is the tokenizer.json form llama.cpp also routes to the
	// hand-written Llama 3 splitter.
	reLlama3Orig = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen2      = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen35     = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reGPT4o      = `[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reTekken     = `[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reBloom      = ` ?[^(\s|.,!?…。，、।۔،)]+`
	reNumber     = `\p{N}`
	reNumbers    = `\p{N}+`
)

// preTokenizerSpec is what llama.cpp derives from tokenizer.ggml.pre: the
// regex cascade plus the vocabulary flags that depend on the pre type.
type preTokenizerSpec struct {
	regexes      []string
	cleanSpaces  bool // clean_up_tokenization_spaces when detokenizing
	ignoreMerges bool // a word that is itself a token skips the merges
	addBOS       bool // default for tokenizer.ggml.add_bos_token
	noBOS        bool // the model has no BOS token (chatglm)
}

// preTokenizerFor maps tokenizer.ggml.pre to its spec, following
// llama_vocab::impl::load and llm_tokenizer_bpe in llama-vocab.cpp.
func preTokenizerFor(pre string) (preTokenizerSpec, error) {
	// Most types keep clean_spaces=true (the BPE default); list the rest.
	s := preTokenizerSpec{cleanSpaces: true}
	switch pre {
	case "", "default":
		s.regexes = []string{`[\p{P}\$\+<=>\^~\|]+`, reGPT2, reNumbers, `[0-9][0-9][0-9]`}
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
		s.regexes = []string{reLlama3}
		s.ignoreMerges, s.addBOS = true, true
	case "dbrx", "smaug-bpe":
		s.regexes = []string{reLlama3}
	case "deepseek-llm":
		s.regexes = []string{
			"[\r\n]",
			"\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
			`\s?[!-/:-~！-／：-～‘-‟　-。]+`,
			`\s+$`,
			`[一-龥ࠀ-一가-퟿]+`,
			reNumbers,
		}
		s.cleanSpaces = false
	case "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4":
		s.regexes = []string{
			`\p{N}{1,3}`,
			`[一-龥぀-ゟ゠-ヿ]+`,
			"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
		}
		s.cleanSpaces = false
	case "deepseek-coder":
		s.regexes = []string{"[\r\n]", `\s?\p{L}+`, `\s?\p{P}+`, `[一-龥ࠀ-一가-퟿]+`, reNumber}
		s.cleanSpaces = false
	case "falcon":
		s.regexes = []string{"[\\p{P}\\$\\+<=>\\^~\\|`]+", reGPT2, `[0-9][0-9][0-9]`}
	case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
		s.regexes = []string{reNumber, reGPT2}
	case "command-r", "smollm":
		s.regexes = []string{reNumber, reGPT2}
		s.cleanSpaces = false
	case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
		"modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais":
		s.regexes = []string{reGPT2}
	case "trillion", "granite-docling":
		s.regexes = []string{reGPT2}
		s.cleanSpaces = false
	case "stablelm2":
		s.regexes = []string{reQwen2}
	case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2":
		s.regexes = []string{reQwen2}
		s.cleanSpaces = false
	case "megrez":
		s.regexes = []string{reQwen2}
	case "qwen35":
		s.regexes = []string{reQwen35}
		s.cleanSpaces = false
	case "poro-chat", "viking":
		s.regexes = []string{reBloom}
		if pre == "viking" {
			s.regexes = append(s.regexes, reNumber)
		}
		s.cleanSpaces = false
	case "bloom", "gpt3-finnish":
		s.regexes = []string{reBloom}
	case "glm4", "chatglm-bpe":
		s.regexes = []string{reLlama3}
		s.noBOS = true
	case "tekken":
		s.regexes = []string{reTekken}
		s.cleanSpaces, s.ignoreMerges, s.addBOS = false, true, true
	case "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2":
		s.regexes = []string{reGPT4o}
		s.cleanSpaces = false
	case "seed-coder":
		s.regexes = []string{`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`}
		s.cleanSpaces = false
	case "bailingmoe", "bailingmoe2", "llada-moe":
		s.regexes = []string{`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`}
		s.cleanSpaces = false
	default:
		return s, fmt.Errorf("unsupported pre-tokenizer type %q (tokenizer.ggml.pre)", pre)
	}
	return s, nil
}

// cpText is one raw-text fragment decoded the way llama.cpp decodes it, with
// the byte offset of every codepoint so words can be cut from the original
// bytes (which keeps invalid UTF-8 intact instead of turning it into U+FFFD).
type cpText struct {
	text  string
	cps   []rune
	flags []cpFlags
	offs  []int // offs[i] is the byte offset of cps[i]; offs[len(cps)] == len(text)

	collapsed []rune // llama.cpp's one-symbol-per-category view, built on demand
	wide      []rune // codepoints with non-ASCII whitespace mapped to \v, on demand
}

func (t *cpText) reset(text string) {
	t.text = text
	t.cps, t.flags, t.offs = t.cps[:0], t.flags[:0], t.offs[:0]
	t.collapsed, t.wide = t.collapsed[:0], t.wide[:0]
	for i := 0; i < len(text); {
		r, n := decodeCodepoint(text, i)
		t.cps = append(t.cps, r)
		t.flags = append(t.flags, flagsOf(r))
		t.offs = append(t.offs, i)
		i += n
	}
	t.offs = append(t.offs, len(text))
}

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

// splitStage refines a segmentation of a cpText. Segmentations are lists of
// lengths in codepoints that add up to len(cps), like llama.cpp's bpe_offsets.
type splitStage interface {
	split(t *cpText, in, out []int) []int
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

// preTokenizer runs a cascade of split stages over raw text.
type preTokenizer struct {
	stages []splitStage
}

func newPreTokenizer(regexes []string) (*preTokenizer, error) {
	p := &preTokenizer{}
	for _, expr := range regexes {
		st, err := compileStage(expr)
		if err != nil {
			return nil, err
		}
		p.stages = append(p.stages, st)
	}
	return p, nil
}

// splitScratch holds reusable buffers for one Encode call.
type splitScratch struct {
	text cpText
	a, b []int
}

// split cuts text into words (substrings of text) and calls fn for each.
func (p *preTokenizer) split(s *splitScratch, text string, fn func(word string)) {
	t := &s.text
	t.reset(text)
	if len(t.cps) == 0 {
		return
	}
	cur := append(s.a[:0], len(t.cps))
	next := s.b[:0]
	for _, st := range p.stages {
		next = st.split(t, cur, next[:0])
		cur, next = next, cur
	}
	s.a, s.b = cur, next
	start := 0
	for _, n := range cur {
		fn(text[t.offs[start]:t.offs[start+n]])
		start += n
	}
}
