package tokenizer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/quant-llm/quant/internal/gguf"
)

// Indices into Tokenizer.fim (fill-in-the-middle tokens).
const (
	fimPre = iota
	fimSuf
	fimMid
	fimPad
	fimRep
	fimSep
)

// tokenAttr is llama.cpp's llama_token_attr bit set.
type tokenAttr uint16

const (
	attrUnknown     tokenAttr = 1 << 0
	attrUnused      tokenAttr = 1 << 1
	attrNormal      tokenAttr = 1 << 2
	attrControl     tokenAttr = 1 << 3
	attrUserDefined tokenAttr = 1 << 4
	attrByte        tokenAttr = 1 << 5
	attrLStrip      tokenAttr = 1 << 7
	attrRStrip      tokenAttr = 1 << 8
)

// attrFromType maps tokenizer.ggml.token_type values (llama_token_type).
func attrFromType(t int32) tokenAttr {
	switch t {
	case 1:
		return attrNormal
	case 2:
		return attrUnknown
	case 3:
		return attrControl
	case 4:
		return attrUserDefined
	case 5:
		return attrUnused
	case 6:
		return attrByte
	}
	return 0 // undefined
}

const (
	keyModel        = "tokenizer.ggml.model"
	keyPre          = "tokenizer.ggml.pre"
	keyTokens       = "tokenizer.ggml.tokens"
	keyScores       = "tokenizer.ggml.scores"
	keyTokenType    = "tokenizer.ggml.token_type"
	keyMerges       = "tokenizer.ggml.merges"
	keyAddBOS       = "tokenizer.ggml.add_bos_token"
	keyAddEOS       = "tokenizer.ggml.add_eos_token"
	keyAddSep       = "tokenizer.ggml.add_sep_token"
	keyAddPrefix    = "tokenizer.ggml.add_space_prefix"
	keyChatTemplate = "tokenizer.chat_template"
)

func load(f *gguf.File) (*Tokenizer, error) {
	model, ok := f.String(keyModel)
	if !ok {
		return nil, fmt.Errorf("missing %s", keyModel)
	}
	t := &Tokenizer{model: model}
	t.pre, _ = f.String(keyPre)
	t.chatTemplate, _ = f.String(keyChatTemplate)

	// Defaults per model type, as in llama_vocab::impl::load.
	var spec preTokenizerSpec
	switch model {
	case "llama":
		t.kind = kindSPM
		t.bos, t.eos, t.unk = 1, 2, 0
		t.addSpacePrefix, t.addBOS = true, true
	case "gpt2":
		t.kind = kindBPE
		t.bos, t.eos, t.unk = 11, 11, noToken
		var err error
		if spec, err = preTokenizerFor(t.pre); err != nil {
			return nil, err
		}
		t.cleanSpaces, t.ignoreMerges, t.addBOS = spec.cleanSpaces, spec.ignoreMerges, spec.addBOS
		if spec.noBOS {
			t.bos = noToken
		}
	case "bert":
		t.kind = kindWPM
		t.bos, t.eos, t.unk = 101, noToken, 100 // [CLS], none, [UNK]
		t.addBOS, t.addSep = true, true
	default:
		return nil, fmt.Errorf("%s %q is not supported: only \"gpt2\" (byte-level BPE), \"llama\" (SentencePiece) and \"bert\" (WordPiece) are", keyModel, model)
	}
	t.eot, t.eom, t.sep, t.pad = noToken, noToken, noToken, noToken
	if t.kind == kindWPM {
		t.sep, t.pad = 102, 0 // [SEP], [PAD]
	}
	for i := range t.fim {
		t.fim[i] = noToken
	}
	if v, ok := f.Bool(keyAddPrefix); ok {
		t.addSpacePrefix = v
	}

	if err := t.loadTokens(f); err != nil {
		return nil, err
	}
	if t.kind == kindBPE {
		if err := t.loadMerges(f); err != nil {
			return nil, err
		}
		pt, err := newPreTokenizer(spec.regexes)
		if err != nil {
			return nil, err
		}
		t.pretok = pt
	}
	t.initByteTokens()
	if t.kind == kindSPM {
		t.spaceJoiners = spaceJoinerSet(t.tokens)
	}
	if err := t.loadSpecialIDs(f); err != nil {
		return nil, err
	}
	t.detectSpecialTokens()
	t.applyModelQuirks(f)
	t.buildSpecialCache()
	t.buildPieceCache()
	return t, nil
}

