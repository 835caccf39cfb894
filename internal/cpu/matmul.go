package cpu

import "github.com/quant-llm/quant/internal/engine"

// MatMul converts each activation row to the weight type's vec-dot format
// once (as llama.cpp does), then splits the weight rows across workers; each
// weight row is read once and multiplied with every activation row while it
// is in cache.
func (b *Backend) MatMul(dst engine.Tensor, w *engine.Weight, x engine.Tensor) {
	vt := VecDotType(w.Type)
	actRow, err := vt.RowBytes(w.Cols)
	if err != nil {
		panic("matmul " + w.Name + ": " + err.Error()) // checked at load
	}
	need := actRow * x.Rows
	if cap(b.act) < need {
		b.act = make([]byte, need)
	}
	act := b.act[:need]
	b.pool.parallelFor(x.Rows, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			QuantizeRow(vt, row(x, r), act[r*actRow:r*actRow:(r+1)*actRow])
		}
	})

	wRow := len(w.Data) / w.Rows
	out := dst.Buf.(*buffer).data[dst.Off:]
	b.pool.parallelFor(w.Rows, 8, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			wr := w.Data[o*wRow : (o+1)*wRow]
			for r := range x.Rows {
				out[r*dst.Cols+o] = Dot(w.Type, w.Cols, wr, act[r*actRow:(r+1)*actRow])
			}
		}
	})
}
