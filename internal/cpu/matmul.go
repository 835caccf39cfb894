package cpu

import "github.com/quant-llm/quant/internal/engine"

// MatMul converts each activation row to the weight type's vec-dot format
// once (as llama.cpp does), then splits the weight rows across workers.
// Float weights sum in the order llama.cpp would use for this product.
// Each worker takes its rows in tiles of about matMulTile bytes and
// multiplies a tile with every activation row while it is in cache (one
// DotMatrix call per tile).
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

	order := SumOrderFor(w.Type, w.Rows, w.Cols, x.Rows)
	wRow := len(w.Data) / w.Rows
	tile := max(2, matMulTile/wRow&^1)
	out := dst.Buf.(*buffer).data[dst.Off:]
	b.pool.parallelFor(w.Rows, 8, func(lo, hi int) {
		for t0 := lo; t0 < hi; t0 += tile {
			t1 := min(t0+tile, hi)
			DotMatrix(w.Type, order, w.Cols, w.Data[t0*wRow:t1*wRow], wRow, t1-t0,
				act, actRow, x.Rows, out[t0:], dst.Cols)
		}
	})
}

// matMulTile is the size in bytes of the weight tiles MatMul multiplies
// with all activation rows in turn: half a typical 32 KiB L1 data cache.
// A tile has an even number of rows, at least two, for the kernels that
// take weight rows in pairs (dotQ8_0X8AVX512).
const matMulTile = 16 << 10