// loadTokens reads the token texts, scores and types, checking that the
// three arrays agree.
func (t *Tokenizer) loadTokens(f *gguf.File) error {
	arr, ok := f.Array(keyTokens)
	if !ok {
		return fmt.Errorf("missing %s", keyTokens)
	}
	tokens, ok := arr.Values.([]string)
	if !ok {
		return fmt.Errorf("%s is an array of %s, want string", keyTokens, arr.Elem)
	}
	n := len(tokens)
	if n == 0 {
		return fmt.Errorf("%s is empty", keyTokens)
	}
	if n > 1<<31-1 {
		return fmt.Errorf("%s has %d tokens, more than int32 ids can address", keyTokens, n)
	}

	t.scores = make([]float32, n)
	if arr, ok := f.Array(keyScores); ok {
		switch s := arr.Values.(type) {
		case []float32:
			if len(s) != n {
				return fmt.Errorf("%s has %d entries but %s has %d", keyScores, len(s), keyTokens, n)
			}
			copy(t.scores, s)
		case []int32:
			if len(s) != n {
				return fmt.Errorf("%s has %d entries but %s has %d", keyScores, len(s), keyTokens, n)
			}
			for i, v := range s {
				t.scores[i] = float32(v)
			}
		default:
			return fmt.Errorf("%s is an array of %s, want f32 or i32", keyScores, arr.Elem)
		}
	} else if _, present := f.Value(keyScores); present {
		return fmt.Errorf("%s is not an array", keyScores)
	}

	t.attrs = make([]tokenAttr, n)
	if arr, ok := f.Array(keyTokenType); ok {
		types, ok := arr.Values.([]int32)
		if !ok {
			return fmt.Errorf("%s is an array of %s, want i32", keyTokenType, arr.Elem)
		}
		if len(types) != n {
			return fmt.Errorf("%s has %d entries but %s has %d", keyTokenType, len(types), keyTokens, n)
		}
		for i, ty := range types {
			t.attrs[i] = attrFromType(ty)
		}
	} else if _, present := f.Value(keyTokenType); present {
		return fmt.Errorf("%s is not an array", keyTokenType)
	} else {
		for i := range t.attrs {
			t.attrs[i] = attrNormal
		}
	}

	t.tokens = make([]string, n)
	t.toID = make(map[string]int32, n)
	for i, s := range tokens {
		if s == "" {
			s = fmt.Sprintf("[EMPTY_%d]", i) // as llama.cpp names empty tokens
		}
		if prev, dup := t.toID[s]; dup {
			return fmt.Errorf("duplicate token in %s: %q has ids %d and %d", keyTokens, s, prev, i)
		}
		t.toID[s] = int32(i)
		t.tokens[i] = s
		t.maxTokenLen = max(t.maxTokenLen, len(s))
	}
	return nil
}

// loadMerges reads the BPE merges; a merge's rank is its index.
func (t *Tokenizer) loadMerges(f *gguf.File) error {
	arr, ok := f.Array(keyMerges)
	if !ok {
		return fmt.Errorf("missing %s (required for %s %q)", keyMerges, keyModel, t.model)
	}
	merges, ok := arr.Values.([]string)
	if !ok {
		return fmt.Errorf("%s is an array of %s, want string", keyMerges, arr.Elem)
	}
	t.ranks = make(map[mergePair]int32, len(merges))
	for i, m := range merges {
		// llama.cpp splits at the first space after the first byte, so a
		// merge may start with a (byte-level) space character.
		pos := strings.IndexByte(m[min(1, len(m)):], ' ')
		if pos < 0 {
			continue // llama.cpp stores ("", "") which never matches
		}
		pos += min(1, len(m))
		left, okL := byteLevelDecode(m[:pos])
		right, okR := byteLevelDecode(m[pos+1:])
		if !okL || !okR {
			continue // not byte-level text: no word can ever contain it
		}
		p := mergePair{left, right}
		if _, seen := t.ranks[p]; !seen { // emplace keeps the first rank
			t.ranks[p] = int32(i)
		}
	}
	t.bpeVocab = make(map[string]int32, len(t.tokens))
	for id, s := range t.tokens {
		if raw, ok := byteLevelDecode(s); ok {
			t.bpeVocab[raw] = int32(id)
		}
	}
	return nil
}

