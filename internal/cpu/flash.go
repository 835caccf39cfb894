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
// value cache and in F32 otherwise, with the C library's expf. The work is
// reordered, not the arithmetic: every score first (one kernel call), then
// the online softmax's factors position by position, then the values with
// each strip of the accumulator kept in registers across all positions
// (each dimension's sum is its own chain, so strips can go one after the
// other).
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
			n := pos + r + 1
			vs, ms := buf.scores[:n], buf.ms[:n]
			DotMatrix(c.kType, VecOrder, hd, c.k[layer][kv*kHead:], c.kRow, n, qq, 0, 1, vs, 0)
			sum := onlineSoftmax(vs, ms, a.Scale, buf.peaks)
			acc := c.attendValues(buf, c.v[layer][kv*vHead:], ms, vs, decodeV)
			inv := float32(0)
			if sum != 0 {
				inv = 1 / sum
			}
			out := row(dst, r)[h*hd : (h+1)*hd]
			for i, y := range acc {
				out[i] = y * inv
			}
		}
	})
}

// attendValues accumulates the values of one head (values holds its first
// position's row) under the online softmax's factors ms and vs, in buf.acc.
func (c *kvCache) attendValues(buf *attnScratch, values []byte, ms, vs []float32, decodeV func(src []byte, dst []float32)) []float32 {
	acc := buf.acc
	hd := len(acc)
	if c.vType == gguf.TypeF16 {
		clear(buf.acc16)
		accumulateF16(buf.acc16, values, c.vRow, ms, vs)
		for i := range acc {
			acc[i] = loadF16(buf.acc16[2*i:])
		}
		return acc
	}
	clear(acc)
	if flashQuantSIMD(c.vType, acc, values, c.vRow, ms, vs) {
		return acc
	}
	// Decoded to F32 a run of positions at a time.
	vHead, _ := c.vType.RowBytes(hd)
	for t0 := 0; t0 < len(ms); t0 += flashRun {
		run := min(flashRun, len(ms)-t0)
		for t := range run {
			at := (t0 + t) * c.vRow
			decodeV(values[at:at+vHead], buf.vRows[t*hd:(t+1)*hd])
		}
		accumulateF32(acc, buf.vRows, hd, ms[t0:t0+run], vs[t0:t0+run])
	}
	return acc
}

// flashRun is how many positions' values attendFlash decodes at a time.
const flashRun = 64

// onlineSoftmax turns the scores K·q in vs into the online softmax's
// factors, as llama.cpp computes them position by position: with s the
// scaled score and m the maximum before it, a new maximum gives ms =
// exp(m - s) (what has been accumulated is rescaled) and vs = 1, any other
// score ms = 1 and vs = exp(s - m). It returns the softmax's denominator,
// sum = sum*ms + vs over the positions. The exponentials are taken all at
// once; peaks (as long as vs) holds the positions of the new maxima.
func onlineSoftmax(vs, ms []float32, scale float32, peaks []int32) float32 {
	peaks = peaks[:0]
	maxScore := float32(math.Inf(-1))
	for t, kq := range vs {
		s := float32(kq * scale) // rounded: never fused into what follows (arm64)
		if s > maxScore {
			vs[t] = maxScore - s
			maxScore = s
			peaks = append(peaks, int32(t))
		} else {
			vs[t] = s - maxScore
		}
	}
	expfRow(vs, vs)
	for t := range ms {
		ms[t] = 1
	}
	for _, t := range peaks {
		ms[t], vs[t] = vs[t], 1
	}
	sum := float32(0)
	for t, v := range vs {
		sum = float32(sum*ms[t]) + v
	}
	return sum
}

// expfRow sets dst[i] = Expf(src[i]); dst may be src.
func expfRow(dst, src []float32) {
	for i := 0; i < len(src); {
		i += expfSIMD(dst[i:], src[i:])
		// A group with a special case, or the last values.
		for end := min(i+4, len(src)); i < end; i++ {
			dst[i] = Expf(src[i])
		}
	}
}

// accumulateF16 adds len(ms) positions' value rows (vStride bytes apart in
// v) into flash attention's F16 accumulator acc16 (little-endian halves),
// as ggml's F16 vector ops do: at each position, acc = half(acc*ms) when ms
// is not 1, then acc = half(fma(v, vs, acc)).
func accumulateF16(acc16, v []byte, vStride int, ms, vs []float32) {
	for i := flashF16SIMD(acc16, v, vStride, ms, vs); i < len(acc16)/2; i++ {
		y := loadF16(acc16[2*i:])
		for t, m := range ms {
			if m != 1 {
				y = roundF16(y * m)
			}
			y = roundF16(fma32(loadF16(v[t*vStride+2*i:]), vs[t], y))
		}
		storeF16(acc16[2*i:], y)
	}
}

// accumulateF32 adds len(ms) positions' value rows (vStride values apart in
// v) into flash attention's F32 accumulator: at each position, acc *= ms
// when ms is not 1, then acc = fma(v, vs, acc).
func accumulateF32(acc, v []float32, vStride int, ms, vs []float32) {
	for i := flashF32SIMD(acc, v, vStride, ms, vs); i < len(acc); i++ {
		y := acc[i]
		for t, m := range ms {
			if m != 1 {
				y *= m
			}
			y = fma32(v[t*vStride+i], vs[t], y)
		}
		acc[i] = y
	}
}

