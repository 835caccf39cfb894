package metal

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
)

// The backend's own launch choices; the shapes the kernels require come
// from package kernels.
const (
	simdWidth = kernels.SIMDWidth
	// mulMMMinRows is the batch from which matrix-matrix beats matrix-vector.
	mulMMMinRows = 8
	normThreads  = 256
	eltThreads   = 256
)

// Backend records each operation as dispatches and runs a whole forward
// pass as one command buffer at Sync.
type Backend struct {
	dev   Device
	views []fileView

	// ids holds the token ids Embed reads, one per row of its destination.
	// Sized for the tallest tensor made so far, it serves every runner.
	ids Buffer

	pending []Dispatch
	// written and read since the last barrier, for hazard tracking.
	written, read map[Buffer]bool

	gpuTime    time.Duration
	commits    int
	dispatches int // in all command buffers so far
}

// fileView is a no-copy buffer over [start, start+len(buffer)) of the file.
type fileView struct {
	start, end int
	buf        Buffer
}

// tensorBuf is the Metal engine.Buffer: one GPU buffer per activation.
type tensorBuf struct{ buf Buffer }

// kvCache holds every layer's keys and values, layer after layer, each in
// its type's block layout, and the scratch of attention over them.
type kvCache struct {
	k, v  cacheBuf
	names kernels.CacheKernels
	// partials holds a split-attention decode step's results per head and
	// chunk (max, sum and output), for the longest context; the layers take
	// turns with it.
	partials Buffer
}

// cacheBuf is the keys or the values of every layer.
type cacheBuf struct {
	buf        Buffer
	typ        gguf.GGMLType
	store      string // the kernel writing F32 rows into it
	layerBytes int
}

// New wraps the mapped model file without copying it. A file larger than
// the device's largest buffer is covered by overlapping views, each
// overlapping the next by the largest tensor's size so every tensor lies
// whole in one.
func New(dev Device, f *gguf.File) (*Backend, error) {
	b := &Backend{dev: dev, written: map[Buffer]bool{}, read: map[Buffer]bool{}}
	file := f.Bytes()
	maxTensor := 0
	for i := range f.Tensors {
		maxTensor = max(maxTensor, int(f.Tensors[i].Size))
	}
	const page = 16384 // Apple Silicon page size; also a multiple of 4 KiB
	maxLen := dev.MaxBufferLength() / page * page
	step := (maxLen - maxTensor) / page * page
	if step <= 0 {
		return nil, fmt.Errorf("metal: a %d-byte tensor does not fit the device's %d-byte buffers", maxTensor, maxLen)
	}
	for start := 0; start < len(file); start += step {
		end := min(start+maxLen, len(file))
		buf, err := dev.WrapNoCopy(file[start:end])
		if err != nil {
			return nil, fmt.Errorf("metal: wrap model file [%d, %d): %w", start, end, err)
		}
		b.views = append(b.views, fileView{start, end, buf})
		if end == len(file) {
			break
		}
	}
	return b, nil
}

func (b *Backend) Name() string { return "metal" }

// GPUTime is the GPU time of every command buffer so far, and how many.
func (b *Backend) GPUTime() (time.Duration, int) { return b.gpuTime, b.commits }

func (b *Backend) Close() error { return b.dev.Close() }

func (b *Backend) PrepareWeight(w *engine.Weight, role engine.Role) error {
	switch role {
	case engine.RoleMatMul, engine.RoleEmbed:
		if _, ok := kernels.ForWeight(w.Type); !ok {
			return fmt.Errorf("no Metal kernel for type %s", w.Type)
		}
	case engine.RoleVector:
		if w.Type != gguf.TypeF32 {
			return fmt.Errorf("Metal reads vectors as F32, not %s", w.Type)
		}
	}
	if _, err := b.weight(w); err != nil {
		return err
	}
	return nil
}

// weight finds the file view holding w.
func (b *Backend) weight(w *engine.Weight) (Binding, error) {
	start, end := int(w.FileOffset), int(w.FileOffset)+len(w.Data)
	for _, v := range b.views {
		if v.start <= start && end <= v.end {
			return Binding{v.buf, start - v.start}, nil
		}
	}
	return Binding{}, fmt.Errorf("tensor %s [%d, %d) lies in no view of the model file", w.Name, start, end)
}

func (b *Backend) mustWeight(w *engine.Weight) Binding {
	bind, err := b.weight(w)
	if err != nil {
		panic(err) // PrepareWeight accepted every weight at load
	}
	return bind
}

