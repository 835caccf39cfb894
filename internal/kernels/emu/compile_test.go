//go:build mslemu

package emu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/kernels"
)

// The shim must reject what the Metal compiler rejects where it matters most:
// mixing address spaces. These tests run the C++ compiler directly.

func cxx(t *testing.T) string {
	for _, c := range []string{os.Getenv("CXX"), "clang++-16", "clang++"} {
		if p, err := exec.LookPath(c); c != "" && err == nil {
			return p
		}
	}
	t.Skip("no clang++ found (set CXX)")
	return ""
}

func compileMSL(t *testing.T, src string, flags ...string) (string, error) {
	t.Helper()
	return compile(t, map[string]string{"k.metal": src}, "k.metal", flags...)
}

// compile writes files into a temporary folder and checks the one named
// main as the emulator compiles it: C++14, the shim for <metal_stdlib>, the
// runtime's header.
func compile(t *testing.T, files map[string]string, main string, flags ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"-fsyntax-only", "-x", "c++", "-std=c++14", "-I.", "-Ishim", "-Wno-unknown-attributes"}, flags...)
	out, err := exec.Command(cxx(t), append(args, filepath.Join(dir, main))...).CombinedOutput()
	return string(out), err
}

func TestShimRejects(t *testing.T) {
	const head = "#include <metal_stdlib>\nusing namespace metal;\n"
	for _, tc := range []struct{ name, src, want string }{
		{"device to thread pointer",
			"float f(thread const float* p) { return p[0]; }\nkernel void k(device const float* a [[buffer(0)]]) { f(a); }",
			"no matching function"},
		{"threadgroup to device pointer",
			"void g(device float* p);\nkernel void k(threadgroup float* t [[threadgroup(0)]]) { g(t); }",
			"no matching function"},
		{"threadgroup array in a kernel body",
			"kernel void k(device float* a [[buffer(0)]]) { threadgroup float tmp[32]; tmp[0] = 1; a[0] = tmp[0]; }",
			"address space"},
		{"write to constant",
			"kernel void k(constant float* c [[buffer(0)]]) { c[0] = 1.0f; }",
			"not assignable"},
		{"vector length",
			"kernel void k(device float4* a [[buffer(0)]]) { a[0] = float4(float2(1.0f), 1.0f); }",
			"wrong number of vector components"},
		{"mixed argument types",
			"kernel void k(device float* a [[buffer(0)]]) { a[0] = max(a[1], 2); }",
			"ambiguous"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := compileMSL(t, head+tc.src)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("want a compile error containing %q, got %v:\n%s", tc.want, err, out)
			}
		})
	}
}

// TestProductKernelsCompileCleanly compiles the embedded library source, as
// newLibraryWithSource gets it, with warnings as errors.
func TestProductKernelsCompileCleanly(t *testing.T) {
	if out, err := compileMSL(t, kernels.Source(), "-Wall", "-Wextra", "-Werror"); err != nil {
		t.Errorf("%v:\n%s", err, out)
	}
}

// TestGlueInstantiates: the glue instantiates each host-named kernel as its
// line declares it, so clang rejects a function type that is not the
// template's, as the Metal compiler does.
func TestGlueInstantiates(t *testing.T) {
	const src = `#include <metal_stdlib>
using namespace metal;
template <typename T>
kernel void k_t(device float * x [[buffer(0)]], uint tid [[thread_position_in_grid]]) { x[tid] = float(T(tid)); }
kernel void k_other(device float * x [[buffer(0)]]) {}
typedef decltype(k_t<float>) k_t_t;
#ifndef EMU_METAL_STDLIB
template [[host_name("k_half")]] kernel %s k_t<half>;
#endif
`
	for typ, ok := range map[string]bool{"k_t_t": true, "decltype(k_t<int>)": true, "decltype(k_other)": false} {
		text := fmt.Sprintf(src, typ)
		glue, err := Glue("test", []SourceFile{{Include: "k.metal", Text: text}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := compile(t, map[string]string{"k.metal": text, "glue.cpp": string(glue)}, "glue.cpp")
		if (err == nil) != ok || !ok && !strings.Contains(out, "explicit instantiation") {
			t.Errorf("kernel %s k_t<half>: compiled %v, want %v:\n%s", typ, err == nil, ok, out)
		}
	}
}
