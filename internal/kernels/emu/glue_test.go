package emu

import (
	"os"
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
	for src, msg := range map[string]string{
		`template <typename T> kernel void t(device T* x [[buffer(0)]]) {}`: "must not be templates",
		`kernel void t(device float* x) {}`:                                 "want `type name [[attribute]]`",
		`kernel void t(float x [[buffer(0)]]) {}`:                           "needs a pointer",
		`kernel void t(uint q [[quadgroup_index_in_threadgroup]]) {}`:       "not supported by the emulator",
	} {
		if _, err := ParseKernels(src); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want an error containing %q", src, err, msg)
		}
	}
}
