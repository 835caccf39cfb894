//go:build mslemu

package emu

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/kernels"
)

// The kernels in testdata/broken.metal each carry one bug; these tests prove
// the emulator catches it.

const brokenFile = "testdata/broken.metal"

func TestBrokenMissingBarrier(t *testing.T) {
	for _, s := range Schedules(seedFor(t)) {
		rng := newRand(t)
		got, want, err := runRmsNorm("broken_rms_norm_no_barrier", 3, 300, 256, s, rng)
		if err != nil {
			t.Fatalf("%v: unexpected error: %v", s, err)
		}
		if mismatch(got, want, relTol(want, 1e-5)) == "" {
			t.Errorf("%v: missing barrier not caught: results match the reference", s)
		}
		if s.Order == Forward && !math.IsNaN(float64(got[0])) {
			t.Errorf("%v: want NaN from unwritten threadgroup memory, got %g", s, got[0])
		}
		// The same shapes pass with the barrier in place.
		if got, want, err := runRmsNorm("kernel_rms_norm", 3, 300, 256, s, rng); err != nil || mismatch(got, want, relTol(want, 1e-5)) != "" {
			t.Errorf("%v: the correct kernel fails: %v", s, err)
		}
	}
}

// wantError checks that err reports a broken.metal call site and phrase.
func wantError(t *testing.T, s Schedule, err error, mark, phrase string) {
	t.Helper()
	where := fmt.Sprintf("broken.metal:%d", markLine(t, brokenFile, mark))
	if err == nil {
		t.Fatalf("%v: no error, want one mentioning %s", s, where)
	}
	if !strings.Contains(err.Error(), where) || !strings.Contains(err.Error(), phrase) {
		t.Errorf("%v: error %q does not mention %s and %q", s, err, where, phrase)
	}
}

func TestBrokenDivergentBarrier(t *testing.T) {
	for _, s := range Schedules(seedFor(t)) {
		_, _, err := runRmsNorm("broken_rms_norm_divergent_barrier", 2, 100, 64, s, newRand(t))
		wantError(t, s, err, "divergent barrier", "divergent control flow")
	}
}

func TestBrokenBarrierAfterReturn(t *testing.T) {
	const n, group = 100, 64
	for _, s := range Schedules(seedFor(t)) {
		err := Run(Dispatch{
			Kernel:      "broken_barrier_after_return",
			Bytes:       map[int][]byte{0: kernels.Bytes(&kernels.ElementwiseArgs{N: n})},
			Buffers:     map[int]Binding{1: {Data: f32Bytes(randF32(newRand(t), n))}, 2: {Data: nanBuffer(n)}},
			Threadgroup: map[int]int{0: 4 * group},
			Grid:        [3]int{ceilDiv(n, group), 1, 1},
			Group:       [3]int{group, 1, 1},
		}, s)
		wantError(t, s, err, "barrier after return", "returned")
		if err != nil && !strings.Contains(err.Error(), "threadgroup (1,0,0)") {
			t.Errorf("%v: error %q does not name threadgroup (1,0,0)", s, err)
		}
	}
}

func TestBrokenDivergentSimdSum(t *testing.T) {
	for _, s := range Schedules(seedFor(t)) {
		err := Run(Dispatch{
			Kernel:  "broken_simd_sum_divergent",
			Buffers: map[int]Binding{1: {Data: f32Bytes(randF32(newRand(t), 64))}, 2: {Data: nanBuffer(64)}},
			Grid:    [3]int{1, 1, 1},
			Group:   [3]int{64, 1, 1},
		}, s)
		wantError(t, s, err, "divergent simd_sum", "lanes 0-15 wait at simd_sum")
	}
}

// Out-of-bounds accesses: without ASan the guard bytes around every buffer
// catch writes (an error) and poison reads (NaN); with ASan the process dies
// with ASan's report, so those cases run in a child process.

func offByOneDispatch(n int) Dispatch {
	return Dispatch{
		Kernel:  "broken_add_off_by_one",
		Bytes:   map[int][]byte{0: kernels.Bytes(&kernels.ElementwiseArgs{N: int32(n)})},
		Buffers: map[int]Binding{1: {Data: nanBuffer(n)}, 2: {Data: nanBuffer(n)}},
		Grid:    [3]int{ceilDiv(n+1, 64), 1, 1},
		Group:   [3]int{64, 1, 1},
	}
}

func TestBrokenOffByOne(t *testing.T) {
	if asanBuild {
		wantASanReport(t, "off-by-one", "broken_add_off_by_one", "off by one")
		return
	}
	for _, s := range Schedules(seedFor(t)) {
		err := Run(offByOneDispatch(100), s)
		if err == nil || !strings.Contains(err.Error(), "wrote outside the 400-byte buffer bound at buffer(1)") {
			t.Errorf("%v: off-by-one write not reported: %v", s, err)
		}
	}
}

func TestBrokenReadPastEnd(t *testing.T) {
	if asanBuild {
		wantASanReport(t, "read-past-end", "broken_rms_norm_read_past_end", "read past end")
		return
	}
	for _, s := range Schedules(seedFor(t)) {
		got, want, err := runRmsNorm("broken_rms_norm_read_past_end", 2, 100, 64, s, newRand(t))
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if !math.IsNaN(float64(got[len(got)-1])) {
			t.Errorf("%v: reading past the end of src should give NaN in the last row, got %g", s, got[len(got)-1])
		}
		if mismatch(got[:100], want[:100], relTol(want, 1e-5)) == "" {
			t.Errorf("%v: reading the next row's element not caught", s)
		}
	}
}

// TestASanChild runs one out-of-bounds case in a child process of an ASan
// build (see wantASanReport); it does nothing otherwise.
func TestASanChild(t *testing.T) {
	switch os.Getenv("EMU_ASAN_CHILD") {
	case "off-by-one":
		t.Log(Run(offByOneDispatch(100), Schedule{}))
	case "read-past-end":
		_, _, err := runRmsNorm("broken_rms_norm_read_past_end", 2, 100, 64, Schedule{}, newRand(t))
		t.Log(err)
	default:
		t.Skip("runs only as a child of TestBrokenOffByOne/TestBrokenReadPastEnd under ASan")
	}
	t.Error("AddressSanitizer did not stop the process")
}

// wantASanReport runs a child that must die with an ASan report naming the
// kernel and, when the binary has symbols (go test -c), the marked line.
func wantASanReport(t *testing.T, child, kernel, mark string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestASanChild$", "-test.v")
	cmd.Env = append(os.Environ(), "EMU_ASAN_CHILD="+child)
	if os.Getenv("ASAN_SYMBOLIZER_PATH") == "" {
		for _, p := range []string{"/usr/lib/llvm-16/bin/llvm-symbolizer", "/usr/bin/llvm-symbolizer"} {
			if _, err := os.Stat(p); err == nil {
				cmd.Env = append(cmd.Env, "ASAN_SYMBOLIZER_PATH="+p)
				break
			}
		}
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child exited cleanly; want an AddressSanitizer report:\n%s", out)
	}
	if !strings.Contains(string(out), "ERROR: AddressSanitizer") {
		t.Fatalf("no AddressSanitizer report (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "emu: the error above happened in kernel "+kernel) {
		t.Errorf("ASan report does not name kernel %s:\n%s", kernel, out)
	}
	where := fmt.Sprintf("broken.metal:%d", markLine(t, brokenFile, mark))
	if strings.Contains(string(out), "broken.metal:") && !strings.Contains(string(out), where) {
		t.Errorf("ASan report does not point at %s:\n%s", where, out)
	}
}
