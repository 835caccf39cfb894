package cpu

import (
	"fmt"
	"sync"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

// kvCache stores each layer's keys as one row of kvDim values per position,
// in ggml's block layout of kType. Values are stored the same way in vType,
// except for an F32 or F16 cache (both types the same): as llama.cpp does
// without flash attention, values are then transposed (one row of ctx
// positions per dimension), so both products of attention are dot products
// over contiguous memory. Any other cache, or any with a.Flash set, is
// attended with llama.cpp's flash attention (see attendFlash), as llama.cpp
// requires for quantized values.
type kvCache struct {
	kvDim, ctx   int
	kType, vType gguf.GGMLType
	kRow, vRow   int  // bytes of one position's keys and values
	flash        bool // values by position, attended with flash attention
	k, v         [][]byte
	vConv        []byte    // one converted V row, reused by storeKV
	scratch      sync.Pool // *attnScratch for Attend's workers
}

// attnScratch is one attention worker's buffers: a row of scores and the
// converted q and probability rows, or flash attention's accumulators.
type attnScratch struct {
	scores       []float32
	qBytes, prob []byte
	ms           []float32 // flash attention's rescaling factors, one per position
	peaks        []int32   // flash attention's positions of new maxima
	acc, vRows   []float32 // flash attention's F32 accumulator and decoded values
	acc16        []byte    // F16 accumulator: little-endian halves
	tiles        *flashTiles
}

// CacheTypes are the KV cache types the CPU backend stores, as llama.cpp's
// --cache-type-k/-v accept them.
var CacheTypes = []gguf.GGMLType{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16,
	gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1}

func (b *Backend) NewKVCache(layers, ctx int, a *engine.Attention, kType, vType gguf.GGMLType) (engine.KVCache, error) {
	for _, t := range []gguf.GGMLType{kType, vType} {
		if !cacheType(t) {
			return nil, fmt.Errorf("no CPU KV cache of type %s (have f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1)", t)
		}
		if err := a.CheckCacheType(t); err != nil {
			return nil, err
		}
	}
	c := &kvCache{kvDim: a.KVHeads * a.HeadDim, ctx: ctx, kType: kType, vType: vType}
	c.kRow, _ = kType.RowBytes(c.kvDim)
	c.vRow, _ = vType.RowBytes(c.kvDim)
	c.flash = a.Flash || kType != vType || (kType != gguf.TypeF32 && kType != gguf.TypeF16)
	qBytes, _ := VecDotType(kType).RowBytes(a.HeadDim)
	c.scratch.New = func() any {
		s := &attnScratch{qBytes: make([]byte, 0, qBytes), scores: make([]float32, ctx)}
		if c.flash {
			s.ms, s.peaks = make([]float32, ctx), make([]int32, 0, ctx)
			s.acc, s.acc16 = make([]float32, a.HeadDim), make([]byte, 2*a.HeadDim)
			s.vRows = make([]float32, flashRun*a.HeadDim)
			if kType == vType && (kType == gguf.TypeF32 || kType == gguf.TypeF16) {
				s.tiles = newFlashTiles(a.HeadDim)
			}
		} else {
			s.prob = make([]byte, 0, ctx*kType.BlockBytes())
		}
		return s
	}
	c.vConv = make([]byte, 0, c.vRow)
	for range layers {
		c.k = append(c.k, make([]byte, ctx*c.kRow))
		c.v = append(c.v, make([]byte, ctx*c.vRow))
	}
	return c, nil
}

func cacheType(t gguf.GGMLType) bool {
	for _, c := range CacheTypes {
		if c == t {
			return true
		}
	}
	return false
}

// encodeCacheRow appends x in type t as llama.cpp's CPU backend writes a
// cache row: the activation quantizers where ggml-cpu has its own (F16,
// BF16, Q8_0), the reference quantizers otherwise.
func encodeCacheRow(t gguf.GGMLType, x []float32, dst []byte) []byte {
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0:
		return QuantizeRow(t, x, dst)
	}
	out, err := gguf.Quantize(t, x, dst)
	if err != nil {
		panic("cpu: cache row: " + err.Error()) // head sizes were checked by NewKVCache
	}
	return out
}

// RoPEStoreKV normalises, rotates and stores as separate steps, as
// llama.cpp's CPU graph does.
func (b *Backend) RoPEStoreKV(c engine.KVCache, layer int, q, k, v engine.Tensor, pos int, a *engine.Attention, r *engine.Rope, n *engine.HeadNorm) {
	if n != nil {
		b.RMSNorm(q, q, n.Q, n.Eps)
		b.RMSNorm(k, k, n.K, n.Eps)
	}
	b.rope(q, a.HeadDim, pos, r)
	b.rope(k, a.HeadDim, pos, r)
	b.storeKV(c, layer, k, v, pos)
}

// storeKV writes k and v (row r at position pos+r) into the cache.
func (b *Backend) storeKV(cache engine.KVCache, layer int, k, v engine.Tensor, pos int) {
	c := cache.(*kvCache)
	for r := range k.Rows {
		t := pos + r
		encodeCacheRow(c.kType, row(k, r), c.k[layer][t*c.kRow:t*c.kRow:(t+1)*c.kRow])
		if c.flash {
			encodeCacheRow(c.vType, row(v, r), c.v[layer][t*c.vRow:t*c.vRow:(t+1)*c.vRow])
			continue
		}
		// V is stored transposed: convert the row once, then scatter its
		// elements to position t of each dimension's row.
		elem := c.vRow / c.kvDim
		c.vConv = encodeCacheRow(c.vType, row(v, r), c.vConv[:0])
		for d := range c.kvDim {
			at := (d*c.ctx + t) * elem
			copy(c.v[layer][at:at+elem], c.vConv[d*elem:(d+1)*elem])
		}
	}
}
