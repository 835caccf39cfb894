//go:build mslemu

package emu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
)

// Emulated tests of attention.metal: attention over every pair of key and
// value types (the cache writes are kernel_rope_store's, in ops_test.go).
//
//   - kernel_attn_<k>_<v> and kernel_attn_split_<k>_<v>: a float64
//     reference over the cache as gguf.Dequantize reads it, within 1e-5 of
//     max |v| absolute (outputs are averages of v): the kernel reads the
//     same values and computes in float.

func attentionKernelTests() []kernelTest {
	tests := []kernelTest{{"kernel_attn_reduce", testAttnReduce}}
	for _, kt := range cpu.CacheTypes {
		for _, vt := range cpu.CacheTypes {
			names := cacheKernels(kt, vt)
			tests = append(tests,
				kernelTest{names.Attend, func(t *testing.T, s Schedule, rng *rand.Rand) { testAttn(t, kt, vt, s, rng) }},
				kernelTest{names.AttendSplit, func(t *testing.T, s Schedule, rng *rand.Rand) { testAttnSplit(t, kt, vt, s, rng) }})
		}
	}
	return tests
}

// cacheKernels returns the kernels of a k/v cache; every pair of the cache
// types has them.
func cacheKernels(k, v gguf.GGMLType) kernels.CacheKernels {
	names, ok := kernels.ForCache(k, v)
	if !ok {
		panic(fmt.Sprintf("no kernels for a %s/%s cache", k, v))
	}
	return names
}

// storeValues returns n values (whole blocks of 32) that reach the corners
// of the quantizers: blocks of different magnitudes, an all-zero block, a
// largest magnitude taken twice with opposite signs (the first one sets the
// scale), values on the rounding boundaries of each 32-value type (blocks
// whose extremes make its d exactly 1, the other values halfway between
// two integers), F16 overflow and subnormals, and exact ties of the
// F16/BF16 rounding. kernel_rope_store's tests store them as values, byte
// for byte as gguf.Quantize (ggml's quantize_row_<t>_ref).
func storeValues(rng *rand.Rand, n int) []float32 {
	// Q8_0, Q4_0, Q5_0, Q4_1, Q5_1: the extremes that make d = 1, then
	// i%mod + off + 1/2 for the other values i.
	ties := []struct {
		ext      []float32
		mod, off int
	}{{[]float32{127}, 32, -16}, {[]float32{-8}, 16, -8}, {[]float32{-16}, 32, -16}, {[]float32{0, 15}, 15, 0}, {[]float32{0, 31}, 31, 0}}
	x := randF32(rng, n)
	for b := 0; b < n/32; b++ {
		blk := x[32*b : 32*(b+1)]
		switch k := b % 10; {
		case k == 1:
			for i := range blk {
				blk[i] *= float32(math.Pow(8, float64(b%5-2)))
			}
		case k == 2:
			clear(blk)
		case k == 3:
			blk[5], blk[20] = -1.5, 1.5
		case k >= 4 && k <= 8:
			tie := ties[k-4]
			for i := range blk {
				blk[i] = float32(i%tie.mod+tie.off) + 0.5
			}
			copy(blk, tie.ext)
		case k == 9:
			for i := range blk {
				switch i % 4 {
				case 0:
					blk[i] *= 1e5 // beyond the half range: infinity
				case 1:
					blk[i] *= 1e-6 // half subnormals
				case 2:
					blk[i] = 1 + float32(2*(i/4)+1)/2048 // halfway between two halves
				case 3:
					blk[i] = math.Float32frombits(0x3f808000 + uint32(i)<<16) // halfway between two bf16s
				}
			}
		}
	}
	return x
}

// ---- attention

type attnCase struct {
	headDim, heads, kvHeads, pos0, rows int
	grow                                bool // keys grow with the position: the running max keeps rising
}

// attnData is one attention problem: queries, a KV cache whose rows past
// the last visible position are NaN, and the float64 reference output.
type attnData struct {
	args      kernels.AttnArgs
	q         []float32
	k, v      []byte // cache rows in the key and the value type
	want      []float32
	tolerance float64
}

