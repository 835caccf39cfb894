package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

// TestFlashAccumulate: the kernels of flash attention's value
// accumulation round every value as the formulas position by position do
// (for F16, widen, one fused multiply-add or multiply, round to the nearest
// half), over strips of 64 and 8 dimensions and the rest, with rescaling
// factors of 1 (skipped) and others.
func TestFlashAccumulate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, hd := range []int{1, 7, 8, 13, 64, 72, 128, 136} {
		for _, n := range []int{1, 2, 9, 70} {
			stride := hd + 5
			ms, vs := make([]float32, n), make([]float32, n)
			for i := range ms {
				ms[i], vs[i] = 1, float32(rng.Float64())
				if rng.IntN(4) == 0 {
					ms[i], vs[i] = float32(rng.Float64()), 1
				}
			}
			v := randVec(rng, n*stride, 4)
			v16 := QuantizeRow(gguf.TypeF16, v, nil)
			acc := randVec(rng, hd, 4)
			acc16 := QuantizeRow(gguf.TypeF16, acc, nil)
			want, want16 := append([]float32(nil), acc...), append([]byte(nil), acc16...)
			for i := range hd {
				y16 := loadF16(want16[2*i:])
				for t := range n {
					if ms[t] != 1 {
						want[i] *= ms[t]
						y16 = gguf.FP16ToFP32(gguf.FP32ToFP16(y16 * ms[t]))
					}
					want[i] = fma32(v[t*stride+i], vs[t], want[i])
					y16 = gguf.FP16ToFP32(gguf.FP32ToFP16(fma32(loadF16(v16[2*(t*stride+i):]), vs[t], y16)))
				}
				storeF16(want16[2*i:], y16)
			}
			accumulateF32(acc, v, stride, ms, vs)
			accumulateF16(acc16, v16, 2*stride, ms, vs)
			for i := range hd {
				if math.Float32bits(acc[i]) != math.Float32bits(want[i]) {
					t.Fatalf("F32, %d dims, %d positions: value %d is %g, want %g", hd, n, i, acc[i], want[i])
				}
				if g, w := binary.LittleEndian.Uint16(acc16[2*i:]), binary.LittleEndian.Uint16(want16[2*i:]); g != w {
					t.Fatalf("F16, %d dims, %d positions: value %d is %#04x, want %#04x", hd, n, i, g, w)
				}
			}
		}
	}
}

// TestRowDecoder: the AVX2 row decoders of flash attention give gguf's
// values bit for bit.
func TestRowDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range CacheTypes {
		for _, blocks := range []int{1, 2, 3, 8} {
			n := blocks * 32
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 3)
			}
			row := encodeCacheRow(typ, src, nil)
			want, got := make([]float32, n), make([]float32, n)
			if err := gguf.Dequantize(typ, row, want); err != nil {
				t.Fatal(err)
			}
			rowDecoder(typ)(row, got)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s, %d blocks: value %d is %g, want %g", typ, blocks, i, got[i], want[i])
				}
			}
		}
	}
}

// flashCases are the cache type pairs flash attention is tested and
// measured with: every type as both keys and values, and mixed pairs.
var flashCases = func() [][2]gguf.GGMLType {
	var c [][2]gguf.GGMLType
	for _, t := range CacheTypes {
		c = append(c, [2]gguf.GGMLType{t, t})
	}
	return append(c, [2]gguf.GGMLType{gguf.TypeQ8_0, gguf.TypeF16}, [2]gguf.GGMLType{gguf.TypeF16, gguf.TypeQ4_0})
}()

// filledCache returns a one-layer cache of positions rows of random keys
// and values, attended with flash attention.
func filledCache(t testing.TB, b *Backend, a *engine.Attention, kType, vType gguf.GGMLType, positions int, rng *rand.Rand) *kvCache {
	t.Helper()
	c, err := b.NewKVCache(1, positions, a, kType, vType)
	if err != nil {
		t.Fatal(err)
	}
	kv := a.KVHeads * a.HeadDim
	k, _ := b.NewTensor(positions, kv)
	v, _ := b.NewTensor(positions, kv)
	copy(data(k), randVec(rng, positions*kv, 1))
	copy(data(v), randVec(rng, positions*kv, 1))
	b.storeKV(c, 0, k, v, 0)
	return c.(*kvCache)
}

