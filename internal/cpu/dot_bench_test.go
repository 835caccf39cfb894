package cpu

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

// BenchmarkDot measures one weight row times one activation row, reporting
// weight bytes per second. The rows cycle through about 1 MiB of weights so
// the numbers are not those of a row sitting in L1; a real matmul streams
// from memory, which on the build machines (~28 GB/s) is not the limit for
// these pure-Go kernels.
func BenchmarkDot(b *testing.B) {
	cases := []struct {
		t gguf.GGMLType
		n int
	}{
		{gguf.TypeQ4_K, 2048}, {gguf.TypeQ6_K, 2048}, {gguf.TypeQ6_K, 8192}, {gguf.TypeQ8_0, 2048},
		{gguf.TypeQ5_K, 2048}, {gguf.TypeQ4_0, 2048}, {gguf.TypeQ5_0, 2048},
		{gguf.TypeQ4_1, 2048}, {gguf.TypeQ5_1, 2048}, {gguf.TypeQ2_K, 2048}, {gguf.TypeQ3_K, 2048},
		{gguf.TypeF16, 2048}, {gguf.TypeBF16, 2048}, {gguf.TypeF32, 2048},
	}
	for _, c := range cases {
		name := c.t.String()
		if c.n != 2048 {
			name = fmt.Sprintf("%s/n=%d", name, c.n)
		}
		b.Run(name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, uint64(c.t)))
			rowBytes, _ := c.t.RowBytes(c.n)
			rows := max(1, (1<<20)/rowBytes)
			w := randomBlocks(r, c.t, rows*c.n)
			a := QuantizeRow(VecDotType(c.t), randVec(r, c.n, 1), nil)
			b.SetBytes(int64(rowBytes))
			var sink float32
			row := 0
			for b.Loop() {
				sink += Dot(c.t, c.n, w[row*rowBytes:(row+1)*rowBytes], a)
				if row++; row == rows {
					row = 0
				}
			}
			_ = sink
		})
	}
}

// BenchmarkQuantizeRow measures the per-matmul activation conversion.
func BenchmarkQuantizeRow(b *testing.B) {
	x := randVec(rand.New(rand.NewPCG(2, 3)), 2048, 1)
	for _, vt := range []gguf.GGMLType{gguf.TypeQ8_0, gguf.TypeQ8_1, gguf.TypeQ8_K, gguf.TypeF16} {
		b.Run(vt.String(), func(b *testing.B) {
			dst := QuantizeRow(vt, x, nil)
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				dst = QuantizeRow(vt, x, dst[:0])
			}
		})
	}
}

// BenchmarkDotRows measures dotRows over a 64 MiB weight matrix, far
// larger than the caches, as a decode step streams it from memory; the
// parallel variants run one stream per GOMAXPROCS, like MatMul's workers.
func BenchmarkDotRows(b *testing.B) {
	const matrixBytes = 64 << 20
	for _, c := range []struct {
		t gguf.GGMLType
		n int
	}{
		{gguf.TypeQ4_K, 2048}, {gguf.TypeQ5_K, 2048}, {gguf.TypeQ6_K, 2048}, {gguf.TypeQ8_0, 2048},
		{gguf.TypeQ4_0, 2048}, {gguf.TypeQ5_0, 2048}, {gguf.TypeF16, 2048},
		{gguf.TypeBF16, 2048}, {gguf.TypeF32, 2048},
	} {
		r := rand.New(rand.NewPCG(1, uint64(c.t)))
		rowBytes, _ := c.t.RowBytes(c.n)
		rows := matrixBytes / rowBytes
		w := randomBlocks(r, c.t, rows*c.n)
		a := QuantizeRow(VecDotType(c.t), randVec(r, c.n, 1), nil)
		const chunk = 256 // rows per call, as a MatMul worker's share
		b.Run(c.t.String(), func(b *testing.B) {
			out := make([]float32, chunk)
			b.SetBytes(int64(chunk * rowBytes))
			row := 0
			for b.Loop() {
				dotRows(c.t, c.n, w[row*rowBytes:], rowBytes, chunk, a, out)
				if row += chunk; row+chunk > rows {
					row = 0
				}
			}
		})
		b.Run(c.t.String()+"/parallel", func(b *testing.B) {
			b.SetBytes(int64(chunk * rowBytes))
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				out := make([]float32, chunk)
				for pb.Next() {
					row := int(next.Add(chunk)-chunk) % (rows - chunk)
					dotRows(c.t, c.n, w[row*rowBytes:], rowBytes, chunk, a, out)
				}
			})
		})
	}
}

// BenchmarkDotMatrix measures DotMatrix on a 16 KiB weight tile (as MatMul
// uses) times one activation row (decode; the tile stays in L1, so this is
// the kernels' compute speed) and times 64 rows (a prompt). It reports
// weight bytes times activation rows per second.
func BenchmarkDotMatrix(b *testing.B) {
	for _, t := range []gguf.GGMLType{gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeF16, gguf.TypeBF16, gguf.TypeF32} {
		const n = 2048
		r := rand.New(rand.NewPCG(1, uint64(t)))
		rowBytes, _ := t.RowBytes(n)
		actBytes, _ := VecDotType(t).RowBytes(n)
		wRows := max(1, (16<<10)/rowBytes)
		w := randomBlocks(r, t, wRows*n)
		for _, aRows := range []int{1, 64} {
			b.Run(fmt.Sprintf("%v/rows=%d", t, aRows), func(b *testing.B) {
				a := QuantizeRow(VecDotType(t), randVec(r, aRows*n, 1), nil)
				out := make([]float32, aRows*wRows)
				b.SetBytes(int64(aRows * wRows * rowBytes))
				for b.Loop() {
					DotMatrix(t, SumOrderFor(t, wRows, n, aRows), n, w, rowBytes, wRows, a, actBytes, aRows, out, wRows)
				}
			})
		}
	}
}