// roundF16 rounds x to the nearest half (ties to even).
func roundF16(x float32) float32 { return gguf.FP16ToFP32(gguf.FP32ToFP16(x)) }

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
// the tile's positions). Each job is a head and flashTile query rows: a
// tile of keys and values is widened once for all of them, the rows'
// scores are computed side by side (each row's own sequence of FMAs, in a
// vector lane) and each row's values accumulated with the dimensions in
// vector lanes.
func (b *Backend) attendFlashTiled(dst, q engine.Tensor, c *kvCache, layer, pos int, a *engine.Attention) {
	group := a.Heads / a.KVHeads
	hd := a.HeadDim
	head, _ := c.kType.RowBytes(hd)
	decode := rowDecoder(c.kType)
	rowTiles := (q.Rows + flashTile - 1) / flashTile
	b.pool.parallelFor(rowTiles*a.Heads, 1, func(lo, hi int) {
		buf := c.scratch.Get().(*attnScratch)
		defer c.scratch.Put(buf)
		tb := buf.tiles
		var probs [flashTile]float32
		for job := lo; job < hi; job++ {
			r0, h := job/a.Heads*flashTile, job%a.Heads
			rows := min(flashTile, q.Rows-r0)
			off := h / group * head // this head's keys and values in a cache row
			clear(tb.qT)
			for r := range rows {
				for d, x := range row(q, r0+r)[h*hd : (h+1)*hd] {
					tb.qT[d*flashTile+r] = x
				}
			}
			clear(tb.acc)
			for r := range rows {
				tb.sum[r], tb.max[r] = 0, float32(math.Inf(-1))
			}
			last := pos + r0 + rows // positions the last row sees
			for t0 := 0; t0 < last; t0 += flashTile {
				nt := min(flashTile, last-t0)
				for i := range nt {
					at := (t0+i)*c.kRow + off
					decode(c.k[layer][at:at+head], tb.k[i*hd:(i+1)*hd])
					decode(c.v[layer][at:at+head], tb.v[i*hd:(i+1)*hd])
				}
				tileScores(tb.scores, tb.qT, tb.k, hd, nt)
				for r := range rows {
					n := pos + r0 + r + 1
					if n <= t0 {
						continue
					}
					tile := probs[:min(flashTile, n-t0)]
					tileMax := float32(math.Inf(-1))
					for i := range tile {
						tile[i] = tb.scores[i*flashTile+r] * a.Scale
						tileMax = max(tileMax, tile[i])
					}
					acc := tb.acc[r*hd : (r+1)*hd]
					if tileMax > tb.max[r] {
						ms := Expf(tb.max[r] - tileMax)
						for d := range acc {
							acc[d] *= ms
						}
						tb.sum[r] *= ms
						tb.max[r] = tileMax
					}
					// The exponentials in groups of 16, each group's lanes
					// added pairwise and the groups in float64; masked
					// positions (past n) add zeros.
					var exps [flashTile]float32
					expRow(exps[:len(tile)], tile, 1, tb.max[r])
					copy(tile, exps[:len(tile)])
					var tileSum float64
					for g := 0; g < flashTile; g += 16 {
						tileSum += float64(pairwiseSum(exps[g : g+16]))
					}
					tb.sum[r] = float32(float64(tb.sum[r]) + tileSum)
					accumulateF32(acc, tb.v, hd, tb.ones[:len(tile)], tile)
				}
			}
			for r := range rows {
				inv := float32(0)
				if tb.sum[r] != 0 {
					inv = 1 / tb.sum[r]
				}
				out := row(dst, r0+r)[h*hd : (h+1)*hd]
				for d, y := range tb.acc[r*hd : (r+1)*hd] {
					out[d] = y * inv
				}
			}
		}
	})
}

// flashTiles is a worker's buffers for the tiled flash attention: a tile's
// query rows transposed (qT[d*flashTile+r]), its keys and values widened to
// F32 (one position's head per row), the scores (scores[i*flashTile+r] for
// position i and row r), and each row's accumulator, sum and maximum.
type flashTiles struct {
	qT, k, v, scores, acc []float32
	sum, max, ones        []float32
}

func newFlashTiles(hd int) *flashTiles {
	t := &flashTiles{
		qT: make([]float32, hd*flashTile), k: make([]float32, flashTile*hd), v: make([]float32, flashTile*hd),
		scores: make([]float32, flashTile*flashTile), acc: make([]float32, flashTile*hd),
		sum: make([]float32, flashTile), max: make([]float32, flashTile), ones: make([]float32, flashTile),
	}
	for i := range t.ones {
		t.ones[i] = 1
	}
	return t
}

// tileScores sets scores[i*flashTile+r] to row r of qT (transposed) times
// key row i of k (hd values each), for n key rows and all flashTile query
// rows: s = fma(q[d], k[d], s) for d from 0, as llama.cpp's tiled flash
// attention computes each score.
func tileScores(scores, qT, k []float32, hd, n int) {
	if tileScoresSIMD(scores, qT, k, hd, n) {
		return
	}
	for i := range n {
		for r := range flashTile {
			var s float32
			for d := range hd {
				s = fma32(qT[d*flashTile+r], k[i*hd+d], s)
			}
			scores[i*flashTile+r] = s
		}
	}
}
