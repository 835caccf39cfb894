package gguf

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/testdata"
)

// sampleFile builds a small file exercising every metadata value type,
// nested arrays and tensors of several types.
func sampleFile(t testing.TB) []byte {
	t.Helper()
	meta := []KV{
		{"general.architecture", "llama"},
		{"general.alignment", uint32(64)},
		{"u8", uint8(7)}, {"i8", int8(-7)}, {"u16", uint16(700)}, {"i16", int16(-700)},
		{"u32", uint32(70000)}, {"i32", int32(-70000)}, {"f32", float32(1.5)}, {"bool", true},
		{"u64", uint64(1) << 40}, {"i64", int64(-1) << 40}, {"f64", 2.25},
		{"llama.embedding_length", uint32(64)},
		{"strings", Array{ValString, []string{"a", "", "ünï"}}},
		{"floats", Array{ValFloat32, []float32{1, 2, 3}}},
		{"nested", Array{ValArray, []Array{{ValInt32, []int32{1, 2}}, {ValString, []string{"x"}}}}},
		{"empty", Array{ValUint8, []uint8{}}},
	}
	tensors := []WriteTensor{
		{Name: "a", Type: TypeF32, Dims: []uint64{3, 2}, Data: constBytes(24)},
		{Name: "b", Type: TypeQ8_0, Dims: []uint64{64}, Data: constBytes(68)},
		{Name: "c", Type: TypeQ4_K, Dims: []uint64{256, 1, 1, 1}, Data: constBytes(144)},
	}
	var buf bytes.Buffer
	if err := Write(&buf, meta, tensors, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func constBytes(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		return b, nil
	}
}

func TestReadSample(t *testing.T) {
	f, err := parse(sampleFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Errorf("alignment %d, data offset %d", f.Alignment, f.DataOffset)
	}
	if n, ok := f.ArchInt("embedding_length"); !ok || n != 64 {
		t.Errorf("ArchInt(embedding_length) = %d, %v", n, ok)
	}
	if v, ok := f.Int("i64"); !ok || v != -1<<40 {
		t.Errorf("Int(i64) = %d, %v", v, ok)
	}
	if v, ok := f.Float("f32"); !ok || v != 1.5 {
		t.Errorf("Float(f32) = %v, %v", v, ok)
	}
	nested, _ := f.Array("nested")
	if got := nested.Values.([]Array)[1].Values.([]string)[0]; got != "x" {
		t.Errorf("nested[1][0] = %q", got)
	}
	c, ok := f.Tensor("c")
	if !ok || c.Size != 144 || c.Elems() != 256 {
		t.Fatalf("tensor c = %+v", c)
	}
	want, _ := constBytes(144)()
	if !bytes.Equal(f.TensorData(c), want) {
		t.Error("tensor c data differs")
	}
}

// TestRoundTrip reads every test model, writes it again and reads the copy:
// metadata and tensor bytes must be identical.
func TestRoundTrip(t *testing.T) {
	for _, path := range testdata.Models(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var tensors []WriteTensor
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				tensors = append(tensors, WriteTensor{Name: ti.Name, Type: ti.Type, Dims: ti.Dims,
					Data: func() ([]byte, error) { return f.TensorData(ti), nil }})
			}
			var buf bytes.Buffer
			if err := Write(&buf, f.Metadata, tensors, nil); err != nil {
				t.Fatal(err)
			}
			g, err := parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Metadata, g.Metadata) {
				t.Error("metadata differs after round trip")
			}
			for i := range f.Tensors {
				a, b := &f.Tensors[i], &g.Tensors[i]
				if a.Name != b.Name || a.Type != b.Type || !reflect.DeepEqual(a.Dims, b.Dims) || !bytes.Equal(f.TensorData(a), g.TensorData(b)) {
					t.Errorf("tensor %s differs after round trip", a.Name)
				}
			}
			// llama.cpp's writer lays files out the same way, so the copy is byte-identical.
			orig, _ := os.ReadFile(path)
			if !bytes.Equal(orig, buf.Bytes()) {
				t.Logf("note: copy of %s is not byte-identical (%d vs %d bytes)", path, len(orig), buf.Len())
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	good := sampleFile(t)
	le := binary.LittleEndian
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	// Offsets in the sample: magic 0, version 4, n_tensors 8, n_kv 16, first key 24.
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"empty", "not a GGUF file", nil},
		{"short", "not a GGUF file", []byte("GG")},
		{"magic", "not a GGUF file", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version", "unsupported GGUF version 9", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 9); return b })},
		{"tensor count", "claims", mutate(func(b []byte) []byte { le.PutUint64(b[8:], 1<<60); return b })},
		{"kv count", "claims", mutate(func(b []byte) []byte { le.PutUint64(b[16:], 1<<40); return b })},
		{"key length", "need", mutate(func(b []byte) []byte { le.PutUint64(b[24:], 1<<62); return b })},
		{"header only", "claims", good[:40]},
		{"cut in metadata", "end of file", good[:300]},
		{"truncated data", "outside", good[:len(good)-80]},
		{"array count", "does not fit", mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("floats")) + len("floats") + 4 + 4
			le.PutUint64(b[i:], 1<<50)
			return b
		})},
		{"value type", "unknown metadata value type", mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("u8")) + 2
			le.PutUint32(b[i:], 99)
			return b
		})},
		{"tensor type", "unsupported tensor type id 77", mutate(func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte{1, 0, 0, 0, 0, 0, 0, 0, 'c'}) + 9 + 4 + 4*8
			le.PutUint32(b[i:], 77)
			return b
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

// TestCorruptModels truncates and damages real models: every outcome is an
// error or a valid file, never a panic.
func TestCorruptModels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, path := range testdata.Models(t) {
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parse(orig)
		if err != nil {
			t.Fatal(err)
		}
		header := int(f.DataOffset)
		for i := 0; i < 200; i++ {
			cut := rng.IntN(len(orig))
			if _, err := parse(orig[:cut]); err == nil && cut < len(orig)-int(f.Alignment) {
				t.Errorf("%s truncated to %d bytes parsed without error", filepath.Base(path), cut)
			}
			b := append([]byte(nil), orig[:header]...)
			for j := 0; j < 1+rng.IntN(4); j++ {
				b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
			}
			parse(b)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notGGUF := filepath.Join(dir, "x.gguf")
	os.WriteFile(notGGUF, []byte("hello world, not a model"), 0o644)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.gguf"), "no such file"},
		{notGGUF, "not a GGUF file"},
		{dir, "not a regular file"},
	} {
		_, err := Open(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("Open(%s) = %v, want error naming the file and %q", c.path, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sampleFile(f))
	// Seed with the headers of the test models (their data regions are
	// large and uninteresting to the parser).
	if dir, ok := testdata.Find(); ok {
		models, _ := filepath.Glob(filepath.Join(dir, "models", "*.gguf"))
		for _, m := range models {
			if b, err := os.ReadFile(m); err == nil {
				if g, err := parse(b); err == nil {
					f.Add(b[:g.DataOffset])
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := parse(data)
		if err != nil {
			return
		}
		for i := range g.Tensors {
			_ = g.TensorData(&g.Tensors[i])
		}
	})
}

// TestOverlappingTensors: a tensor whose data starts inside another's is
// refused with one line naming both, as llama.cpp refuses it; tensors that
// merely touch are fine.
func TestOverlappingTensors(t *testing.T) {
	data := func() ([]byte, error) { return make([]byte, 64), nil }
	var buf bytes.Buffer
	err := Write(&buf, []KV{{Key: "general.architecture", Value: "llama"}}, []WriteTensor{
		{Name: "first", Type: TypeF32, Dims: []uint64{16}, Data: data},
		{Name: "second", Type: TypeF32, Dims: []uint64{16}, Data: data},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if _, err := parse(good); err != nil {
		t.Fatalf("adjacent tensors: %v", err)
	}
	// The second tensor's info ends with its offset (64): move it to 32.
	bad := append([]byte(nil), good...)
	at := bytes.Index(bad, []byte("second")) + len("second") + 4 + 8 + 4
	if got := binary.LittleEndian.Uint64(bad[at:]); got != 64 {
		t.Fatalf("offset of second at %d reads %d", at, got)
	}
	binary.LittleEndian.PutUint64(bad[at:], 32)
	_, err = parse(bad)
	if err == nil || !strings.Contains(err.Error(), `"first"`) || !strings.Contains(err.Error(), `"second"`) ||
		!strings.Contains(err.Error(), "overlap") || strings.Contains(err.Error(), "\n") {
		t.Errorf("overlapping tensors: %v", err)
	}
}
