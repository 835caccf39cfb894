package metal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/synth"
)

// What one decoded token costs the CPU on the Metal backend, measured on
// the real device code (mtlDevice) over a runtime that only counts the
// messages of the hot path: the Go side of encoding, committing, waiting
// and reading back, for synthetic models of real shapes (zero weights: the
// fake GPU runs nothing).
//
//	go test ./internal/metal -run TestDecodeMessages -v
//	go test ./internal/metal -run '^$' -bench DecodeToken -benchtime 2000x

// encodeShapes are the synthetic presets measured: SmolLM2-1.7B (the
// product target), Qwen3-4B (GQA, head dim 128, per-head Q/K norms, a
// 152K vocabulary) and Qwen3.5-4B (DeltaNet layers).
var encodeShapes = []string{"smollm2-1.7b", "qwen3-4b", "qwen3.5-4b"}

const (
	// encodeContext positions, the first encodePrompt of them a prompt:
	// decode steps then attend over more than one chunk, as a decode
	// after a real prompt does.
	encodeContext = 1024
	encodePrompt  = 512
)

// countingRuntime is the Objective-C runtime of the measurements. Loading
// (device, library, pipelines, buffers) goes to the checking fake; once
// hot, the messages that encode, commit and wait on a command buffer are
// only counted, by selector, and answered with what a finished command
// buffer answers, so that a benchmark times the Go side alone.
type countingRuntime struct {
	*fakeRuntime
	hot    bool
	counts [64]int // hot messages by selector (the fake numbers them from 1)
	pools  int
}

// hotID stands for every object the hot path gets back (command buffers,
// encoders).
const hotID objcID = 0x7fff0000

func (c *countingRuntime) count(s objcSel) { c.counts[s]++ }

// messages is the number of hot messages so far.
func (c *countingRuntime) messages() int {
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// bySelector renders counts (a difference of two snapshots) per token,
// largest first.
func (c *countingRuntime) bySelector(counts [64]int, tokens int) string {
	type row struct {
		sel string
		n   int
	}
	var rows []row
	for s, n := range counts {
		if n > 0 {
			rows = append(rows, row{c.sels[objcSel(s)], n})
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return b.n - a.n })
	var parts []string
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%s %.1f", r.sel, float64(r.n)/float64(tokens)))
	}
	return strings.Join(parts, ", ")
}

func (c *countingRuntime) poolPush() uintptr {
	if c.hot {
		c.pools++
		return 1
	}
	return c.fakeRuntime.poolPush()
}

func (c *countingRuntime) poolPop(pool uintptr) {
	if !c.hot {
		c.fakeRuntime.poolPop(pool)
	}
}

func (c *countingRuntime) send(o objcID, s objcSel) {
	if !c.hot {
		c.fakeRuntime.send(o, s)
		return
	}
	c.count(s)
}

func (c *countingRuntime) sendO(o objcID, s objcSel, a objcID) {
	if !c.hot {
		c.fakeRuntime.sendO(o, s, a)
		return
	}
	c.count(s)
}

func (c *countingRuntime) sendU(o objcID, s objcSel, a uint) {
	if !c.hot {
		c.fakeRuntime.sendU(o, s, a)
		return
	}
	c.count(s)
}

func (c *countingRuntime) sendUU(o objcID, s objcSel, a, b uint) {
	if !c.hot {
		c.fakeRuntime.sendUU(o, s, a, b)
		return
	}
	c.count(s)
}

func (c *countingRuntime) sendOUU(o objcID, s objcSel, a objcID, b, d uint) {
	if !c.hot {
		c.fakeRuntime.sendOUU(o, s, a, b, d)
		return
	}
	c.count(s)
}

func (c *countingRuntime) sendSS(o objcID, s objcSel, a, b mtlSize) {
	if !c.hot {
		c.fakeRuntime.sendSS(o, s, a, b)
		return
	}
	c.count(s)
}

func (c *countingRuntime) sendPPR(o objcID, s objcSel, a, b unsafe.Pointer, r nsRange) {
	if !c.hot {
		c.fakeRuntime.sendPPR(o, s, a, b, r)
		return
	}
	c.count(s)
}

func (c *countingRuntime) obj(o objcID, s objcSel) objcID {
	if !c.hot {
		return c.fakeRuntime.obj(o, s)
	}
	c.count(s)
	if c.sels[s] == "error" {
		return 0
	}
	return hotID
}

func (c *countingRuntime) objU(o objcID, s objcSel, a uint) objcID {
	if !c.hot {
		return c.fakeRuntime.objU(o, s, a)
	}
	c.count(s)
	return hotID
}

func (c *countingRuntime) nsuint(o objcID, s objcSel) uint {
	if !c.hot {
		return c.fakeRuntime.nsuint(o, s)
	}
	c.count(s)
	return commandBufferStatusCompleted
}

func (c *countingRuntime) double(o objcID, s objcSel) float64 {
	if !c.hot {
		return c.fakeRuntime.double(o, s)
	}
	c.count(s)
	return 0
}