func newAttn(c attnCase, kType, vType gguf.GGMLType, chunk int, rng *rand.Rand) attnData {
	kvDim := c.kvHeads * c.headDim
	ctx := c.pos0 + c.rows + 1 // one more row than visible: NaN
	scale := float32(2 / math.Sqrt(float64(c.headDim)))
	d := attnData{args: kernels.AttnArgs{NHeads: int32(c.heads), NKVHeads: int32(c.kvHeads), HeadDim: int32(c.headDim),
		KVDim: int32(kvDim), Pos0: int32(c.pos0), NRows: int32(c.rows), Scale: scale, Chunk: int32(chunk)}}
	d.q = randF32(rng, c.rows*c.heads*c.headDim)
	var kv [2][]float64 // the cache as the kernel reads it
	for m, typ := range []gguf.GGMLType{kType, vType} {
		raw := randF32(rng, ctx*kvDim)
		if m == 0 && c.grow {
			for i := range raw {
				raw[i] *= 1 + float32(i/kvDim)/8
			}
		}
		buf, err := gguf.Quantize(typ, raw, nil)
		if err != nil {
			panic(err)
		}
		row := len(buf) / ctx
		for i := (c.pos0 + c.rows) * row; i < len(buf); i++ {
			buf[i] = 0xFF // NaN values, or NaN scales
		}
		vals := make([]float32, len(raw))
		if err := gguf.Dequantize(typ, buf, vals); err != nil {
			panic(err)
		}
		kv[m] = make([]float64, len(vals))
		for i, x := range vals {
			kv[m][i] = float64(x)
		}
		if m == 0 {
			d.k = buf
		} else {
			d.v = buf
		}
	}
	group := c.heads / c.kvHeads
	keyQ := keyQueries(d.q, c.headDim, kType)
	d.want = make([]float32, c.rows*c.heads*c.headDim)
	for r := 0; r < c.rows; r++ {
		n := c.pos0 + r + 1
		for h := 0; h < c.heads; h++ {
			q := keyQ[(r*c.heads+h)*c.headDim:][:c.headDim]
			off := h / group * c.headDim
			scores := make([]float64, n)
			best := math.Inf(-1)
			for t := range scores {
				var sum float64
				for i, qv := range q {
					sum += float64(qv) * kv[0][t*kvDim+off+i]
				}
				scores[t] = float64(scale) * sum
				best = max(best, scores[t])
			}
			var total float64
			for t := range scores {
				scores[t] = math.Exp(scores[t] - best)
				total += scores[t]
			}
			out := d.want[(r*c.heads+h)*c.headDim:][:c.headDim]
			for i := range out {
				var sum float64
				for t, p := range scores {
					sum += p * kv[1][t*kvDim+off+i]
				}
				out[i] = float32(sum / total)
			}
		}
	}
	d.tolerance = 1e-5 // max |v| is about 1
	return d
}

// keyQueries returns q (heads of headDim values) as the kernels multiply
// it with keys of type kType: each head converted to the key type's
// vec_dot type as llama.cpp's CPU backend converts it (cpu.QuantizeRow),
// and back to float.
func keyQueries(q []float32, headDim int, kType gguf.GGMLType) []float32 {
	vt := cpu.VecDotType(kType)
	out := make([]float32, len(q))
	for i := 0; i < len(q); i += headDim {
		if err := gguf.Dequantize(vt, cpu.QuantizeRow(vt, q[i:i+headDim], nil), out[i:i+headDim]); err != nil {
			panic(err)
		}
	}
	return out
}

// runAttn runs kernel (kernel_attn_* shaped) on d.
func runAttn(kernel string, d attnData, s Schedule) ([]float32, error) {
	dst := nanBuffer(len(d.want))
	err := Run(Dispatch{
		Kernel:      kernel,
		Bytes:       map[int][]byte{0: kernels.Bytes(&d.args)},
		Buffers:     map[int]Binding{1: {Data: f32Bytes(d.q)}, 2: {Data: d.k}, 3: {Data: d.v}, 4: {Data: dst}},
		Threadgroup: threadgroupMap(kernels.AttnMemory(int(d.args.HeadDim))),
		Grid:        [3]int{ceilDiv(int(d.args.NRows), kernels.AttnRows), int(d.args.NHeads), 1},
		Group:       [3]int{32 * kernels.AttnSG, 1, 1},
	}, s)
	return f32s(dst), err
}

