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
	// tmp holds the second operand of the fused operations (GateUp's up
	// projection, MatMulAdd's product), grown as needed.
	tmp buffer
}

// buffer is the CPU's engine.Buffer.
type buffer struct{ data []float32 }

// New returns a CPU backend using threads worker goroutines (0 = one per core).
func New(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return &Backend{pool: newPool(threads), vectors: map[*engine.Weight][]float32{}}
}

func (b *Backend) Name() string { return "cpu" }

func (b *Backend) Close() error {
	b.pool.close()
	return nil
}

func (b *Backend) PrepareWeight(w *engine.Weight, role engine.Role) error {
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

// rope rotates each head of x (heads of headDim values); row r holds
// position pos+r.
func (b *Backend) rope(x engine.Tensor, headDim, pos int, rp *engine.Rope) {
	heads := x.Cols / headDim
	var ff []float32
	if rp.FreqFactors != nil {
		ff = b.vectors[rp.FreqFactors]
	}
	b.pool.parallelFor(x.Rows, 1, func(lo, hi int) {
		cos, sin := make([]float32, rp.Dims/2), make([]float32, rp.Dims/2)
		for r := lo; r < hi; r++ {
			RopeAngles(cos, sin, pos+r, rp.Dims, rp.Base, rp.FreqScale, ff)
			for i := range cos {
				if !rp.Rotates(i) {
					cos[i], sin[i] = 1, 0
				}
			}
			xr := row(x, r)
			for h := range heads {
				Rope(xr[h*headDim:(h+1)*headDim], cos, sin, rp.NeoX)
			}
		}
	})
}

// The fused operations run their steps one after the other, with the
// results of separate operations.

func (b *Backend) QKV(q, k, v engine.Tensor, wq, wk, wv *engine.Weight, x engine.Tensor) {
	b.MatMul(q, wq, x)
	b.MatMul(k, wk, x)
	b.MatMul(v, wv, x)
}

func (b *Backend) GateUp(dst engine.Tensor, gate, up *engine.Weight, x engine.Tensor) {
	u := b.temp(dst.Rows, dst.Cols)
	b.MatMul(dst, gate, x)
	b.MatMul(u, up, x)
	b.pool.parallelFor(dst.Rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			SwiGLU(row(dst, r), row(dst, r), row(u, r))
		}
	})
}

func (b *Backend) MatMulAdd(dst engine.Tensor, w *engine.Weight, x engine.Tensor) {
	p := b.temp(dst.Rows, dst.Cols)
	b.MatMul(p, w, x)
	d, s := data(dst), data(p)
	for i := range d {
		d[i] += s[i]
	}
}

// temp returns b.tmp as a rows x cols tensor.
func (b *Backend) temp(rows, cols int) engine.Tensor {
	if cap(b.tmp.data) < rows*cols {
		b.tmp.data = make([]float32, rows*cols)
	}
	b.tmp.data = b.tmp.data[:rows*cols]
	return engine.Tensor{Buf: &b.tmp, Rows: rows, Cols: cols}
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