// attendFlashReference is llama.cpp's flash attention for one query row
// and head (ggml_compute_forward_flash_attn_ext_f16_one_chunk) written
// position by position with the scalar formulas: the result every kernel
// of attendFlash must give bit for bit.
func attendFlashReference(dst, q engine.Tensor, c *kvCache, pos int, a *engine.Attention) {
	hd := a.HeadDim
	kHead, _ := c.kType.RowBytes(hd)
	vHead, _ := c.vType.RowBytes(hd)
	decodeV := gguf.RowDecoder(c.vType)
	v32 := make([]float32, hd)
	for r := range q.Rows {
		for h := range a.Heads {
			kv := h / (a.Heads / a.KVHeads)
			qq := QuantizeRow(VecDotType(c.kType), row(q, r)[h*hd:(h+1)*hd], nil)
			acc, acc16 := make([]float32, hd), make([]byte, 2*hd)
			sum, maxScore := float32(0), float32(math.Inf(-1))
			for t := range pos + r + 1 {
				s := float32(Dot(c.kType, hd, c.k[0][t*c.kRow+kv*kHead:t*c.kRow+(kv+1)*kHead], qq) * a.Scale)
				ms, vs := float32(1), float32(1)
				if s > maxScore {
					ms = Expf(maxScore - s)
					maxScore = s
					for i := range acc {
						acc[i] *= ms
						storeF16(acc16[2*i:], loadF16(acc16[2*i:])*ms)
					}
				} else {
					vs = Expf(s - maxScore)
				}
				vRow := c.v[0][t*c.vRow+kv*vHead : t*c.vRow+(kv+1)*vHead]
				if c.vType == gguf.TypeF16 {
					for i := range hd {
						storeF16(acc16[2*i:], fma32(loadF16(vRow[2*i:]), vs, loadF16(acc16[2*i:])))
					}
				} else {
					decodeV(vRow, v32)
					for i := range hd {
						acc[i] = fma32(v32[i], vs, acc[i])
					}
				}
				sum = float32(sum*ms) + vs
			}
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
				row(dst, r)[h*hd+i] = y * inv
			}
		}
	}
}

