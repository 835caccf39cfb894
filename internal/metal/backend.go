package metal

import (
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

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
// pass as one command buffer at Sync, or encodes it ahead of its token ids
// at Prepare (engine.Pipeliner).
type Backend struct {
	dev   Device
	views []fileView
	// weights are the weights PrepareWeight accepted: where each lies and
	// the pipelines of the kernels that read it.
	weights map[*engine.Weight]*weightRef
	k       commonKernels

	// slots are the passes' token ids and Argmax results, two of each:
	// a decoded token's pass, encoded ahead, writes its ids into one while
	// the device runs the pass before, which reads the other. slot is the
	// slot of the pass being recorded, which embeds passIDs ids.
	slots   [2]passSlot
	slot    int
	passIDs int

	// The pass being recorded: its dispatches, and the arenas their
	// arguments, bindings and threadgroup lengths live in, reused from
	// pass to pass (the device copies what it needs when it encodes).
	pending []Dispatch
	args    []byte
	binds   []Binding
	tgs     []int
	// written and read since the last barrier, for hazard tracking: a
	// handful of buffers, so slices beat maps.
	written, read []Buffer
	// scratch holds the product of a fused operation that a batch runs as
	// separate kernels (MatMulAdd, GateUp): as large as the largest
	// activation tensor.
	scratch tensorBuf

	gpuTime    time.Duration
	commits    int
	dispatches int // in all command buffers run so far

	// The pass's command buffers (split.go): budget is the estimated GPU
	// time of one, splits the indices in pending where one starts after
	// the first, segCost the estimate of the last.
	budget  time.Duration
	splits  []int
	segCost time.Duration
}

// passSlot holds one pass's token ids (int32, one per row of the tallest
// tensor) and its Argmax result (the index and the non-finite flag).
type passSlot struct {
	ids, argmax Buffer
}

// weightRef is a prepared weight: where it lies, and the pipelines of
// its type's kernels for the roles it has (nil for the others).
type weightRef struct {
	bind                                          Binding
	getRows, mulMV, mulMVBatch, mulMM, mulMVFused Pipeline
	mulMVRows                                     int // mulMV's and mulMVFused's weight rows per simdgroup
}

// commonKernels are the pipelines of the kernels any model may use, made
// at load.
type commonKernels struct {
	rmsNorm, gatedRMSNorm, add, addBias, ropeStore, swiglu, splitHeads, sigmoidMul, argmax, mulMVMixed Pipeline
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
	k, v cacheBuf
	// attend and attendSplit are the K/V type pair's kernels; reduce
	// combines attendSplit's chunks.
	attend, attendSplit, reduce Pipeline
	// partials holds a split-attention decode step's results per head and
	// chunk (max, sum and output), for the longest context; the layers take
	// turns with it.
	partials Buffer
}

// cacheBuf is the keys or the values of every layer.
type cacheBuf struct {
	buf        Buffer
	typ        gguf.GGMLType
	layerBytes int
}

// New wraps the mapped model file without copying it. A file larger than
// the device's largest buffer is covered by overlapping views, each
// overlapping the next by the largest tensor's size so every tensor lies
// whole in one.
func New(dev Device, f *gguf.File) (*Backend, error) {
	b := &Backend{dev: dev, weights: map[*engine.Weight]*weightRef{}, budget: cbBudget}
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
	var err error
	k := &b.k
	for _, p := range []struct {
		pipe   *Pipeline
		kernel string
	}{
		{&k.rmsNorm, "kernel_rms_norm"}, {&k.gatedRMSNorm, "kernel_gated_rms_norm"}, {&k.add, "kernel_add"},
		{&k.addBias, "kernel_add_bias"}, {&k.ropeStore, "kernel_rope_store"}, {&k.swiglu, "kernel_swiglu"},
		{&k.splitHeads, "kernel_split_heads"}, {&k.sigmoidMul, "kernel_sigmoid_mul"}, {&k.argmax, "kernel_argmax"},
		{&k.mulMVMixed, kernels.MulMVFusedMixed},
	} {
		if err == nil {
			*p.pipe, err = dev.Pipeline(p.kernel)
		}
	}
	for i := range b.slots {
		if err == nil {
			b.slots[i].argmax, err = dev.NewBuffer(8)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("metal: %w", err)
	}
	return b, nil
}

func (b *Backend) Name() string { return "metal" }

// GPUTime is the GPU time of every command buffer so far, and how many.
func (b *Backend) GPUTime() (time.Duration, int) { return b.gpuTime, b.commits }

func (b *Backend) Close() error { return b.dev.Close() }

// PrepareWeight finds the file view holding w and makes the pipelines of
// the kernels that read it in its role.
func (b *Backend) PrepareWeight(w *engine.Weight, role engine.Role) error {
	names, ok := kernels.ForWeight(w.Type)
	switch role {
	case engine.RoleMatMul, engine.RoleEmbed:
		if !ok {
			return fmt.Errorf("no Metal kernel for type %s", w.Type)
		}
	case engine.RoleVector:
		if w.Type != gguf.TypeF32 {
			return fmt.Errorf("Metal reads vectors as F32, not %s", w.Type)
		}
	}
	ref := b.weights[w]
	if ref == nil {
		bind, err := b.weight(w)
		if err != nil {
			return err
		}
		ref = &weightRef{bind: bind}
	}
	var err error
	need := func(p *Pipeline, kernel string) {
		if err == nil && *p == nil {
			*p, err = b.dev.Pipeline(kernel)
		}
	}
	switch role {
	case engine.RoleEmbed:
		need(&ref.getRows, names.GetRows)
	case engine.RoleMatMul:
		need(&ref.mulMV, names.MulMV)
		need(&ref.mulMVBatch, names.MulMVBatch)
		need(&ref.mulMM, names.MulMM)
		need(&ref.mulMVFused, names.MulMVFused)
		ref.mulMVRows = names.MulMVRows
	}
	if err != nil {
		return err
	}
	b.weights[w] = ref
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

// prepared returns what PrepareWeight made of w.
func (b *Backend) prepared(w *engine.Weight) *weightRef {
	ref := b.weights[w]
	if ref == nil {
		panic(fmt.Sprintf("metal: weight %s was not prepared", w.Name)) // NewRunner prepares every weight
	}
	return ref
}

func (b *Backend) NewTensor(rows, cols int) (engine.Tensor, error) {
	buf, err := b.dev.NewBuffer(4 * rows * cols)
	if err != nil {
		return engine.Tensor{}, fmt.Errorf("metal: activation buffer of %d x %d: %w", rows, cols, err)
	}
	if s := &b.scratch; s.buf == nil || len(s.buf.Contents()) < 4*rows*cols {
		if s.buf, err = b.dev.NewBuffer(4 * rows * cols); err != nil {
			return engine.Tensor{}, fmt.Errorf("metal: scratch of %d x %d: %w", rows, cols, err)
		}
	}
	for i := range b.slots {
		if s := &b.slots[i]; s.ids == nil || len(s.ids.Contents()) < 4*rows {
			if s.ids, err = b.dev.NewBuffer(4 * rows); err != nil {
				return engine.Tensor{}, fmt.Errorf("metal: token ids of %d rows: %w", rows, err)
			}
		}
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
	c := &kvCache{}
	var err error
	for _, p := range []struct {
		pipe   *Pipeline
		kernel string
	}{{&c.attend, names.Attend}, {&c.attendSplit, names.AttendSplit}, {&c.reduce, "kernel_attn_reduce"}} {
		if err == nil {
			*p.pipe, err = b.dev.Pipeline(p.kernel)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("metal: %w", err)
	}
	alloc := func(size int) Buffer {
		if err != nil {
			return nil
		}
		var buf Buffer
		buf, err = b.dev.NewBuffer(size)
		return buf
	}
	part := func(t gguf.GGMLType) cacheBuf {
		row, _ := t.RowBytes(a.KVHeads * a.HeadDim) // whole blocks: checked above
		// Layers start at multiples of 16 bytes, as binding offsets must
		// (rows of an odd number of blocks are 2-byte multiples only).
		p := cacheBuf{typ: t, layerBytes: ceilDiv(ctx*row, 16) * 16}
		p.buf = alloc(layers * p.layerBytes)
		return p
	}
	c.k, c.v = part(kType), part(vType)
	c.partials = alloc(4 * a.Heads * ceilDiv(ctx, kernels.AttnChunk) * (a.HeadDim + 2))
	if err != nil {
		return nil, fmt.Errorf("metal: KV cache for %d positions: %w", ctx, err)
	}
	return c, nil
}

func bind(t engine.Tensor) Binding {
	return Binding{t.Buf.(*tensorBuf).buf, 4 * t.Off}
}

// op is a dispatch as an operation describes it: its arguments, the
// buffers bound at 1, 2, ..., which of them it writes (a mask of out),
// its threadgroup memory and its launch.
type op struct {
	args        []byte
	buffers     []Binding
	written     uint32
	threadgroup []int
	grid, group [3]int
	cost        time.Duration // estimated GPU time, if more than dispatchCost
}

// out marks buffers[i] of an op as written (the others are read).
func out(i int) uint32 { return 1 << i }

// record appends a dispatch of p, with a barrier when it touches a buffer
// that an earlier dispatch since the last barrier wrote (read after write,
// write after write) or read (write after read). The op's slices are
// copied into the pass's arenas, so the callers' literals stay on their
// stacks.
func (b *Backend) record(p Pipeline, o op) {
	hazard := false
	for i, bd := range o.buffers {
		hazard = hazard || slices.Contains(b.written, bd.Buf) || o.written&out(i) != 0 && slices.Contains(b.read, bd.Buf)
	}
	if hazard {
		b.written, b.read = b.written[:0], b.read[:0]
	}
	for i, bd := range o.buffers {
		set := &b.read
		if o.written&out(i) != 0 {
			set = &b.written
		}
		if !slices.Contains(*set, bd.Buf) {
			*set = append(*set, bd.Buf)
		}
	}
	b.account(o.cost)
	a, n, t := len(b.args), len(b.binds), len(b.tgs)
	b.args = append(b.args, o.args...)
	b.binds = append(b.binds, o.buffers...)
	b.tgs = append(b.tgs, o.threadgroup...)
	b.pending = append(b.pending, Dispatch{
		Pipeline:    p,
		Args:        b.args[a:len(b.args):len(b.args)],
		Buffers:     b.binds[n:len(b.binds):len(b.binds)],
		Threadgroup: b.tgs[t:len(b.tgs):len(b.tgs)],
		Grid:        o.grid, Group: o.group,
		Barrier: hazard,
	})
}

func grid(x, y, z int) [3]int { return [3]int{x, y, z} }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// int32s and float32s view shared memory as the kernels' int32_t and
// float arrays (every platform quant runs on is little-endian).
func int32s(b []byte) []int32 {
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}
func float32s(b []byte) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}

// Embed writes ids into the pass's slot; a step prepared from the pass
// overwrites them when it starts.
func (b *Backend) Embed(dst engine.Tensor, table *engine.Weight, ids []int32) {
	slot := b.slots[b.slot].ids
	copy(int32s(slot.Contents()), ids)
	b.passIDs = len(ids)
	w := b.prepared(table)
	args := kernels.GetRowsArgs{Ne0: int32(table.Cols), Nb1: uint32(len(table.Data) / table.Rows)}
	b.record(w.getRows, op{
		args:    kernels.Bytes(&args),
		buffers: []Binding{w.bind, {slot, 0}, bind(dst)},
		grid:    grid(len(ids), 1, 1), group: grid(64, 1, 1),
		written: out(2),
	})
}

func (b *Backend) RMSNorm(dst, x engine.Tensor, w *engine.Weight, eps float32) {
	args := kernels.RMSNormArgs{Ne0: int32(w.Cols), Eps: eps}
	groups := x.Rows * x.Cols / w.Cols
	b.record(b.k.rmsNorm, op{
		args:        kernels.Bytes(&args),
		buffers:     []Binding{bind(x), b.prepared(w).bind, bind(dst)},
		threadgroup: []int{4 * simdWidth},
		grid:        grid(groups, 1, 1), group: grid(normGroup(w.Cols), 1, 1),
		written: out(2),
	})
}

// normGroup is the threadgroup size of the norms over groups of cols
// values: whole simdgroups, up to normThreads.
func normGroup(cols int) int { return min(normThreads, ceilDiv(cols, simdWidth)*simdWidth) }

func (b *Backend) MatMul(dst engine.Tensor, w *engine.Weight, x engine.Tensor) {
	args := kernels.MatMulArgs{Ne00: int32(w.Cols), Ne01: int32(w.Rows), Nb01: uint32(len(w.Data) / w.Rows), Ne11: int32(x.Rows)}
	ref := b.prepared(w)
	o := op{args: kernels.Bytes(&args), buffers: []Binding{ref.bind, bind(x), bind(dst)}, written: out(2), cost: matMulCost(w, x.Rows)}
	switch {
	case x.Rows == 1:
		o.grid, o.group = grid(ceilDiv(w.Rows, ref.mulMVRows*kernels.MVSG), 1, 1), grid(kernels.MVThreads, 1, 1)
		b.record(ref.mulMV, o)
		return
	case x.Rows < mulMMMinRows:
		// Each weight read serves every activation row.
		o.grid, o.group = grid(ceilDiv(w.Rows, kernels.MVSG), ceilDiv(x.Rows, kernels.MVBatch), 1), grid(kernels.MVThreads, 1, 1)
		b.record(ref.mulMVBatch, o)
		return
	}
	// Tiles of weights (dequantized) and of activations.
	o.threadgroup = []int{kernels.MMTGW, kernels.MMTGX}
	o.grid, o.group = grid(ceilDiv(w.Rows, kernels.MMRows), ceilDiv(x.Rows, kernels.MMCols), 1), grid(kernels.MMThreads, 1, 1)
	b.record(ref.mulMM, o)
}

func (b *Backend) AddBias(x engine.Tensor, bias *engine.Weight) {
	n := x.Rows * x.Cols
	args := kernels.BiasArgs{Ne0: int32(x.Cols), N: int32(n)}
	b.record(b.k.addBias, op{
		args: kernels.Bytes(&args), buffers: []Binding{bind(x), b.prepared(bias).bind},
		grid: grid(ceilDiv(n, eltThreads), 1, 1), group: grid(eltThreads, 1, 1),
		written: out(0),
	})
}

func (b *Backend) RoPEStoreKV(cache engine.KVCache, layer int, q, k, v engine.Tensor, pos int, a *engine.Attention, r *engine.Rope, n *engine.HeadNorm) {
	c := cache.(*kvCache)
	args := kernels.RopeStoreArgs{HeadDim: int32(a.HeadDim), NDims: int32(r.Dims), NHeads: int32(a.Heads), NKVHeads: int32(a.KVHeads),
		Pos0: int32(pos), FreqBase: r.Base, FreqScale: r.FreqScale,
		Sec0: int32(r.Sections[0]), Sec1: int32(r.Sections[1]), Sec2: int32(r.Sections[2]), Sec3: int32(r.Sections[3]),
		KType: int32(c.k.typ), VType: int32(c.v.typ)}
	if r.NeoX {
		args.NeoX = 1
	}
	// Every buffer index must be bound: q stands in for the unused ones.
	ff, qn, kn := bind(q), bind(q), bind(q)
	if r.FreqFactors != nil {
		args.HasFF = 1
		ff = b.prepared(r.FreqFactors).bind
	}
	if n != nil {
		args.HasNorm, args.Eps = 1, n.Eps
		qn, kn = b.prepared(n.Q).bind, b.prepared(n.K).bind
	}
	b.record(b.k.ropeStore, op{
		args: kernels.Bytes(&args),
		buffers: []Binding{bind(q), bind(k), bind(v), ff, qn, kn,
			{c.k.buf, layer * c.k.layerBytes}, {c.v.buf, layer * c.v.layerBytes}},
		grid: grid(q.Rows, a.Heads+2*a.KVHeads, 1), group: grid(simdWidth, 1, 1),
		written: out(0) | out(1) | out(6) | out(7),
	})
}

func (b *Backend) Attend(dst, q engine.Tensor, cache engine.KVCache, layer, pos int, a *engine.Attention) {
	c := cache.(*kvCache)
	args := kernels.AttnArgs{NHeads: int32(a.Heads), NKVHeads: int32(a.KVHeads), HeadDim: int32(a.HeadDim),
		KVDim: int32(a.KVHeads * a.HeadDim), Pos0: int32(pos), NRows: int32(q.Rows), Scale: a.Scale, Chunk: kernels.AttnChunk}
	k, v := Binding{c.k.buf, layer * c.k.layerBytes}, Binding{c.v.buf, layer * c.v.layerBytes}
	if q.Rows > 1 {
		// Prompt rows: tiles of keys shared by AttnRows query rows.
		b.record(c.attend, op{
			args:        kernels.Bytes(&args),
			buffers:     []Binding{bind(q), k, v, bind(dst)},
			threadgroup: kernels.AttnMemory(a.HeadDim),
			grid:        grid(ceilDiv(q.Rows, kernels.AttnRows), a.Heads, 1), group: grid(attnThreads, 1, 1),
			written: out(3),
			cost:    attendCost(q.Rows, pos, a),
		})
		return
	}
	// A decode step: chunks of the sequence in parallel; a reduce combines
	// them when there are several.
	chunks := ceilDiv(pos+1, kernels.AttnChunk)
	split := op{
		args:        kernels.Bytes(&args),
		buffers:     []Binding{bind(q), k, v, bind(dst)},
		threadgroup: kernels.AttnSplitMemory(a.HeadDim),
		grid:        grid(chunks, a.Heads, 1), group: grid(attnThreads, 1, 1),
		written: out(3),
	}
	if chunks == 1 {
		b.record(c.attendSplit, split)
		return
	}
	split.buffers[3] = Binding{c.partials, 0}
	b.record(c.attendSplit, split)
	b.record(c.reduce, op{
		args:    kernels.Bytes(&args),
		buffers: []Binding{{c.partials, 0}, bind(dst)},
		grid:    grid(a.Heads, 1, 1), group: grid(simdWidth, 1, 1),
		written: out(1),
	})
}

// attnThreads is the threadgroup size of the attention kernels.
const attnThreads = kernels.AttnSG * simdWidth

// mvPart is a weight of a fused mat-vec and the tensor its rows go to.
type mvPart struct {
	w   *engine.Weight
	dst engine.Tensor
}

// fusedMV records kernel_mul_mv_fused for one activation row x and parts
// of one weight type, or kernel_mul_mv_fused_mixed for parts of several:
// QKV's projections (MVStore), MatMulAdd's (MVAdd), or GateUp's gate and
// up (MVSwiGLU, one type, whose threadgroups cover the gate rows and
// compute the up rows alongside).
func (b *Backend) fusedMV(opcode int32, x engine.Tensor, parts []mvPart) {
	pipe := b.prepared(parts[0].w).mulMVFused
	args := kernels.FusedMVArgs{Ne00: int32(x.Cols), Op: opcode}
	ne01 := [3]*int32{&args.Ne01_0, &args.Ne01_1, &args.Ne01_2}
	nb01 := [3]*uint32{&args.Nb01_0, &args.Nb01_1, &args.Nb01_2}
	tg := [3]*int32{nil, &args.Tg_1, &args.Tg_2}
	types := [3]*int32{&args.Type_0, &args.Type_1, &args.Type_2}
	buffers := [7]Binding{bind(x)}
	groups := 0
	for i := range 3 {
		p := parts[min(i, len(parts)-1)] // an absent part binds the last one again
		ref := b.prepared(p.w)
		buffers[1+2*i], buffers[2+2*i] = ref.bind, bind(p.dst)
		*types[i] = int32(p.w.Type)
		if tg[i] != nil {
			*tg[i] = int32(groups) // an absent part starts at the grid's end
		}
		if i < len(parts) {
			*ne01[i], *nb01[i] = int32(p.w.Rows), uint32(len(p.w.Data)/p.w.Rows)
			if opcode != kernels.MVSwiGLU || i == 0 {
				groups += ceilDiv(p.w.Rows, ref.mulMVRows*kernels.MVSG)
			}
			if p.w.Type != parts[0].w.Type {
				pipe = b.k.mulMVMixed
			}
		}
	}
	b.record(pipe, op{
		args: kernels.Bytes(&args), buffers: buffers[:],
		grid: grid(groups, 1, 1), group: grid(kernels.MVThreads, 1, 1),
		written: out(2) | out(4) | out(6),
	})
}

// QKV runs a decode row's three projections as one dispatch (with the
// mixed-type kernel when their types differ), a batch's as matrix
// products.
func (b *Backend) QKV(q, k, v engine.Tensor, wq, wk, wv *engine.Weight, x engine.Tensor) {
	parts := [3]mvPart{{wq, q}, {wk, k}, {wv, v}}
	if x.Rows > 1 {
		for _, p := range parts {
			b.MatMul(p.dst, p.w, x)
		}
		return
	}
	b.fusedMV(kernels.MVStore, x, parts[:])
}

// GateUp computes a decode row's gate and up rows in one dispatch when
// the two weights are alike (type and shape), as gate and up of every
// quantization mix are; otherwise the products and SwiGLU run apart,
// through the scratch buffer.
func (b *Backend) GateUp(dst engine.Tensor, gate, up *engine.Weight, x engine.Tensor) {
	if x.Rows == 1 && gate.Type == up.Type && gate.Rows == up.Rows && len(gate.Data) == len(up.Data) {
		b.fusedMV(kernels.MVSwiGLU, x, []mvPart{{gate, dst}, {up, dst}})
		return
	}
	u := b.scratchTensor(dst.Rows, dst.Cols)
	b.MatMul(dst, gate, x)
	b.MatMul(u, up, x)
	n := dst.Rows * dst.Cols
	args := kernels.ElementwiseArgs{N: int32(n)}
	b.record(b.k.swiglu, op{
		args: kernels.Bytes(&args), buffers: []Binding{bind(dst), bind(u), bind(dst)},
		grid: grid(ceilDiv(n, eltThreads), 1, 1), group: grid(eltThreads, 1, 1),
		written: out(2),
	})
}

// MatMulAdd adds a decode row's product in the mat-vec's epilogue, a
// batch's through the scratch buffer.
func (b *Backend) MatMulAdd(dst engine.Tensor, w *engine.Weight, x engine.Tensor) {
	if x.Rows == 1 {
		b.fusedMV(kernels.MVAdd, x, []mvPart{{w, dst}})
		return
	}
	p := b.scratchTensor(dst.Rows, dst.Cols)
	b.MatMul(p, w, x)
	b.elementwise(b.k.add, dst, p)
}

// scratchTensor views the scratch buffer as a rows x cols tensor.
func (b *Backend) scratchTensor(rows, cols int) engine.Tensor {
	return engine.Tensor{Buf: &b.scratch, Rows: rows, Cols: cols}
}

// elementwise records an in-place elementwise kernel: buffers 1 dst (in/out), 2 x.
func (b *Backend) elementwise(p Pipeline, dst, x engine.Tensor) {
	n := dst.Rows * dst.Cols
	args := kernels.ElementwiseArgs{N: int32(n)}
	b.record(p, op{
		args: kernels.Bytes(&args), buffers: []Binding{bind(dst), bind(x)},
		grid: grid(ceilDiv(n, eltThreads), 1, 1), group: grid(eltThreads, 1, 1),
		written: out(0),
	})
}

// argmaxThreads is kernel_argmax's threadgroup: one of 1024 threads reads
// a vocabulary's logits.
const argmaxThreads = 1024

// Argmax records the greedy choice over x's one row into the pass's slot
// (engine.Pipeliner).
func (b *Backend) Argmax(x engine.Tensor) {
	args := kernels.ElementwiseArgs{N: int32(x.Cols)}
	b.record(b.k.argmax, op{
		args: kernels.Bytes(&args), buffers: []Binding{bind(x.RowRange(0, 1)), {b.slots[b.slot].argmax, 0}},
		// A float and two ints per simdgroup.
		threadgroup: []int{4 * simdWidth, 4 * simdWidth, 4 * simdWidth},
		grid:        grid(1, 1, 1), group: grid(argmaxThreads, 1, 1),
		written: out(1),
	})
}

// encodePass encodes the recorded pass into a command buffer of n
// dispatches and starts recording the next one, in the other slot.
func (b *Backend) encodePass() (cb CommandBuffer, n int, err error) {
	cb, err = b.dev.Encode(b.pending)
	n = len(b.pending)
	b.endPass()
	if err != nil {
		return nil, 0, fmt.Errorf("metal: %w", err)
	}
	return cb, n, nil
}

// endPass starts recording the next pass, in the other slot.
func (b *Backend) endPass() {
	b.pending, b.args, b.binds, b.tgs = b.pending[:0], b.args[:0], b.binds[:0], b.tgs[:0]
	b.written, b.read = b.written[:0], b.read[:0]
	b.slot, b.passIDs = 1-b.slot, 0
	b.splits, b.segCost = b.splits[:0], 0
}

// Sync runs the recorded forward pass as one command buffer, or a pass of
// several rows as several when it would keep the GPU too long (split.go).
func (b *Backend) Sync() error {
	if len(b.pending) == 0 {
		return nil
	}
	if b.passIDs > 1 && len(b.splits) > 0 {
		return b.syncSplit()
	}
	cb, n, err := b.encodePass()
	if err != nil {
		return err
	}
	if err := cb.Commit(); err != nil {
		cb.Discard()
		return fmt.Errorf("metal: %w", err)
	}
	return b.wait(cb, n)
}

// wait waits for a committed command buffer of n dispatches and counts
// its GPU time.
func (b *Backend) wait(cb CommandBuffer, n int) error {
	t, err := cb.Wait()
	b.gpuTime += t
	b.commits++
	b.dispatches += n
	if err != nil {
		return fmt.Errorf("metal: %w", err)
	}
	return nil
}

// Prepare encodes the recorded pass without running it (engine.Pipeliner),
// as one command buffer: a decoded token's (see split.go).
func (b *Backend) Prepare() (engine.Step, error) {
	if len(b.pending) == 0 {
		return nil, errors.New("metal: prepare of an empty pass")
	}
	s := &step{b: b, slot: b.slot, ids: b.passIDs}
	var err error
	if s.cb, s.dispatches, err = b.encodePass(); err != nil {
		return nil, err
	}
	return s, nil
}

// step is a pass encoded by Prepare: its command buffer and its slot.
type step struct {
	b          *Backend
	cb         CommandBuffer
	dispatches int
	slot       int
	ids        int // how many ids the pass embeds
	started    bool
}

// Start writes the ids into the step's slot and commits its command
// buffer: the device reads them when it runs the pass.
func (s *step) Start(ids []int32) error {
	if s.started {
		return errors.New("metal: step started twice")
	}
	if len(ids) != s.ids {
		return fmt.Errorf("metal: %d token ids for a pass that embeds %d", len(ids), s.ids)
	}
	copy(int32s(s.b.slots[s.slot].ids.Contents()), ids)
	if err := s.cb.Commit(); err != nil {
		return fmt.Errorf("metal: %w", err)
	}
	s.started = true
	return nil
}

func (s *step) Wait() error {
	if !s.started {
		return errors.New("metal: wait for a step not started")
	}
	return s.b.wait(s.cb, s.dispatches)
}

// Argmax reads the 8 bytes of the pass's Argmax result.
func (s *step) Argmax() (id int32, finite bool) {
	r := int32s(s.b.slots[s.slot].argmax.Contents())
	return r[0], r[1] == 0
}

func (s *step) Discard() {
	if !s.started {
		s.cb.Discard()
	}
}

// Read copies t out of its shared buffer in one go.
func (b *Backend) Read(t engine.Tensor, dst []float32) error {
	if len(dst) != t.Rows*t.Cols {
		return fmt.Errorf("read %d values into %d", t.Rows*t.Cols, len(dst))
	}
	src := bind(t)
	copy(dst, float32s(src.Buf.Contents()[src.Off:src.Off+4*len(dst)]))
	return nil
}
