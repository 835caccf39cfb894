package cpu

import (
	"fmt"
	"runtime"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

// Backend runs the forward pass on the CPU. Operations execute as they are
// called; Sync has nothing to wait for.
type Backend struct {
	pool *pool
	// vectors holds norm weights, biases and rope factors as float32,
	// converted once at load.
	vectors map[*engine.Weight][]float32
	// act holds activations converted to a weight type's vec-dot format.
	act []byte
}

// buffer is the CPU's engine.Buffer.
type buffer struct{ data []float32 }

// kvCache stores each layer's keys and values as rows of kvDim values per
// position, in F16 (as uint16 bits) or F32.
type kvCache struct {
	kvDim, ctx int
	f16        bool
	k16, v16   [][]uint16
	k32, v32   [][]float32
}

// New returns a CPU backend using threads worker goroutines (0 = one per core).
func New(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return &Backend{pool: newPool(threads), vectors: map[*engine.Weight][]float32{}}
}

func (b *Backend) Name() string { return "cpu" }

// Threads is the number of worker goroutines.
func (b *Backend) Threads() int { return b.pool.workers }

func (b *Backend) Close() error {
	b.pool.close()
	return nil
}

func (b *Backend) CheckWeight(w *engine.Weight, role engine.Role) error {
	switch role {
	case engine.RoleMatMul:
		if !DotSupported(w.Type) {
			return fmt.Errorf("no CPU matmul for type %s", w.Type)
		}
	case engine.RoleEmbed:
		if !w.Type.Known() {
			return fmt.Errorf("no CPU dequantization for type %s", w.Type)
		}
	case engine.RoleVector:
		v := make([]float32, w.Rows*w.Cols)
		if err := gguf.Dequantize(w.Type, w.Data, v); err != nil {
			return err
		}
		b.vectors[w] = v
	}
	return nil
}

func (b *Backend) NewTensor(rows, cols int) (engine.Tensor, error) {
	return engine.Tensor{Buf: &buffer{data: make([]float32, rows*cols)}, Rows: rows, Cols: cols}, nil
}

func (b *Backend) NewKVCache(layers, ctx int, a *engine.Attention, f16 bool) (engine.KVCache, error) {
	kvDim := a.KVHeads * a.HeadDim
	c := &kvCache{kvDim: kvDim, ctx: ctx, f16: f16}
	for range layers {
		if f16 {
			c.k16 = append(c.k16, make([]uint16, ctx*kvDim))
			c.v16 = append(c.v16, make([]uint16, ctx*kvDim))
		} else {
			c.k32 = append(c.k32, make([]float32, ctx*kvDim))
			c.v32 = append(c.v32, make([]float32, ctx*kvDim))
		}
	}
	return c, nil
}

// data returns the floats a tensor views.
func data(t engine.Tensor) []float32 {
	return t.Buf.(*buffer).data[t.Off : t.Off+t.Rows*t.Cols]
}

// row returns row r of t.
func row(t engine.Tensor, r int) []float32 {
	d := t.Buf.(*buffer).data
	return d[t.Off+r*t.Cols : t.Off+(r+1)*t.Cols]
}

func (b *Backend) Embed(dst engine.Tensor, table *engine.Weight, ids []int32) {
	rowBytes := len(table.Data) / table.Rows
	for i, id := range ids {
		src := table.Data[int(id)*rowBytes : (int(id)+1)*rowBytes]
		if err := gguf.Dequantize(table.Type, src, row(dst, i)); err != nil {
			panic(fmt.Sprintf("embed %s: %v", table.Name, err)) // shapes were checked at load
		}
	}
}

func (b *Backend) RMSNorm(dst, x engine.Tensor, w *engine.Weight, eps float32) {
	wv := b.vectors[w]
	groups := x.Cols / len(wv)
	b.pool.parallelFor(x.Rows*groups, 8, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			r, c := g/groups, g%groups*len(wv)
			RMSNorm(row(dst, r)[c:c+len(wv)], row(x, r)[c:c+len(wv)], wv, eps)
		}
	})
}

func (b *Backend) AddBias(x engine.Tensor, bias *engine.Weight) {
	bv := b.vectors[bias]
	for r := range x.Rows {
		xr := row(x, r)
		for i := range xr {
			xr[i] += bv[i]
		}
	}
}

func (b *Backend) RoPE(x engine.Tensor, headDim, pos int, rp *engine.Rope) {
	heads := x.Cols / headDim
	var ff []float32
	if rp.FreqFactors != nil {
		ff = b.vectors[rp.FreqFactors]
	}
	b.pool.parallelFor(x.Rows, 1, func(lo, hi int) {
		cos, sin := make([]float32, rp.Dims/2), make([]float32, rp.Dims/2)
		for r := lo; r < hi; r++ {
			RopeAngles(cos, sin, pos+r, rp.Dims, rp.Base, rp.FreqScale, ff)
			xr := row(x, r)
			for h := range heads {
				Rope(xr[h*headDim:(h+1)*headDim], cos, sin, rp.NeoX)
			}
		}
	})
}

func (b *Backend) StoreKV(cache engine.KVCache, layer int, k, v engine.Tensor, pos int) {
	c := cache.(*kvCache)
	n := c.kvDim
	for r := range k.Rows {
		at := (pos + r) * n
		if c.f16 {
			toF16(c.k16[layer][at:at+n], row(k, r))
			toF16(c.v16[layer][at:at+n], row(v, r))
		} else {
			copy(c.k32[layer][at:at+n], row(k, r))
			copy(c.v32[layer][at:at+n], row(v, r))
		}
	}
}

func toF16(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = gguf.FP32ToFP16(v)
	}
}

func (b *Backend) SwiGLU(dst, gate, up engine.Tensor) {
	SwiGLU(data(dst), data(gate), data(up))
}

func (b *Backend) Add(dst, x engine.Tensor) {
	d, s := data(dst), data(x)
	for i := range d {
		d[i] += s[i]
	}
}

func (b *Backend) Sync() error { return nil }

func (b *Backend) Read(t engine.Tensor, dst []float32) error {
	src := data(t)
	if len(dst) != len(src) {
		return fmt.Errorf("read %d values into %d", len(src), len(dst))
	}
	copy(dst, src)
	return nil
}
