package gguf

import (
	"testing"

	"github.com/quant-llm/quant/internal/testdata"
)

// testTensor is one tensor of a test model, its data aliasing the file
// mapping (valid until the test ends).
type testTensor struct {
	typ  GGMLType
	dims []uint64
	data []byte
}

// elems is the number of values in the tensor.
func (tt testTensor) elems() int {
	n := 1
	for _, d := range tt.dims {
		n *= int(d)
	}
	return n
}

// readTestTensors opens models/<name> in the test data folder and returns its
// tensors by name. The file is closed when the test ends.
func readTestTensors(t testing.TB, name string) map[string]testTensor {
	t.Helper()
	f, err := Open(testdata.Path(t, "models", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out := make(map[string]testTensor, len(f.Tensors))
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		out[ti.Name] = testTensor{typ: ti.Type, dims: ti.Dims, data: f.TensorData(ti)}
	}
	return out
}
