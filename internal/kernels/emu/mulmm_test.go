//go:build mslemu

package emu

import (
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
)

// What kernel_mul_mm does per multiply-add, counted by the emulator (Count)
// on a prompt-sized shape: a 2048-wide weight of 128 rows times 64
// activation rows.
const (
	mmCountCols = 2048
	mmCountRows = 128
	mmCountActs = 64
)

// TestMulMMCounts logs per weight type the threadgroup-memory load
// instructions (as simdgroups execute them) and bytes per multiply-add, the
// SIMD-group matrix products per 8x8x8 block of the product (one product is
// 512 multiply-adds), and the device bytes fetched per unique byte of the
// weights and of the activations.
func TestMulMMCounts(t *testing.T) {
	if asanBuild {
		t.Skip("ASan build: the counts do not depend on it")
	}
	t.Logf("kernel_mul_mm, %d x %d weights, %d activation rows:", mmCountRows, mmCountCols, mmCountActs)
	t.Logf("%-5s %16s %14s %14s %14s %14s", "type", "tg simd/kMAC", "tg bytes/MAC", "products/512", "w fetched/uniq", "x fetched/uniq")
	for _, typ := range weightTypes() {
		c := newMatmulCase(t, typ, mmCountCols, mmCountRows, mmCountActs, false, newRand(t))
		dst := nanBuffer(mmCountActs * mmCountRows)
		d := c.dispatch(weightKernels(t, typ), mulMM, dst)
		n, err := Count(d)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := c.check(f32s(dst), mmTolerance(typ)); m != "" {
			t.Fatalf("%s: %s", d.Kernel, m)
		}
		var tg Loads
		for _, l := range n.Threadgroup {
			tg.SIMDLoads += l.SIMDLoads
			tg.Bytes += l.Bytes
		}
		macs := float64(mmCountCols * mmCountRows * mmCountActs)
		w, x := n.Buffers[1], n.Buffers[2]
		t.Logf("%-5s %16.2f %14.3f %14.3f %14.2f %14.2f", typ, 1000*float64(tg.SIMDLoads)/macs, float64(tg.Bytes)/macs,
			512*float64(n.MatrixMultiplies)/macs, float64(w.SIMDBytes)/float64(w.Unique), float64(x.SIMDBytes)/float64(x.Unique))
		// Every multiply-add is in an 8x8 matrix product, each tile of
		// threadgroup memory is read once per simdgroup that uses it (4
		// weight and 2 activation blocks of 64 values per 8 values of
		// the row, for 8 products), and the activations once per tile of
		// weight rows.
		sw, sx := 2.0, 4.0 // bytes of a weight and an activation in the tiles
		switch typ {
		case gguf.TypeF32, gguf.TypeBF16:
			sw = 4
		case gguf.TypeF16:
			sx = 2
		}
		if float64(512*n.MatrixMultiplies) != macs || float64(tg.Bytes) != macs*(4*64*sw+2*64*sx)/(8*512) ||
			x.SIMDBytes != x.Unique*mmCountRows/kernels.MMRows {
			t.Errorf("%s: %d matrix products, %d threadgroup bytes, %d of %d activation bytes fetched", d.Kernel,
				n.MatrixMultiplies, tg.Bytes, x.SIMDBytes, x.Unique)
		}
	}
}