func (b *Backend) NewTensor(rows, cols int) (engine.Tensor, error) {
	buf, err := b.dev.NewBuffer(4 * rows * cols)
	if err != nil {
		return engine.Tensor{}, fmt.Errorf("metal: activation buffer of %d x %d: %w", rows, cols, err)
	}
	if b.ids == nil || len(b.ids.Contents()) < 4*rows {
		ids, err := b.dev.NewBuffer(4 * rows)
		if err != nil {
			return engine.Tensor{}, fmt.Errorf("metal: token ids of %d rows: %w", rows, err)
		}
		b.ids = ids
	}
	return engine.Tensor{Buf: &tensorBuf{buf}, Rows: rows, Cols: cols}, nil
}

// maxHeadDim is the largest head the attention kernels handle (8 values per lane).
const maxHeadDim = 256

func (b *Backend) NewKVCache(layers, ctx int, a *engine.Attention, kType, vType gguf.GGMLType) (engine.KVCache, error) {
	names, ok := kernels.ForCache(kType, vType)
	if !ok {
		return nil, fmt.Errorf("metal: no KV cache of types %s/%s (have f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1)", kType, vType)
	}
	for _, t := range []gguf.GGMLType{kType, vType} {
		if err := a.CheckCacheType(t); err != nil {
			return nil, err
		}
	}
	if a.HeadDim > maxHeadDim {
		return nil, fmt.Errorf("metal: attention heads of %d values (the kernels handle up to %d)", a.HeadDim, maxHeadDim)
	}
	c := &kvCache{names: names}
	var err error
	alloc := func(size int) Buffer {
		if err != nil {
			return nil
		}
		var buf Buffer
		buf, err = b.dev.NewBuffer(size)
		return buf
	}
	part := func(t gguf.GGMLType, store string) cacheBuf {
		row, _ := t.RowBytes(a.KVHeads * a.HeadDim) // whole blocks: checked above
		// Layers start at multiples of 16 bytes, as binding offsets must
		// (rows of an odd number of blocks are 2-byte multiples only).
		p := cacheBuf{typ: t, store: store, layerBytes: ceilDiv(ctx*row, 16) * 16}
		p.buf = alloc(layers * p.layerBytes)
		return p
	}
	c.k, c.v = part(kType, names.StoreK), part(vType, names.StoreV)
	c.partials = alloc(4 * a.Heads * ceilDiv(ctx, kernels.AttnChunk) * (a.HeadDim + 2))
	if err != nil {
		return nil, fmt.Errorf("metal: KV cache for %d positions: %w", ctx, err)
	}
	return c, nil
}

func bind(t engine.Tensor) Binding {
	return Binding{t.Buf.(*tensorBuf).buf, 4 * t.Off}
}

// record appends a dispatch, with a barrier when it touches a buffer that
// an earlier dispatch since the last barrier wrote (read after write, write
// after write) or read (write after read).
func (b *Backend) record(d Dispatch, reads, writes []Buffer) {
	hazard := false
	for _, r := range reads {
		hazard = hazard || b.written[r]
	}
	for _, w := range writes {
		hazard = hazard || b.written[w] || b.read[w]
	}
	if hazard {
		d.Barrier = true
		clear(b.written)
		clear(b.read)
	}
	for _, r := range reads {
		b.read[r] = true
	}
	for _, w := range writes {
		b.written[w] = true
	}
	b.pending = append(b.pending, d)
}

func grid(x, y, z int) [3]int { return [3]int{x, y, z} }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (b *Backend) Embed(dst engine.Tensor, table *engine.Weight, ids []int32) {
	idBytes := b.ids.Contents()
	for i, id := range ids {
		binary.LittleEndian.PutUint32(idBytes[4*i:], uint32(id))
	}
	w := b.mustWeight(table)
	args := kernels.GetRowsArgs{Ne0: int32(table.Cols), Nb1: uint32(len(table.Data) / table.Rows)}
	names, _ := kernels.ForWeight(table.Type) // PrepareWeight checked it
	b.record(Dispatch{
		Kernel:  names.GetRows,
		Args:    kernels.Bytes(&args),
		Buffers: []Binding{w, {b.ids, 0}, bind(dst)},
		Grid:    grid(len(ids), 1, 1), Group: grid(64, 1, 1),
	}, []Buffer{w.Buf, b.ids}, []Buffer{bind(dst).Buf})
}

func (b *Backend) RMSNorm(dst, x engine.Tensor, w *engine.Weight, eps float32) {
	args := kernels.RMSNormArgs{Ne0: int32(w.Cols), Eps: eps}
	wb := b.mustWeight(w)
	groups := x.Rows * x.Cols / w.Cols
	b.record(Dispatch{
		Kernel:      "kernel_rms_norm",
		Args:        kernels.Bytes(&args),
		Buffers:     []Binding{bind(x), wb, bind(dst)},
		Threadgroup: []int{4 * simdWidth},
		Grid:        grid(groups, 1, 1), Group: grid(normGroup(w.Cols), 1, 1),
	}, []Buffer{bind(x).Buf, wb.Buf}, []Buffer{bind(dst).Buf})
}

