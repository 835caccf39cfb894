package cpu

import (
	"encoding/binary"
	"math"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

// attendFlash is llama.cpp's CPU flash attention (one query row and head at
// a time, ggml_compute_forward_flash_attn_ext_f16_one_chunk), which it uses
// for quantized caches: q is converted to the key type's dot-product format,
// each position's score is a Dot with its key row, and the values are
// accumulated under a running maximum (online softmax), in F16 for an F16
// value cache and in F32 otherwise, with the C library's expf.
func (b *Backend) attendFlash(dst, q engine.Tensor, c *kvCache, layer, pos int, a *engine.Attention) {
	if c.kType == c.vType && (c.kType == gguf.TypeF32 || c.kType == gguf.TypeF16) && q.Rows >= flashTile {
		b.attendFlashTiled(dst, q, c, layer, pos, a)
		return
	}
	group := a.Heads / a.KVHeads
	hd := a.HeadDim
	kHead, _ := c.kType.RowBytes(hd)
	vHead, _ := c.vType.RowBytes(hd)
	decodeV := rowDecoder(c.vType)
	b.pool.parallelFor(q.Rows*a.Heads, 1, func(lo, hi int) {
		buf := c.scratch.Get().(*attnScratch)
		defer c.scratch.Put(buf)
		for job := lo; job < hi; job++ {
			r, h := job/a.Heads, job%a.Heads
			kv := h / group
			qq := QuantizeRow(VecDotType(c.kType), row(q, r)[h*hd:(h+1)*hd], buf.qBytes[:0])
			acc, acc16 := buf.acc, buf.acc16
			clear(acc)
			clear(acc16)
			sum, maxScore := float32(0), float32(math.Inf(-1))
			// Every position's K·q first (one kernel call), each as Dot
			// would give it; then the online softmax, position by position.
			n := pos + r + 1
			scores := buf.scores[:n]
			DotMatrix(c.kType, VecOrder, hd, c.k[layer][kv*kHead:], c.kRow, n, qq, 0, 1, scores, 0)
			for t, kq := range scores {
				s := kq * a.Scale
				// A new maximum rescales what has been accumulated (ms);
				// otherwise this position's weight is exp(s - max) (vs).
				ms, vs := float32(1), float32(1)
				if s > maxScore {
					ms = Expf(maxScore - s)
					maxScore = s
					scaleAcc(acc, acc16, c.vType, ms)
				} else {
					vs = Expf(s - maxScore)
				}
				vRow := c.v[layer][t*c.vRow+kv*vHead : t*c.vRow+(kv+1)*vHead]
				if c.vType == gguf.TypeF16 {
					for i := madF16RowSIMD(acc16, vRow, vs); i < hd; i++ {
						storeF16(acc16[2*i:], fma32(loadF16(vRow[2*i:]), vs, loadF16(acc16[2*i:])))
					}
				} else {
					decodeV(vRow, buf.vRow)
					for i := madRowSIMD(acc, buf.vRow, hd, vs); i < hd; i++ {
						acc[i] = fma32(buf.vRow[i], vs, acc[i])
					}
				}
				sum = float32(sum*ms) + vs
			}
			out := row(dst, r)[h*hd : (h+1)*hd]
			if c.vType == gguf.TypeF16 {
				for i := range acc {
					acc[i] = loadF16(acc16[2*i:])
				}
			}
			inv := float32(0)
			if sum != 0 {
				inv = 1 / sum
			}
			for i, y := range acc {
				out[i] = y * inv
			}
		}
	})
}

// scaleAcc multiplies flash attention's accumulator by s: the F16 one
// (little-endian halves, each rounded back to F16) for an F16 value cache,
// else the F32 one.
func scaleAcc(acc []float32, acc16 []byte, vType gguf.GGMLType, s float32) {
	if vType == gguf.TypeF16 {
		for i := scaleF16RowSIMD(acc16, s); i < len(acc16)/2; i++ {
			storeF16(acc16[2*i:], loadF16(acc16[2*i:])*s)
		}
		return
	}
	for i := scaleRowSIMD(acc, s); i < len(acc); i++ {
		acc[i] *= s
	}
}

// storeF16 encodes x as the little-endian IEEE half at b[0:2], rounding to
// nearest even.
func storeF16(b []byte, x float32) { binary.LittleEndian.PutUint16(b, gguf.FP32ToFP16(x)) }

// flashTile is the number of query rows and of positions in llama.cpp's
// tiled flash attention (GGML_FA_TILE_Q and _KV).
const flashTile = 64

// attendFlashTiled is llama.cpp's tiled CPU flash attention, which it uses
// for F32 and F16 caches in batches of at least flashTile rows
// (ggml_compute_forward_flash_attn_ext_tiled): keys and values widened to
// F32, positions taken flashTile at a time, each tile's scores (sequential
// FMAs over the head) softmaxed against the running maximum with ggml's
// vectorised exp, and the values accumulated in F32 (sequential FMAs over
// the tile's positions).
func (b *Backend) attendFlashTiled(dst, q engine.Tensor, c *kvCache, layer, pos int, a *engine.Attention) {
	group := a.Heads / a.KVHeads
	hd := a.HeadDim
	elem := c.kRow / c.kvDim
	load := loadF32
	if c.kType == gguf.TypeF16 {
		load = loadF16
	}
	b.pool.parallelFor(q.Rows*a.Heads, 1, func(lo, hi int) {
		buf := c.scratch.Get().(*attnScratch)
		defer c.scratch.Put(buf)
		var probs [flashTile]float32
		for job := lo; job < hi; job++ {
			r, h := job/a.Heads, job%a.Heads
			off := h / group * hd * elem // this head's keys and values in a cache row
			qh := row(q, r)[h*hd : (h+1)*hd]
			acc := buf.acc
			clear(acc)
			sum, maxScore := float32(0), float32(math.Inf(-1))
			n := pos + r + 1
			for t0 := 0; t0 < n; t0 += flashTile {
				tile := probs[:min(flashTile, n-t0)]
				tileMax := float32(math.Inf(-1))
				for i := range tile {
					k := c.k[layer][(t0+i)*c.kRow+off:]
					var s float32
					for d, x := range qh {
						s = fma32(x, load(k[d*elem:]), s)
					}
					tile[i] = s * a.Scale
					tileMax = max(tileMax, tile[i])
				}
				if tileMax > maxScore {
					ms := Expf(maxScore - tileMax)
					for d := range acc {
						acc[d] *= ms
					}
					sum *= ms
					maxScore = tileMax
				}
				// The exponentials in groups of 16, each group's lanes added
				// pairwise and the groups in float64; masked positions
				// (past n) add zeros.
				var exps [flashTile]float32
				expRow(exps[:len(tile)], tile, 1, maxScore)
				copy(tile, exps[:len(tile)])
				var tileSum float64
				for g := 0; g < flashTile; g += 16 {
					tileSum += float64(pairwiseSum(exps[g : g+16]))
				}
				sum = float32(float64(sum) + tileSum)
				for d := range acc {
					v := c.v[layer][t0*c.vRow+off+d*elem:]
					y := acc[d]
					for i, p := range tile {
						y = fma32(p, load(v[i*c.vRow:]), y)
					}
					acc[d] = y
				}
			}
			inv := float32(0)
			if sum != 0 {
				inv = 1 / sum
			}
			out := row(dst, r)[h*hd : (h+1)*hd]
			for d, y := range acc {
				out[d] = y * inv
			}
		}
	})
}