// initByteTokens finds the token for each single byte, used when a BPE
// symbol is not in the vocabulary and for SentencePiece byte fallback.
func (t *Tokenizer) initByteTokens() {
	for b := range 256 {
		t.byteToken[b] = noToken
		if t.kind == kindBPE {
			if id, ok := t.bpeVocab[string([]byte{byte(b)})]; ok {
				t.byteToken[b] = id
			}
			continue
		}
		if id, ok := t.toID[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteToken[b] = id
		} else if id, ok := t.toID[string([]byte{byte(b)})]; ok {
			t.byteToken[b] = id
		}
	}
}

// loadSpecialIDs reads the special token ids. As in llama.cpp, a default id
// outside the vocabulary is dropped and an out-of-range key is ignored.
func (t *Tokenizer) loadSpecialIDs(f *gguf.File) error {
	n := int64(len(t.tokens))
	for _, s := range []struct {
		key string
		id  *int32
	}{
		{"tokenizer.ggml.bos_token_id", &t.bos},
		{"tokenizer.ggml.eos_token_id", &t.eos},
		{"tokenizer.ggml.eot_token_id", &t.eot},
		{"tokenizer.ggml.eom_token_id", &t.eom},
		{"tokenizer.ggml.unknown_token_id", &t.unk},
		{"tokenizer.ggml.seperator_token_id", &t.sep},
		{"tokenizer.ggml.padding_token_id", &t.pad},
		{"tokenizer.ggml.fim_pre_token_id", &t.fim[fimPre]},
		{"tokenizer.ggml.fim_suf_token_id", &t.fim[fimSuf]},
		{"tokenizer.ggml.fim_mid_token_id", &t.fim[fimMid]},
		{"tokenizer.ggml.fim_pad_token_id", &t.fim[fimPad]},
		{"tokenizer.ggml.fim_rep_token_id", &t.fim[fimRep]},
		{"tokenizer.ggml.fim_sep_token_id", &t.fim[fimSep]},
		{"tokenizer.ggml.prefix_token_id", &t.fim[fimPre]}, // deprecated names
		{"tokenizer.ggml.suffix_token_id", &t.fim[fimSuf]},
		{"tokenizer.ggml.middle_token_id", &t.fim[fimMid]},
	} {
		if *s.id >= 0 && int64(*s.id) >= n {
			*s.id = noToken
		}
		if v, ok := f.Int(s.key); ok && v >= 0 && v < n {
			*s.id = int32(v)
		}
	}
	if v, ok := f.Bool(keyAddBOS); ok {
		t.addBOS = v
	}
	if v, ok := f.Bool(keyAddEOS); ok {
		t.addEOS = v
	}
	if t.addBOS && t.bos == noToken {
		return fmt.Errorf("%s is true, but tokenizer.ggml.bos_token_id is not set", keyAddBOS)
	}
	if v, ok := f.Bool(keyAddSep); ok {
		t.addSep = v
	}
	if t.addSep && t.sep == noToken {
		return fmt.Errorf("%s is true, but tokenizer.ggml.seperator_token_id is not set", keyAddSep)
	}
	if t.addEOS && t.eos == noToken {
		return fmt.Errorf("%s is true, but tokenizer.ggml.eos_token_id is not set", keyAddEOS)
	}
	return nil
}

// Token texts llama.cpp recognises (llama_vocab::impl::load): end-of-turn
// candidates, and every token that ends generation.
var (
	eotTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}
	eomTexts = []string{"<|eom_id|>"}
	eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
		"<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
		"[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
		"<｜end▁of▁sentence｜>", "[e~["}
	fimPreTexts = []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}
	fimSufTexts = []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}
	fimMidTexts = []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}
	fimPadTexts = []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}
	fimRepTexts = []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}
	fimSepTexts = []string{"<|file_sep|>"}
)