// threadgroupMap is threadgroup memory sizes in binding order as a
// Dispatch takes them.
func threadgroupMap(sizes []int) map[int]int {
	m := make(map[int]int, len(sizes))
	for i, n := range sizes {
		m[i] = n
	}
	return m
}

// splitDispatch is split (kernel_attn_split_* shaped) on d, a single
// decode row, writing out: the output with one chunk, the partials with
// several.
func splitDispatch(split string, d attnData, out []byte) Dispatch {
	return Dispatch{
		Kernel:      split,
		Bytes:       map[int][]byte{0: kernels.Bytes(&d.args)},
		Buffers:     map[int]Binding{1: {Data: f32Bytes(d.q)}, 2: {Data: d.k}, 3: {Data: d.v}, 4: {Data: out}},
		Threadgroup: threadgroupMap(kernels.AttnSplitMemory(int(d.args.HeadDim))),
		Grid:        [3]int{ceilDiv(int(d.args.Pos0)+1, int(d.args.Chunk)), int(d.args.NHeads), 1},
		Group:       [3]int{32 * kernels.AttnSG, 1, 1},
	}
}

// runAttnSplit runs split and, beyond one chunk, reduce on d, a single
// decode row.
func runAttnSplit(split, reduce string, d attnData, s Schedule) ([]float32, error) {
	chunk, heads := int(d.args.Chunk), int(d.args.NHeads)
	chunks := ceilDiv(int(d.args.Pos0)+1, chunk)
	dst := nanBuffer(len(d.want))
	if chunks == 1 {
		err := Run(splitDispatch(split, d, dst), s)
		return f32s(dst), err
	}
	partials := nanBuffer(heads * chunks * (int(d.args.HeadDim) + 2))
	if err := Run(splitDispatch(split, d, partials), s); err != nil {
		return nil, err
	}
	err := Run(Dispatch{
		Kernel:  reduce,
		Bytes:   map[int][]byte{0: kernels.Bytes(&d.args)},
		Buffers: map[int]Binding{1: {Data: partials}, 2: {Data: dst}},
		Grid:    [3]int{heads, 1, 1},
		Group:   [3]int{32, 1, 1},
	}, s)
	return f32s(dst), err
}

// attnCases: head dims 32, 64, 80, 128, 256; GQA ratios 1, 2 and 4 (with
// several KV heads, so that a wrong head mapping shows); 1 to 33 rows
// (threadgroups of kernels.AttnRows: 1, 2, 3, 5, 7, 8, 9, 17, 33); the
// last row's keys ending before, on and after the edges of the key tiles
// (kernels.AttnTileKeys: 32, or 16 for heads of 256 values) and after the
// split threshold (AttnChunk).
var attnCases = []attnCase{
	{headDim: 32, heads: 2, kvHeads: 2, pos0: 0, rows: 1},
	{headDim: 64, heads: 8, kvHeads: 2, pos0: 5, rows: 3},
	{headDim: 128, heads: 2, kvHeads: 2, pos0: 20, rows: 17},
	{headDim: 256, heads: 4, kvHeads: 1, pos0: 9, rows: 3},
	{headDim: 256, heads: 2, kvHeads: 1, pos0: 13, rows: 8, grow: true},
	{headDim: 80, heads: 6, kvHeads: 3, pos0: 13, rows: 1, grow: true},
	{headDim: 64, heads: 2, kvHeads: 2, pos0: 30, rows: 3, grow: true},
	{headDim: 64, heads: 4, kvHeads: 2, pos0: 0, rows: 33},
	{headDim: 128, heads: 4, kvHeads: 1, pos0: 24, rows: 9, grow: true},
	{headDim: 64, heads: 2, kvHeads: 1, pos0: 31, rows: 2},
	{headDim: 128, heads: 4, kvHeads: 1, pos0: 250, rows: 2},
	{headDim: 64, heads: 4, kvHeads: 2, pos0: kernels.AttnChunk + 3, rows: 5},
	{headDim: 128, heads: 2, kvHeads: 1, pos0: 100, rows: 7},
}