// normGroup is the threadgroup size of the norms over groups of cols
// values: whole simdgroups, up to normThreads.
func normGroup(cols int) int { return min(normThreads, ceilDiv(cols, simdWidth)*simdWidth) }

func (b *Backend) MatMul(dst engine.Tensor, w *engine.Weight, x engine.Tensor) {
	args := kernels.MatMulArgs{Ne00: int32(w.Cols), Ne01: int32(w.Rows), Nb01: uint32(len(w.Data) / w.Rows), Ne11: int32(x.Rows)}
	wb := b.mustWeight(w)
	names, _ := kernels.ForWeight(w.Type) // PrepareWeight checked it
	d := Dispatch{Args: kernels.Bytes(&args), Buffers: []Binding{wb, bind(x), bind(dst)}}
	switch {
	case x.Rows == 1:
		d.Kernel = names.MulMV
		d.Grid, d.Group = grid(ceilDiv(w.Rows, names.MulMVRows*kernels.MVSG), 1, 1), grid(kernels.MVThreads, 1, 1)
	case x.Rows < mulMMMinRows:
		// Each weight read serves every activation row.
		d.Kernel = names.MulMVBatch
		d.Grid, d.Group = grid(ceilDiv(w.Rows, kernels.MVSG), ceilDiv(x.Rows, kernels.MVBatch), 1), grid(kernels.MVThreads, 1, 1)
	default:
		const tile = kernels.MMTile
		d.Kernel = names.MulMM
		// Tiles of weights (dequantized to float) and of activations.
		d.Threadgroup = []int{4 * tile * tile, 4 * tile * tile}
		d.Grid, d.Group = grid(ceilDiv(w.Rows, tile), ceilDiv(x.Rows, tile), 1), grid(kernels.MMThreads, 1, 1)
	}
	b.record(d, []Buffer{wb.Buf, bind(x).Buf}, []Buffer{bind(dst).Buf})
}

func (b *Backend) AddBias(x engine.Tensor, bias *engine.Weight) {
	n := x.Rows * x.Cols
	args := kernels.BiasArgs{Ne0: int32(x.Cols), N: int32(n)}
	wb := b.mustWeight(bias)
	b.record(Dispatch{
		Kernel: "kernel_add_bias", Args: kernels.Bytes(&args), Buffers: []Binding{bind(x), wb},
		Grid: grid(ceilDiv(n, eltThreads), 1, 1), Group: grid(eltThreads, 1, 1),
	}, []Buffer{bind(x).Buf, wb.Buf}, []Buffer{bind(x).Buf})
}

func (b *Backend) RoPE(x engine.Tensor, headDim, pos int, r *engine.Rope) {
	args := kernels.RopeArgs{Ne0: int32(x.Cols), HeadDim: int32(headDim), NDims: int32(r.Dims), Pos0: int32(pos),
		FreqBase: r.Base, FreqScale: r.FreqScale,
		Sec0: int32(r.Sections[0]), Sec1: int32(r.Sections[1]), Sec2: int32(r.Sections[2]), Sec3: int32(r.Sections[3])}
	if r.NeoX {
		args.NeoX = 1
	}
	ff := bind(x) // unused unless HasFF, but every buffer index must be bound
	reads := []Buffer{bind(x).Buf}
	if r.FreqFactors != nil {
		args.HasFF = 1
		ff = b.mustWeight(r.FreqFactors)
		reads = append(reads, ff.Buf)
	}
	b.record(Dispatch{
		Kernel: "kernel_rope", Args: kernels.Bytes(&args), Buffers: []Binding{bind(x), ff},
		Grid: grid(x.Rows, x.Cols/headDim, 1), Group: grid(min(64, r.Dims/2), 1, 1),
	}, reads, []Buffer{bind(x).Buf})
}

func (b *Backend) StoreKV(cache engine.KVCache, layer int, k, v engine.Tensor, pos int) {
	c := cache.(*kvCache)
	n := k.Rows * k.Cols
	for _, kv := range []struct {
		src engine.Tensor
		dst *cacheBuf
	}{{k, &c.k}, {v, &c.v}} {
		qk := kv.dst.typ.BlockElems()
		args := kernels.CacheStoreArgs{N: int32(n), Block0: int32(pos * k.Cols / qk)}
		b.record(Dispatch{
			Kernel: kv.dst.store, Args: kernels.Bytes(&args),
			Buffers: []Binding{bind(kv.src), {kv.dst.buf, layer * kv.dst.layerBytes}},
			Grid:    grid(ceilDiv(n/qk, eltThreads), 1, 1), Group: grid(eltThreads, 1, 1), // a thread per block
		}, []Buffer{bind(kv.src).Buf}, []Buffer{kv.dst.buf})
	}
}

