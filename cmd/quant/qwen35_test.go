package main

import (
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/testdata"
)

// rewriteModel writes a copy of the GGUF at path with edit applied to its
// metadata and tensors (edit may drop, add or change entries).
func rewriteModel(t *testing.T, path string, edit func(meta []gguf.KV, tensors []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor)) string {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := append([]gguf.KV(nil), f.Metadata...)
	var tensors []gguf.WriteTensor
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data := append([]byte(nil), f.TensorData(ti)...)
		tensors = append(tensors, gguf.WriteTensor{Name: ti.Name, Type: ti.Type, Dims: ti.Dims,
			Data: func() ([]byte, error) { return data, nil }})
	}
	meta, tensors = edit(meta, tensors)
	return writeModel(t, meta, tensors)
}

// setKey replaces (or, with a nil value, removes) a metadata entry.
func setKey(meta []gguf.KV, key string, value any) []gguf.KV {
	var out []gguf.KV
	for _, kv := range meta {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	if value != nil {
		out = append(out, gguf.KV{Key: key, Value: value})
	}
	return out
}

// TestQwen35BadFiles: broken Qwen3.5 files fail to load with one line
// naming the key or tensor at fault.
func TestQwen35BadFiles(t *testing.T) {
	model := testdata.Path(t, "qwen35", "tiny-qwen35-F32.gguf")
	metaEdit := func(key string, value any) func([]gguf.KV, []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
		return func(meta []gguf.KV, ts []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
			return setKey(meta, key, value), ts
		}
	}
	tensorEdit := func(name string, change func(*gguf.WriteTensor) bool) func([]gguf.KV, []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
		return func(meta []gguf.KV, ts []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
			var out []gguf.WriteTensor
			for _, tt := range ts {
				if tt.Name != name || change(&tt) {
					out = append(out, tt)
				}
			}
			return meta, out
		}
	}
	drop := func(*gguf.WriteTensor) bool { return false }
	cases := []struct {
		name string
		edit func([]gguf.KV, []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor)
		want string
	}{
		{"missing ssm tensor", tensorEdit("blk.1.ssm_a", drop), "missing tensor blk.1.ssm_a"},
		{"missing conv", tensorEdit("blk.0.ssm_conv1d.weight", drop), "missing tensor blk.0.ssm_conv1d.weight"},
		{"missing attention gate", tensorEdit("blk.2.attn_gate.weight", drop), "missing tensor blk.2.attn_gate.weight"},
		{"wrong shape", tensorEdit("blk.0.ssm_alpha.weight", func(w *gguf.WriteTensor) bool {
			w.Dims = []uint64{w.Dims[1], w.Dims[0]}
			return true
		}), "tensor blk.0.ssm_alpha.weight has shape"},
		{"inner size", metaEdit("qwen35.ssm.inner_size", uint32(100)), "qwen35.ssm.inner_size = 100"},
		{"value heads not a multiple of key heads", func(meta []gguf.KV, ts []gguf.WriteTensor) ([]gguf.KV, []gguf.WriteTensor) {
			meta = setKey(meta, "qwen35.ssm.time_step_rank", uint32(3))
			return setKey(meta, "qwen35.ssm.inner_size", uint32(96)), ts
		}, "not a multiple of ssm.group_count"},
		{"missing state size", metaEdit("qwen35.ssm.state_size", nil), "missing metadata qwen35.ssm.state_size"},
		{"missing rope sections", metaEdit("qwen35.rope.dimension_sections", nil), "missing metadata qwen35.rope.dimension_sections"},
		{"short rope sections", metaEdit("qwen35.rope.dimension_sections", gguf.Array{Elem: gguf.ValInt32, Values: []int32{3, 3}}),
			"rope.dimension_sections must be 4 integers"},
		{"recurrent layers", metaEdit("qwen35.attention.recurrent_layers", gguf.Array{Elem: gguf.ValBool, Values: []bool{true, false}}),
			"one flag per layer (4)"},
		{"head counts", metaEdit("qwen35.attention.head_count_kv", uint32(3)), "inconsistent attention shape"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rewriteModel(t, model, c.edit)
			for _, args := range [][]string{{"run", path, "-p", "hi", "-n", "1"}, {"bench", path, "-p", "8", "-n", "2", "-r", "1"}} {
				_, _, err := quant(t, args...)
				if err == nil {
					t.Fatalf("%s: no error", args[0])
				}
				if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
					t.Errorf("%s: error %q: want one line containing %q", args[0], err, c.want)
				}
			}
		})
	}
}

// TestQwen35Info: quant info shows the hybrid layout and the state that
// replaces the KV cache in recurrent layers.
func TestQwen35Info(t *testing.T) {
	model := testdata.Path(t, "qwen35", "tiny-qwen35-F32.gguf")
	info := infoJSON(t, model)
	// 3 layers x (3 x 256 conv values + 4 heads x 32 x 32) floats.
	if len(info.RecurrentLayers) != 3 || info.RecurrentLayers[2] != 2 || info.HeadDim != 64 ||
		info.DeltaNet == nil || info.DeltaNet.VHeads != 4 || info.StateBytes != 3*4*(3*256+4*32*32) {
		t.Errorf("info %+v", info)
	}
	text, _, err := quant(t, "info", model)
	if err != nil || !strings.Contains(text, "gated deltanet 0-2; gated attention 3") {
		t.Errorf("info text %q, %v", text, err)
	}
}

// TestQwen35Chat: an interactive chat of two turns runs on a hybrid model
// (the engine's session tests check the recurrent state across turns).
func TestQwen35Chat(t *testing.T) {
	model := testdata.Path(t, "qwen35", "tiny-qwen35-F32.gguf")
	out, _, err := quantStdin(t, "Hello!\nHow are you?\n", "run", model, "--chat", "-n", "6", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") < 2 {
		t.Errorf("chat output %q: want two replies", out)
	}
}