// fakeMetal makes a Metal backend of m on a device over a countingRuntime
// (cold: every message checked by the fake) that has every kernel.
func fakeMetal(tb testing.TB, m *engine.Model) (*countingRuntime, *Backend) {
	tb.Helper()
	f := newFakeRuntime(tb)
	f.anyKernel = true
	f.page = uintptr(os.Getpagesize()) // the file is mapped here, in this system's pages
	f.maxBuffer = 16 << 30             // an M-series GPU's order of magnitude: one view of the file
	rt := &countingRuntime{fakeRuntime: f}
	d, err := newMTLDevice(rt, testSource, nil)
	if err != nil {
		tb.Fatal(err)
	}
	d.page = int(f.page)
	return rt, newBackend(tb, d, m)
}

// decodeModes are the ways a token is decoded: Forward (the pass encoded,
// committed and waited for in one go, the logits read), and a Decoder's
// Next (logits) and NextGreedy (the token picked on the GPU), which
// encode each pass while the GPU runs the one before.
var decodeModes = []string{"forward", "next", "greedy"}

// encodeRig is a runner of a zero-weight synthetic model on a Metal
// backend over a countingRuntime, decoding after a prompt.
type encodeRig struct {
	rt   *countingRuntime
	r    *engine.Runner
	mode string
	dec  *engine.Decoder
	pos  int
}

func newEncodeRig(tb testing.TB, preset string) *encodeRig {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), preset+".gguf")
	if err := synth.WriteFile(path, preset, "q4_k_m", synth.Options{Zero: true}); err != nil {
		tb.Fatal(err)
	}
	m := enginetest.Open(tb, path)
	rt, b := fakeMetal(tb, m)
	r := enginetest.Runner(tb, m, b, engine.Options{Context: encodeContext, Batch: 64, CacheK: gguf.TypeF16, CacheV: gguf.TypeF16})
	g := &encodeRig{rt: rt, r: r}
	tb.Cleanup(g.closeDecoder)
	return g
}

// closeDecoder drops the pass the decoder encoded ahead, in the runtime
// that encoded it.
func (g *encodeRig) closeDecoder() {
	if g.dec != nil {
		g.dec.Close()
	}
}

// start evaluates the first encodePrompt positions and one decode step in
// the mode with the fake checking every message, then makes the runtime
// hot.
func (g *encodeRig) start(tb testing.TB, mode string) {
	g.closeDecoder()
	g.rt.hot = false
	g.mode, g.dec = mode, g.r.Decoder(mode == "greedy")
	tokens := make([]int32, 64)
	for g.pos = 0; g.pos < encodePrompt; g.pos += len(tokens) {
		if _, err := g.r.Forward(tokens, g.pos); err != nil {
			tb.Fatal(err)
		}
	}
	g.step(tb)
	g.rt.hot = true
}

// full reports whether the context is used up.
func (g *encodeRig) full() bool { return g.pos == encodeContext }

// step decodes one token.
func (g *encodeRig) step(tb testing.TB) {
	id := int32(g.pos)
	var err error
	switch g.mode {
	case "forward":
		_, err = g.r.Forward([]int32{id}, g.pos)
	case "next":
		_, err = g.dec.Next(id, g.pos)
	case "greedy":
		_, err = g.dec.NextGreedy(id, g.pos)
	}
	if err != nil {
		tb.Fatal(err)
	}
	g.pos++
}

// TestDecodeMessages logs the Objective-C messages of one decoded token
// per model shape and decode mode, by selector, and checks that it
// allocates at most the device's command buffer and the step.
func TestDecodeMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("writes multi-GB sparse models")
	}
	const tokens = 8
	for _, preset := range encodeShapes {
		g := newEncodeRig(t, preset)
		for _, mode := range decodeModes {
			g.start(t, mode)
			before, pools := g.rt.counts, g.rt.pools
			for range tokens {
				g.step(t)
			}
			var diff [64]int
			for i := range diff {
				diff[i] = g.rt.counts[i] - before[i]
			}
			total := 0
			for _, n := range diff {
				total += n
			}
			pools = g.rt.pools - pools
			allocs := testing.AllocsPerRun(tokens, func() { g.step(t) })
			t.Logf("%s %s: %.0f messages per token (%s; %.0f autorelease pools), %.0f allocations", preset, mode,
				float64(total)/tokens, g.rt.bySelector(diff, tokens), float64(pools)/tokens, allocs)
			if allocs > 2 {
				t.Errorf("%s %s: %.0f allocations per token", preset, mode, allocs)
			}
		}
	}
}

// BenchmarkDecodeToken times the Go side of one decoded token and counts
// its allocations and messages.
func BenchmarkDecodeToken(b *testing.B) {
	for _, preset := range encodeShapes {
		g := newEncodeRig(b, preset)
		for _, mode := range decodeModes {
			b.Run(preset+"/"+mode, func(b *testing.B) {
				g.start(b, mode)
				b.ReportAllocs()
				b.ResetTimer()
				msgs := 0
				for range b.N {
					if g.full() {
						b.StopTimer()
						g.start(b, mode)
						b.StartTimer()
					}
					before := g.rt.messages()
					g.step(b)
					msgs += g.rt.messages() - before
				}
				b.ReportMetric(float64(msgs)/float64(b.N), "msgs/token")
			})
		}
	}
}
