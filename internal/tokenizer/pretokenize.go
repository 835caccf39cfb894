package tokenizer

import "fmt"

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

// splitStage refines a segmentation of a cpText. Segmentations are lists of
// lengths in codepoints that add up to len(cps), like llama.cpp's bpe_offsets.
type splitStage interface {
	split(t *cpText, in, out []int) []int
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