// detectSpecialTokens follows llama.cpp's text-based detection of EOT, EOM
// and FIM tokens, unused control tokens and the end-of-generation set. A
// recognised token that is not typed CONTROL becomes CONTROL, as there.
// llama.cpp walks a hash map, so when several candidates exist which one
// becomes "the" EOT token is arbitrary; we take the lowest id. The EOG set,
// which is what matters here, does not depend on that order.
func (t *Tokenizer) detectSpecialTokens() {
	markFirst := func(id *int32, texts []string) {
		if *id != noToken {
			return
		}
		for i, s := range t.tokens {
			if slices.Contains(texts, s) {
				*id = int32(i)
				t.attrs[i] |= attrControl
				return
			}
		}
	}
	markFirst(&t.eot, eotTexts)
	markFirst(&t.eom, eomTexts)
	for i, texts := range [][]string{fimPreTexts, fimSufTexts, fimMidTexts, fimPadTexts, fimRepTexts, fimSepTexts} {
		markFirst(&t.fim[i], texts)
	}

	for i, s := range t.tokens {
		if t.attrs[i]&attrControl != 0 && strings.Contains(s, "unused") {
			t.attrs[i] |= attrUnused
		}
	}

	t.eog = map[int32]bool{}
	for _, id := range []int32{t.fim[fimPad], t.fim[fimRep], t.fim[fimSep]} {
		if id != noToken {
			t.eog[id] = true
		}
	}
	for i, s := range t.tokens {
		if slices.Contains(eogTexts, s) {
			t.eog[int32(i)] = true
			t.attrs[i] |= attrControl
		}
		// llama.cpp renders these gpt-oss tokens as user-defined text.
		switch s {
		case "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>":
			t.attrs[i] = attrUserDefined
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != noToken {
			t.eog[id] = true
		}
	}

	// o200k_harmony and solar-open: <|end|> is not end-of-generation there.
	has := func(s string) (int32, bool) {
		id, ok := t.toID[s]
		return id, ok && t.eog[id]
	}
	_, ret := has("<|return|>")
	_, call := has("<|call|>")
	_, calls := has("<|calls|>")
	_, flush := has("<|flush|>")
	if end, ok := has("<|end|>"); ok && ((ret && (call || calls)) || ((call || calls) && flush)) {
		delete(t.eog, end)
		t.attrs[end] = attrUserDefined
	}
	// gemma4 and paddleocr: </s> is an ordinary token when <|tool_response> exists.
	if _, ok := has("<|tool_response>"); ok {
		if s, ok := has("</s>"); ok {
			delete(t.eog, s)
			t.attrs[s] = attrNormal
		}
	}
}

// applyModelQuirks sets the per-model strip attributes llama.cpp hard-codes.
func (t *Tokenizer) applyModelQuirks(f *gguf.File) {
	name, _ := f.String("general.name")
	name = strings.ToLower(name)
	arch, _ := f.String("general.architecture")
	set := func(text string, a tokenAttr, on bool) {
		id, ok := t.toID[text]
		if !ok {
			return
		}
		if on {
			t.attrs[id] |= a
		} else {
			t.attrs[id] &^= a
		}
	}
	containsAny := func(s string, subs ...string) bool {
		return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
	}
	switch {
	case containsAny(t.pre, "jina-v2-de", "jina-v2-es", "jina-v2-code") || containsAny(arch, "nomic-bert-moe", "jina-bert-v3"):
		set("<mask>", attrLStrip, true)
	case containsAny(name, "phi-3", "phi3"):
		for id, a := range t.attrs {
			if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
				t.attrs[id] |= attrRStrip
			}
		}
		set("</s>", attrRStrip, true)
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			set(s, attrRStrip, false)
		}
	case containsAny(name, "modern-bert"):
		set("[MASK]", attrLStrip, true)
	}
}

// buildSpecialCache lists the tokens matched in raw text before
// tokenizing, longest first (llama.cpp's cache_special_tokens). Ties keep id
// order so the result is deterministic.
func (t *Tokenizer) buildSpecialCache() {
	for id, a := range t.attrs {
		if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.special = append(t.special, int32(id))
		}
	}
	slices.SortStableFunc(t.special, func(a, b int32) int {
		return cmp.Compare(len(t.tokens[b]), len(t.tokens[a]))
	})
}
