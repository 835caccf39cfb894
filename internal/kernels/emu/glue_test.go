package emu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGlueUpToDate(t *testing.T) {
	files, err := GeneratedGlue(".")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s is stale: run go generate ./internal/kernels/emu", name)
		}
	}
}

func TestParseKernels(t *testing.T) {
	ks, err := ParseKernels(`
// kernel void commented_out(device float* x [[buffer(0)]]) {}
kernel void k(device const float4 * a [[ buffer(2) ]], constant Args & args [[buffer(0)]],
              threadgroup float * tmp [[threadgroup(1)]], /* a comment */
              uint3 tgpig[[threadgroup_position_in_grid]]) {}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 || ks[0].Name != "k" || len(ks[0].Params) != 4 {
		t.Fatalf("got %+v", ks)
	}
	want := []Param{
		{"device const float4 *", "a", "buffer", 2},
		{"constant Args &", "args", "buffer", 0},
		{"threadgroup float *", "tmp", "threadgroup", 1},
		{"uint3", "tgpig", "threadgroup_position_in_grid", 0},
	}
	for i, p := range ks[0].Params {
		if p != want[i] {
			t.Errorf("param %d: got %+v, want %+v", i, p, want[i])
		}
	}
	const tmpl = `template <typename B, short N = 2>
kernel void k_t(device const char * w [[buffer(1)]], uint tid [[thread_position_in_grid]]) {}
typedef decltype(k_t<int>) k_t_t;
`
	for src, msg := range map[string]string{
		`kernel void t(device float* x) {}`:                                     "want `type name [[attribute]]`",
		`kernel void t(float x [[buffer(0)]]) {}`:                               "needs a pointer",
		`kernel void t(uint q [[quadgroup_index_in_threadgroup]]) {}`:           "not supported by the emulator",
		`template <typename T> kernel void t(device T* x [[buffer(0)]]) {}`:     "depends on template parameter T",
		tmpl + `template [[host_name("k_f32")]] kernel k_t_t k_missing<float>;`: "k_missing is not a kernel template",
		tmpl + `template [[host_name("k f32")]] kernel k_t_t k_t<float>;`:       "want an identifier",
		tmpl + `template [[host_name("k_f32")]] kernel k_t_t k_t;`:              "want `kernel type template<arguments>;`",
	} {
		if _, err := ParseKernels(src); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want an error containing %q", src, err, msg)
		}
	}
}

// TestParseTemplateKernels: a kernel template is no entry point itself;
// each host-named instantiation is one, which calls the template with its
// arguments, takes its parameters and keeps its declaration for the glue
// to instantiate.
func TestParseTemplateKernels(t *testing.T) {
	ks, err := ParseKernels(`
template <typename B>
kernel void k_t(
        constant Args & args [[buffer(0)]],
        device const char * w [[buffer(1)]],
        uint tid [[thread_position_in_grid]]) {}

kernel void plain(device float * x [[buffer(0)]]) {}

typedef decltype(k_t<blk_a>) k_t_t;

#ifndef EMU_METAL_STDLIB
template [[host_name("k_a")]] kernel k_t_t k_t<blk_a>;
template [[ host_name( "k_b" ) ]]  kernel decltype(k_t<blk_a>)  k_t< blk_b,  1 >;
#endif`)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, call, instance string }{
		{"plain", "plain", ""},
		{"k_a", "k_t<blk_a>", "k_t_t k_t<blk_a>"},
		{"k_b", "k_t<blk_b, 1>", "decltype(k_t<blk_a>) k_t< blk_b, 1 >"},
	}
	if len(ks) != len(want) {
		t.Fatalf("got %+v", ks)
	}
	for i, w := range want {
		if ks[i].Name != w.name || ks[i].Call != w.call || ks[i].Instance != w.instance {
			t.Errorf("kernel %d: got %s calling %s instantiating %q, want %s calling %s instantiating %q",
				i, ks[i].Name, ks[i].Call, ks[i].Instance, w.name, w.call, w.instance)
		}
	}
	if p := ks[1].Params; len(p) != 3 || p[1] != (Param{"device const char *", "w", "buffer", 1}) {
		t.Errorf("k_a's parameters: %+v", p)
	}
}

// TestBuiltinRules: each kernel in testdata/attributes breaks one of MSL's
// rules on the types of built-in inputs (checkBuiltins) and its file says,
// in a line "// want: ...", the error the glue generator must give; the
// same kernel with the declarations ggml-metal uses is accepted.
func TestBuiltinRules(t *testing.T) {
	files, err := filepath.Glob("testdata/attributes/*.metal")
	if err != nil || len(files) == 0 {
		t.Fatalf("no kernels in testdata/attributes: %v", err)
	}
	for _, name := range files {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		_, want, ok := strings.Cut(string(text), "// want: ")
		want, _, _ = strings.Cut(want, "\n")
		if !ok || want == "" {
			t.Fatalf("%s: no line // want: <error>", name)
		}
		if _, err := Glue("test", []SourceFile{{Include: name, Text: string(text)}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, want)
		}
	}
	const rope = `kernel void k(device float * x [[buffer(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tiitg [[thread_index_in_threadgroup]],
        ushort3 ntg [[threads_per_threadgroup]], ushort tiisg [[thread_index_in_simdgroup]]) {}`
	if _, err := ParseKernels(rope); err != nil {
		t.Errorf("ggml-metal's declarations: %v", err)
	}
}
