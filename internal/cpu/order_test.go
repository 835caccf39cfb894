package cpu

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
)

// TestKernelOrderAcrossArchitectures pins the assembly kernels' float
// orders across architectures: DotMatrix's results on fixed rows, hashed
// per weight type, must be those of the amd64 AVX2 kernels (the orders of
// llama.cpp's x86 kernels, which the golden logits come from) on every
// assembly level of every architecture, the arm64 ones included. The
// hashes were recorded with the AVX2 kernels; a kernel that adds in
// another order changes them.
func TestKernelOrderAcrossArchitectures(t *testing.T) {
	if !AssemblyKernels() {
		t.Skip("pure-Go kernels")
	}
	want := map[gguf.GGMLType]uint64{
		gguf.TypeF32:  0xe1da66186e383d8a,
		gguf.TypeF16:  0xc42ec3302e966f16,
		gguf.TypeBF16: 0x56b5db1caef7dca0,
		gguf.TypeQ4_0: 0x800faddf1555fca5,
		gguf.TypeQ5_0: 0x9ed235c5102c42a1,
		gguf.TypeQ8_0: 0x5d66876b3c888e1d,
		gguf.TypeQ4_K: 0x7d28a57b09899b55,
		gguf.TypeQ5_K: 0x8859eb125f584cad,
		gguf.TypeQ6_K: 0xcd0eef8927b433cd,
	}
	for _, tc := range dotTypes {
		sum, ok := want[tc.t]
		if !ok {
			continue // no assembly kernel
		}
		if got := kernelResultsHash(t, tc.t, tc.vt); got != sum {
			t.Errorf("%v: results hash %#016x, AVX2 %#016x", tc.t, got, sum)
		}
	}
}

// kernelResultsHash hashes DotMatrix's results for weight type typ on
// portableRow matrices of several lengths, in both orders.
func kernelResultsHash(t *testing.T, typ, vt gguf.GGMLType) uint64 {
	t.Helper()
	r := rand.New(rand.NewPCG(31, uint64(typ)))
	lengths := []int{1, 2, 3, 5, 8}
	if typ.BlockElems() == 1 {
		lengths = []int{7, 32, 64, 100, 192}
	} else {
		for i := range lengths {
			lengths[i] *= typ.BlockElems()
		}
	}
	h := fnv.New64a()
	for _, n := range lengths {
		const wRows, aRows = 3, 5
		w, wStride := testMatrix(t, r, typ, n, wRows, func() []byte { return portableRow(r, typ, n) })
		a, aStride := testMatrix(t, r, vt, n, aRows, func() []byte { return portableRow(r, vt, n) })
		for _, order := range []SumOrder{VecOrder, GemmOrder} {
			out := make([]float32, wRows*aRows)
			DotMatrix(typ, order, n, w, wStride, wRows, a, aStride, aRows, out, wRows)
			for _, v := range out {
				h.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)))
			}
		}
	}
	return h.Sum64()
}

// portableRow returns a row of n values of type typ made from integers
// alone, so that every architecture builds the same bytes (float
// arithmetic in the test could be fused differently): random quants and
// fp16 scales in [2^-9, 2^-7) for weights, activation quants in
// [-127, 127] with consistent Q8_K bsums, float values of moderate
// magnitude.
func portableRow(r *rand.Rand, typ gguf.GGMLType, n int) []byte {
	size, err := typ.RowBytes(n)
	if err != nil {
		panic(err)
	}
	b := make([]byte, size)
	switch typ {
	case gguf.TypeF32:
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], r.Uint32()&0x807fffff|uint32(120+r.IntN(14))<<23)
		}
	case gguf.TypeF16:
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(r.Uint32())&0x83ff|uint16(8+r.IntN(14))<<10)
		}
	case gguf.TypeBF16:
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(r.Uint32())&0x807f|uint16(120+r.IntN(14))<<7)
		}
	case gguf.TypeQ8_0:
		for off := 0; off < size; off += gguf.BlockQ8_0 {
			binary.LittleEndian.PutUint16(b[off:], uint16(0x1800+r.IntN(0x800)))
			for j := range gguf.QK8_0 {
				b[off+2+j] = byte(int8(r.IntN(255) - 127))
			}
		}
	case gguf.TypeQ8_K:
		for off := 0; off < size; off += gguf.BlockQ8_K {
			binary.LittleEndian.PutUint32(b[off:], uint32(0x3b000000+r.IntN(0x1000000)))
			for j := range gguf.QK_K / 16 {
				var s int16
				for k := range 16 {
					q := int8(r.IntN(255) - 127)
					b[off+q8KQOff+16*j+k] = byte(q)
					s += int16(q)
				}
				binary.LittleEndian.PutUint16(b[off+q8KBOff+2*j:], uint16(s))
			}
		}
	default:
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		for off := 0; off < size; off += typ.BlockBytes() {
			for _, f := range scaleFields[typ] {
				binary.LittleEndian.PutUint16(b[off+f:], uint16(0x1800+r.IntN(0x800)))
			}
		}
	}
	return b
}