func (b *Backend) Attend(dst, q engine.Tensor, cache engine.KVCache, layer, pos int, a *engine.Attention) {
	c := cache.(*kvCache)
	args := kernels.AttnArgs{NHeads: int32(a.Heads), NKVHeads: int32(a.KVHeads), HeadDim: int32(a.HeadDim),
		KVDim: int32(a.KVHeads * a.HeadDim), Pos0: int32(pos), NRows: int32(q.Rows), Scale: a.Scale, Chunk: kernels.AttnChunk}
	k, v := Binding{c.k.buf, layer * c.k.layerBytes}, Binding{c.v.buf, layer * c.v.layerBytes}
	reads := []Buffer{bind(q).Buf, c.k.buf, c.v.buf}
	chunks := ceilDiv(pos+1, kernels.AttnChunk)
	if q.Rows > 1 || chunks == 1 {
		b.record(Dispatch{
			Kernel: c.names.Attend, Args: kernels.Bytes(&args),
			Buffers: []Binding{bind(q), k, v, bind(dst)},
			Grid:    grid(q.Rows, a.Heads, 1), Group: grid(simdWidth, 1, 1),
		}, reads, []Buffer{bind(dst).Buf})
		return
	}
	// A long decode step: chunks of the sequence in parallel, then a reduce.
	b.record(Dispatch{
		Kernel: c.names.AttendSplit, Args: kernels.Bytes(&args),
		Buffers: []Binding{bind(q), k, v, {c.partials, 0}},
		Grid:    grid(chunks, a.Heads, 1), Group: grid(simdWidth, 1, 1),
	}, reads, []Buffer{c.partials})
	b.record(Dispatch{
		Kernel: "kernel_attn_reduce", Args: kernels.Bytes(&args),
		Buffers: []Binding{{c.partials, 0}, bind(dst)},
		Grid:    grid(a.Heads, 1, 1), Group: grid(simdWidth, 1, 1),
	}, []Buffer{c.partials}, []Buffer{bind(dst).Buf})
}

func (b *Backend) SwiGLU(dst, gate, up engine.Tensor) {
	n := dst.Rows * dst.Cols
	args := kernels.ElementwiseArgs{N: int32(n)}
	b.record(Dispatch{
		Kernel: "kernel_swiglu", Args: kernels.Bytes(&args), Buffers: []Binding{bind(gate), bind(up), bind(dst)},
		Grid: grid(ceilDiv(n, eltThreads), 1, 1), Group: grid(eltThreads, 1, 1),
	}, []Buffer{bind(gate).Buf, bind(up).Buf}, []Buffer{bind(dst).Buf})
}

func (b *Backend) Add(dst, x engine.Tensor) {
	b.elementwise("kernel_add", dst, x)
}

// elementwise records an in-place elementwise kernel: buffers 1 dst (in/out), 2 x.
func (b *Backend) elementwise(kernel string, dst, x engine.Tensor) {
	n := dst.Rows * dst.Cols
	args := kernels.ElementwiseArgs{N: int32(n)}
	b.record(Dispatch{
		Kernel: kernel, Args: kernels.Bytes(&args), Buffers: []Binding{bind(dst), bind(x)},
		Grid: grid(ceilDiv(n, eltThreads), 1, 1), Group: grid(eltThreads, 1, 1),
	}, []Buffer{bind(dst).Buf, bind(x).Buf}, []Buffer{bind(dst).Buf})
}

// Sync runs the recorded forward pass as one command buffer.
func (b *Backend) Sync() error {
	if len(b.pending) == 0 {
		return nil
	}
	t, err := b.dev.Run(b.pending)
	b.dispatches += len(b.pending)
	b.pending = b.pending[:0]
	clear(b.written)
	clear(b.read)
	b.gpuTime += t
	b.commits++
	if err != nil {
		return fmt.Errorf("metal: %w", err)
	}
	return nil
}

func (b *Backend) Read(t engine.Tensor, dst []float32) error {
	if len(dst) != t.Rows*t.Cols {
		return fmt.Errorf("read %d values into %d", t.Rows*t.Cols, len(dst))
	}
	src := bind(t)
	raw := src.Buf.Contents()[src.Off : src.Off+4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return nil
}