// fits reports whether c's heads are whole blocks of both types.
func (c attnCase) fits(types ...gguf.GGMLType) bool {
	for _, t := range types {
		if c.headDim%t.BlockElems() != 0 {
			return false
		}
	}
	return true
}

func testAttn(t *testing.T, kType, vType gguf.GGMLType, s Schedule, rng *rand.Rand) {
	for _, c := range attnCases {
		if !c.fits(kType, vType) {
			continue
		}
		d := newAttn(c, kType, vType, kernels.AttnChunk, rng)
		got, err := runAttn(cacheKernels(kType, vType).Attend, d, s)
		name := fmt.Sprintf("%+v", c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m := mismatch(got, d.want, func(int) float64 { return d.tolerance }); m != "" {
			t.Errorf("%s: %s", name, m)
		}
		t.Logf("%s: max error %.3g", name, maxErr(got, d.want))
	}
}

// attnSplitCases: one decode row, chunks of attnTestChunk positions: one
// chunk, exactly one full chunk, a last chunk of one position, of two, of
// four, of 13; and the backend's chunk (AttnChunk) with 1, 31, 33, 255, 256
// and 257 positions (a step of the threadgroup takes 16 keys at head dim 64,
// 8 at 128: these end inside and on such steps, and on both sides of the
// split) and 1031 (five chunks).
var attnSplitCases = []struct {
	attnCase
	chunk int
}{
	{attnCase{headDim: 64, heads: 4, kvHeads: 1, pos0: 0, rows: 1}, attnTestChunk},
	{attnCase{headDim: 128, heads: 2, kvHeads: 2, pos0: 15, rows: 1}, attnTestChunk},
	{attnCase{headDim: 32, heads: 2, kvHeads: 2, pos0: 16, rows: 1}, attnTestChunk},
	{attnCase{headDim: 256, heads: 8, kvHeads: 2, pos0: 49, rows: 1}, attnTestChunk},
	{attnCase{headDim: 128, heads: 8, kvHeads: 2, pos0: 99, rows: 1, grow: true}, attnTestChunk},
	{attnCase{headDim: 80, heads: 2, kvHeads: 1, pos0: 40, rows: 1}, attnTestChunk},
	{attnCase{headDim: 64, heads: 2, kvHeads: 1, pos0: 300, rows: 1, grow: true}, attnTestChunk},
	{attnCase{headDim: 64, heads: 8, kvHeads: 2, pos0: 0, rows: 1}, kernels.AttnChunk},
	{attnCase{headDim: 128, heads: 4, kvHeads: 1, pos0: 30, rows: 1}, kernels.AttnChunk},
	{attnCase{headDim: 64, heads: 4, kvHeads: 2, pos0: 32, rows: 1, grow: true}, kernels.AttnChunk},
	{attnCase{headDim: 128, heads: 8, kvHeads: 2, pos0: 254, rows: 1}, kernels.AttnChunk},
	{attnCase{headDim: 64, heads: 4, kvHeads: 1, pos0: kernels.AttnChunk - 1, rows: 1}, kernels.AttnChunk},
	{attnCase{headDim: 128, heads: 4, kvHeads: 2, pos0: kernels.AttnChunk, rows: 1, grow: true}, kernels.AttnChunk},
	{attnCase{headDim: 128, heads: 4, kvHeads: 2, pos0: 2*kernels.AttnChunk + 40, rows: 1}, kernels.AttnChunk},
	{attnCase{headDim: 64, heads: 2, kvHeads: 1, pos0: 4*kernels.AttnChunk + 6, rows: 1}, kernels.AttnChunk},
}

const attnTestChunk = 16

func testAttnSplit(t *testing.T, kType, vType gguf.GGMLType, s Schedule, rng *rand.Rand) {
	for _, c := range attnSplitCases {
		if !c.fits(kType, vType) {
			continue
		}
		d := newAttn(c.attnCase, kType, vType, c.chunk, rng)
		got, err := runAttnSplit(cacheKernels(kType, vType).AttendSplit, "kernel_attn_reduce", d, s)
		name := fmt.Sprintf("%+v", c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m := mismatch(got, d.want, func(int) float64 { return d.tolerance }); m != "" {
			t.Errorf("%s: %s", name, m)
		}
		t.Logf("%s: %d chunks, max error %.3g", name, ceilDiv(c.pos0+1, c.chunk), maxErr(got, d.want))
	}
}

// testAttnReduce feeds kernel_attn_reduce random partial results.
func testAttnReduce(t *testing.T, s Schedule, rng *rand.Rand) {
	for _, tc := range []struct{ heads, headDim, pos0, chunk int }{
		{1, 32, 0, 16}, {3, 64, 40, 16}, {2, 80, 300, 256}, {4, 256, 1000, 128}, {2, 128, 47, 16},
	} {
		chunks := ceilDiv(tc.pos0+1, tc.chunk)
		stride := tc.headDim + 2
		p := randF32(rng, tc.heads*chunks*stride)
		want := make([]float32, tc.heads*tc.headDim)
		for h := 0; h < tc.heads; h++ {
			part := p[h*chunks*stride:][:chunks*stride]
			best := math.Inf(-1)
			for c := 0; c < chunks; c++ {
				part[c*stride] *= 30                     // max score
				part[c*stride+1] = 1 + 100*rng.Float32() // sum of exp (>= 1: includes the max)
				best = max(best, float64(part[c*stride]))
			}
			for i := 0; i < tc.headDim; i++ {
				var num, den float64
				for c := 0; c < chunks; c++ {
					w := math.Exp(float64(part[c*stride]) - best)
					num += w * float64(part[c*stride+2+i])
					den += w * float64(part[c*stride+1])
				}
				want[h*tc.headDim+i] = float32(num / den)
			}
		}
		args := kernels.AttnArgs{NHeads: int32(tc.heads), NKVHeads: 1, HeadDim: int32(tc.headDim), KVDim: int32(tc.headDim),
			Pos0: int32(tc.pos0), NRows: 1, Scale: 1, Chunk: int32(tc.chunk)}
		dst := nanBuffer(len(want))
		err := Run(Dispatch{
			Kernel:  "kernel_attn_reduce",
			Bytes:   map[int][]byte{0: kernels.Bytes(&args)},
			Buffers: map[int]Binding{1: {Data: f32Bytes(p)}, 2: {Data: dst}},
			Grid:    [3]int{tc.heads, 1, 1},
			Group:   [3]int{32, 1, 1},
		}, s)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if m := mismatch(f32s(dst), want, relTol(want, 1e-5)); m != "" {
			t.Errorf("%+v: %s", tc, m)
		}
	}
}

// ---- broken attention kernels (testdata/broken.metal)

// TestBrokenAttnCausalOffByOne: a causal mask one position too long shows
// as a mismatch (the next row's key) or NaN (the unwritten row past the
// last), under every schedule.
func TestBrokenAttnCausalOffByOne(t *testing.T) {
	c := attnCase{headDim: 64, heads: 4, kvHeads: 1, pos0: 6, rows: 3}
	for _, s := range Schedules(seedFor(t)) {
		d := newAttn(c, gguf.TypeF32, gguf.TypeF32, kernels.AttnChunk, newRand(t))
		got, err := runAttn("broken_attn_f32_causal_off_by_one", d, s)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		rowLen := c.heads * c.headDim
		if mismatch(got[:rowLen], d.want[:rowLen], func(int) float64 { return d.tolerance }) == "" {
			t.Errorf("%v: row 0 attending to position pos0+1 not caught", s)
		}
		if last := got[len(got)-1]; !math.IsNaN(float64(last)) {
			t.Errorf("%v: the last row should read the NaN row past the cache, got %g", s, last)
		}
		if got, err := runAttn("kernel_attn_f32_f32", d, s); err != nil || mismatch(got, d.want, func(int) float64 { return d.tolerance }) != "" {
			t.Errorf("%v: the correct kernel fails on the same data (%v)", s, err)
		}
	}
}

// TestBrokenAttnReduceNoRescale: combining chunks without exp(m_c - M)
// shows as a mismatch as soon as the chunks' maxima differ.
func TestBrokenAttnReduceNoRescale(t *testing.T) {
	c := attnCase{headDim: 64, heads: 2, kvHeads: 1, pos0: 40, rows: 1, grow: true}
	for _, s := range Schedules(seedFor(t)) {
		d := newAttn(c, gguf.TypeF16, gguf.TypeF16, attnTestChunk, newRand(t))
		got, err := runAttnSplit("kernel_attn_split_f16_f16", "broken_attn_reduce_no_rescale", d, s)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if mismatch(got, d.want, func(int) float64 { return d.tolerance }) == "" {
			t.Errorf("%v: missing rescaling not caught", s)
		}
	}
}

// TestAttnLoads logs the decode attention's loads from the keys and the
// values per cache position at position 1000 (four chunks), head dims 64
// and 128, two query heads per KV head, and fails if a key or value byte is
// fetched more than once per query head.
func TestAttnLoads(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	t.Logf("%-5s %4s %11s %10s %12s %9s", "type", "dim", "loads/pos", "simd/pos", "fetched/uniq", "max reads")
	for _, typ := range cpu.CacheTypes {
		for _, dim := range []int{64, 128} {
			c := attnCase{headDim: dim, heads: 4, kvHeads: 2, pos0: 1000, rows: 1}
			d := newAttn(c, typ, typ, kernels.AttnChunk, newRand(t))
			chunks := ceilDiv(int(d.args.Pos0)+1, kernels.AttnChunk)
			partials := nanBuffer(c.heads * chunks * (c.headDim + 2))
			loads, err := CountLoads(splitDispatch(cacheKernels(typ, typ).AttendSplit, d, partials))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []int{2, 3} {
				l, n := loads[b], float64(c.pos0+1)
				t.Logf("%-5s %4d %11.1f %10.2f %12.3f %9d", typ, dim, float64(l.Loads)/n, float64(l.SIMDLoads)/n,
					float64(l.SIMDBytes)/float64(l.Unique), l.MaxReads)
				if group := c.heads / c.kvHeads; l.MaxReads > group {
					t.Errorf("%s head dim %d: a byte of buffer %d fetched %d times, more than once per query head (%d)", typ, dim, b, l.MaxReads, group)
				}
			}
		}
	}
}

// TestAttnPrefillLoads logs how often the prefill attention fetches each
// key and value byte for a prompt of 64 rows from position 0 (two query
// heads per KV head): a key is read once per threadgroup of
// kernels.AttnRows rows that sees it, so at most 64/AttnRows times per
// query head (once per row and query head when each row walks the keys
// alone), and fails beyond that.
func TestAttnPrefillLoads(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	const rows = 64
	for _, typ := range []gguf.GGMLType{gguf.TypeF16, gguf.TypeQ8_0} {
		c := attnCase{headDim: 64, heads: 4, kvHeads: 2, pos0: 0, rows: rows}
		d := newAttn(c, typ, typ, kernels.AttnChunk, newRand(t))
		dst := nanBuffer(len(d.want))
		loads, err := CountLoads(Dispatch{
			Kernel:      cacheKernels(typ, typ).Attend,
			Bytes:       map[int][]byte{0: kernels.Bytes(&d.args)},
			Buffers:     map[int]Binding{1: {Data: f32Bytes(d.q)}, 2: {Data: d.k}, 3: {Data: d.v}, 4: {Data: dst}},
			Threadgroup: threadgroupMap(kernels.AttnMemory(c.headDim)),
			Grid:        [3]int{ceilDiv(rows, kernels.AttnRows), c.heads, 1},
			Group:       [3]int{32 * kernels.AttnSG, 1, 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []int{2, 3} {
			l := loads[b]
			t.Logf("%s buffer %d: fetched/unique %.3f, max reads %d", typ, b, float64(l.SIMDBytes)/float64(l.Unique), l.MaxReads)
			if limit := c.heads / c.kvHeads * rows / kernels.AttnRows; l.MaxReads > limit {
				t.Errorf("%s: a byte of buffer %d fetched %d times (limit %d)", typ, b, l.MaxReads, limit)
			}
		}
	}
}
