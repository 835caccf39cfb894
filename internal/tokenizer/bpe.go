package tokenizer

import "math"

// symbol is a run of bytes of the word being merged, linked to its
// neighbours (llama.cpp's llm_symbol). n == 0 marks a symbol merged away.
type symbol struct {
	start, n   int32
	prev, next int32
}

// bigram is a candidate merge of two adjacent symbols. size is the byte
// length of the pair when it was queued: if either side changed since, the
// candidate is stale. key orders candidates (smaller first, ties to the
// leftmost), so one comparison serves both BPE ranks and SPM scores.
type bigram struct {
	left, right int32
	size        int32
	key         uint32
}

// rankKey orders BPE merges: lowest rank first.
func rankKey(rank int32) uint32 { return uint32(rank) }

// scoreKey orders SPM merges: highest score first. It maps -score onto
// uint32 so that integer order is float order.
func scoreKey(score float32) uint32 {
	f := -score
	if f == 0 {
		f = 0 // -0 and +0 compare equal as floats; give them one key
	}
	b := math.Float32bits(f)
	if b&0x80000000 != 0 {
		return ^b
	}
	return b | 0x80000000
}

func (a *bigram) before(b *bigram) bool {
	return a.key < b.key || (a.key == b.key && a.left < b.left)
}

// bigramHeap is a binary min-heap of merge candidates; a hand-rolled heap
// avoids container/heap's interface calls in the hottest loop.
type bigramHeap struct {
	items []bigram
}

func (h *bigramHeap) push(b bigram) {
	h.items = append(h.items, b)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.items[i].before(&h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *bigramHeap) pop() bigram {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.items[l].before(&h.items[m]) {
			m = l
		}
		if r < last && h.items[r].before(&h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}

// encodeBPE pre-tokenizes a raw text fragment and merges each word.
func (t *Tokenizer) encodeBPE(s *scratch, text string, out []int32) []int32 {
	t.pretok.split(&s.split, text, func(word string) {
		out = t.bpeWord(s, word, out)
	})
	return out
}

// bpeWord is llm_tokenizer_bpe_session::tokenize for one word, working on
// raw bytes (one initial symbol per byte, like one byte-level character).
func (t *Tokenizer) bpeWord(s *scratch, word string, out []int32) []int32 {
	if len(word) == 1 || t.ignoreMerges {
		if id, ok := t.bpeVocab[word]; ok {
			return append(out, id)
		}
	}
	syms := s.symbols[:0]
	for i := range len(word) {
		next := int32(i + 1)
		if i == len(word)-1 {
			next = -1
		}
		syms = append(syms, symbol{start: int32(i), n: 1, prev: int32(i - 1), next: next})
	}
	h := &s.heap
	h.items = h.items[:0]
	add := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		ls, rs := &syms[l], &syms[r]
		key := mergePair{word[ls.start : ls.start+ls.n], word[rs.start : rs.start+rs.n]}
		if rank, ok := t.ranks[key]; ok {
			h.push(bigram{left: l, right: r, size: ls.n + rs.n, key: rankKey(rank)})
		}
	}
	for i := 1; i < len(syms); i++ {
		add(int32(i-1), int32(i))
	}
	for len(h.items) > 0 {
		b := h.pop()
		ls, rs := &syms[b.left], &syms[b.right]
		if ls.n == 0 || rs.n == 0 || ls.n+rs.n != b.size {
			continue // outdated: one side was merged since it was queued
		}
		ls.n += rs.n
		rs.n = 0
		ls.next = rs.next
		if rs.next >= 0 {
			syms[rs.next].prev = b.left
		}
		add(ls.prev, b.left)
		add(b.left, ls.next)
	}
	for i := int32(0); i >= 0 && int(i) < len(syms); i = syms[i].next {
		sym := syms[i]
		piece := word[sym.start : sym.start+sym.n]
		if id, ok := t.bpeVocab[piece]; ok {
			out = append(out, id)
			continue
		}
		// Not a token: fall back to byte tokens; llama.cpp silently drops
		// bytes the vocabulary cannot spell.
		for j := range len(piece) {
			if id := t.byteToken[piece[j]]; id != noToken {
				out = append(out, id)
			}
		}
	}
	s.symbols = syms
	return out
}