// attendFlashTiledReference is llama.cpp's tiled flash attention
// (ggml_compute_forward_flash_attn_ext_tiled) for an F32 or F16 cache,
// one query row and head at a time with the scalar formulas.
func attendFlashTiledReference(dst, q engine.Tensor, c *kvCache, pos int, a *engine.Attention) {
	hd := a.HeadDim
	elem := c.kRow / c.kvDim
	load := loadF32
	if c.kType == gguf.TypeF16 {
		load = loadF16
	}
	for r := range q.Rows {
		for h := range a.Heads {
			off := h / (a.Heads / a.KVHeads) * hd * elem
			qh := row(q, r)[h*hd : (h+1)*hd]
			acc := make([]float32, hd)
			sum, maxScore := float32(0), float32(math.Inf(-1))
			n := pos + r + 1
			for t0 := 0; t0 < n; t0 += flashTile {
				tile := make([]float32, min(flashTile, n-t0))
				tileMax := float32(math.Inf(-1))
				for i := range tile {
					k := c.k[0][(t0+i)*c.kRow+off:]
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
				var exps [flashTile]float32
				for i, x := range tile {
					exps[i] = VecExpf(x - maxScore)
				}
				var tileSum float64
				for g := 0; g < flashTile; g += 16 {
					tileSum += float64(pairwiseSum(append([]float32(nil), exps[g:g+16]...)))
				}
				sum = float32(float64(sum) + tileSum)
				for d := range acc {
					v := c.v[0][t0*c.vRow+off+d*elem:]
					y := acc[d]
					for i := range tile {
						y = fma32(exps[i], load(v[i*c.vRow:]), y)
					}
					acc[d] = y
				}
			}
			inv := float32(0)
			if sum != 0 {
				inv = 1 / sum
			}
			for d, y := range acc {
				row(dst, r)[h*hd+d] = y * inv
			}
		}
	}
}

// TestAttendFlash: flash attention's kernels give the position-by-position
// formulas' outputs (the tiled path's for F16 and F32 batches of flashTile
// rows) bit for bit, for every cache type pair, head sizes that
// are and are not multiples of the kernels' strips, grouped heads, one and
// several query rows, and positions past the tiles and blocks.
func TestAttendFlash(t *testing.T) {
	b := New(2)
	defer b.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kv := range flashCases {
		for _, hd := range []int{64, 128, 96} {
			a := &engine.Attention{Heads: 4, KVHeads: 2, HeadDim: hd, Scale: float32(1 / math.Sqrt(float64(hd))), Flash: true}
			for _, shape := range []struct{ pos, rows int }{{0, 1}, {69, 1}, {300, 1}, {5, 3}, {40, 70}, {0, 64}, {100, 130}} {
				c := filledCache(t, b, a, kv[0], kv[1], shape.pos+shape.rows, rng)
				q, _ := b.NewTensor(shape.rows, a.Heads*hd)
				copy(data(q), randVec(rng, shape.rows*a.Heads*hd, 1))
				got, _ := b.NewTensor(shape.rows, a.Heads*hd)
				want, _ := b.NewTensor(shape.rows, a.Heads*hd)
				b.Attend(got, q, c, 0, shape.pos, a)
				if shape.rows >= flashTile && kv[0] == kv[1] && (kv[0] == gguf.TypeF16 || kv[0] == gguf.TypeF32) {
					attendFlashTiledReference(want, q, c, shape.pos, a)
				} else {
					attendFlashReference(want, q, c, shape.pos, a)
				}
				for i, w := range data(want) {
					if g := data(got)[i]; math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("k %s, v %s, head %d, pos %d, rows %d: value %d is %g, want %g", kv[0], kv[1], hd, shape.pos, shape.rows, i, g, w)
					}
				}
			}
		}
	}
}

// BenchmarkAttendDecode measures one decoded token's attention in one
// layer of SmolLM2-1.7B's shape (32 heads of 64) at depth 1024 and 4096,
// with two threads, for each cache type.
func BenchmarkAttendDecode(b *testing.B) {
	be := New(2)
	defer be.Close()
	a := &engine.Attention{Heads: 32, KVHeads: 32, HeadDim: 64, Scale: 0.125, Flash: true}
	for _, kv := range flashCases[:len(CacheTypes)] {
		for _, depth := range []int{1024, 4096} {
			b.Run(fmt.Sprintf("%s/d=%d", kv[0], depth), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(7, 8))
				c := filledCache(b, be, a, kv[0], kv[1], depth+1, rng)
				q, _ := be.NewTensor(1, a.Heads*a.HeadDim)
				copy(data(q), randVec(rng, a.Heads*a.HeadDim, 1))
				dst, _ := be.NewTensor(1, a.Heads*a.HeadDim)
				for b.Loop() {
					be.Attend(dst, q, c, 0, depth, a)
				}
			})
		}
	}
}

// TestExpfRow: the vector expf gives Expf's bits, around Expf's special
// cases too (which go through Expf itself).
func TestExpfRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	specials := []float32{float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN()), -88, 88, -87.9, -104, 0, -0x1p-30}
	for _, n := range []int{1, 3, 4, 7, 64, 1001} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(-rng.Float64() * 90)
			if rng.IntN(50) == 0 {
				src[i] = specials[rng.IntN(len(specials))]
			}
		}
		got := make([]float32, n)
		expfRow(got, src)
		for i, x := range src {
			if want := Expf(x); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: Expf(%g) gave %g, want %g", n, x, got[i], want)
			}
		}
	}
	// Every float32 in [-88, 0) with its low 12 bits zero.
	var src []float32
	for b := math.Float32bits(-88); b >= math.Float32bits(-0x1p-40); b -= 1 << 12 {
		src = append(src, math.Float32frombits(b))
	}
	got := make([]float32, len(src))
	expfRow(got, src)
	for i, x := range src {
		if want := Expf(x); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("Expf(%g) gave %g, want %g", x, got[i], want)
		}
	}
}
