package metal

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
	"github.com/quant-llm/quant/internal/testdata"
)

// countingDevice records what the backend asks of a device without running
// anything: enough to check the command-buffer and allocation discipline.
// Its hooks play the GPU's part where a test needs one.
type countingDevice struct {
	maxLen     int
	allocs     int
	runs       int        // command buffers committed
	dispatches []Dispatch // of the last command buffer committed
	// events logs "encode", "commit" and "wait" (as it returns) in order.
	events  []string
	running *countingCB
	// onCommit and onWait, when set, see a command buffer's dispatches
	// when it is committed and before its wait returns.
	onCommit, onWait func(ds []Dispatch)
}

type hostBuffer struct{ data []byte }

func (b *hostBuffer) Contents() []byte { return b.data }

// namedPipeline is any kernel: the counting device runs none.
type namedPipeline string

func (p namedPipeline) Kernel() string { return string(p) }

// countingCB is an encoded command buffer: a copy of its dispatches.
type countingCB struct {
	d         *countingDevice
	ds        []Dispatch
	committed bool
}

func (d *countingDevice) Name() string         { return "counting" }
func (d *countingDevice) MaxBufferLength() int { return d.maxLen }
func (d *countingDevice) NewBuffer(size int) (Buffer, error) {
	d.allocs++
	return &hostBuffer{make([]byte, size)}, nil
}
func (d *countingDevice) WrapNoCopy(data []byte) (Buffer, error) { return &hostBuffer{data}, nil }
func (d *countingDevice) Pipeline(kernel string) (Pipeline, error) {
	return namedPipeline(kernel), nil
}

func (d *countingDevice) Encode(ds []Dispatch) (CommandBuffer, error) {
	d.events = append(d.events, "encode")
	cb := &countingCB{d: d}
	for _, rec := range ds { // the backend reuses what ds refers to
		rec.Args, rec.Buffers, rec.Threadgroup = slices.Clone(rec.Args), slices.Clone(rec.Buffers), slices.Clone(rec.Threadgroup)
		cb.ds = append(cb.ds, rec)
	}
	return cb, nil
}

func (c *countingCB) Commit() error {
	d := c.d
	if c.committed || d.running != nil {
		return errors.New("counting: commit of a command buffer committed before, or while another runs")
	}
	c.committed, d.running = true, c
	d.events = append(d.events, "commit")
	d.runs++
	d.dispatches = c.ds
	if d.onCommit != nil {
		d.onCommit(c.ds)
	}
	return nil
}

func (c *countingCB) Wait() (time.Duration, error) {
	d := c.d
	if d.running != c {
		return 0, errors.New("counting: wait for a command buffer not running")
	}
	d.running = nil
	if d.onWait != nil {
		d.onWait(c.ds)
	}
	d.events = append(d.events, "wait")
	return time.Millisecond, nil
}

func (c *countingCB) Discard() { c.d.events = append(c.d.events, "discard") }

func (d *countingDevice) Close() error { return nil }

func openRunner(t *testing.T, name string, dev Device) *engine.Runner {
	t.Helper()
	m := enginetest.Open(t, testdata.Path(t, "models", name))
	return enginetest.Runner(t, m, newBackend(t, dev, m), engine.Options{Context: 128, Batch: 32})
}

// TestOneCommandBufferPerToken: each decoded token is one commit, and
// nothing is allocated after load.
func TestOneCommandBufferPerToken(t *testing.T) {
	dev := &countingDevice{maxLen: 1 << 30}
	r := openRunner(t, "tiny-llama-q4_k_m.gguf", dev)
	allocs := dev.allocs
	if _, err := r.Forward([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0); err != nil {
		t.Fatal(err)
	}
	for pos := 10; pos < 20; pos++ {
		runs := dev.runs
		if _, err := r.Forward([]int32{5}, pos); err != nil {
			t.Fatal(err)
		}
		if dev.runs != runs+1 {
			t.Fatalf("token at %d: %d command buffers", pos, dev.runs-runs)
		}
	}
	if dev.allocs != allocs {
		t.Errorf("%d buffers allocated after load", dev.allocs-allocs)
	}
	// One decode step: embedding to logits, with barriers only on hazards.
	kernels := map[string]int{}
	barriers := 0
	for _, d := range dev.dispatches {
		kernels[strings.TrimSuffix(strings.SplitN(d.Pipeline.Kernel(), "_q", 2)[0], "_")]++
		if d.Barrier {
			barriers++
		}
	}
	first, last := dev.dispatches[0].Pipeline.Kernel(), dev.dispatches[len(dev.dispatches)-1].Pipeline.Kernel()
	if first != "kernel_get_rows_q4_K" || !strings.HasPrefix(last, "kernel_mul_mv_") {
		t.Errorf("token starts with %s and ends with %s", first, last)
	}
	if barriers == 0 || barriers >= len(dev.dispatches) {
		t.Errorf("%d barriers for %d dispatches", barriers, len(dev.dispatches))
	}
	t.Logf("%d dispatches, %d barriers per token: %v", len(dev.dispatches), barriers, kernels)
}

// TestRunnersShareBackend: a runner made after another on the same backend
// leaves the first one's scratch alone (the counting device runs nothing, so
// this checks the token ids; the emulated and real devices check the rest).
func TestRunnersShareBackend(t *testing.T) {
	checkSharedBackend(t, func(*testing.T) Device { return &countingDevice{maxLen: 1 << 30} })
}

// checkSharedBackend runs two runners on one backend, interleaved: a long
// one, whose batches and split-attention decode steps need more scratch than
// the other's, and a short one made after it. Each must compute what the
// same runner computes on a backend of its own.
func checkSharedBackend(t *testing.T, newDev func(t *testing.T) Device) {
	m := enginetest.Open(t, testdata.Path(t, "models", "tiny-llama-q4_k_m.gguf"))
	shared := newBackend(t, newDev(t), m)
	long := engine.Options{Context: 2 * kernels.AttnChunk, Batch: 32}
	short := engine.Options{Context: 16, Batch: 4}
	var got, want []*engine.Runner
	for _, opts := range []engine.Options{long, short} {
		got = append(got, enginetest.Runner(t, m, shared, opts))
		want = append(want, enginetest.Runner(t, m, newBackend(t, newDev(t), m), opts))
	}
	tokens := make([]int32, long.Batch)
	for i := range tokens {
		tokens[i] = int32(1 + 7*i%(m.Vocab-1))
	}
	for _, s := range []struct {
		runner, n, pos int
	}{
		{0, long.Batch, 0},
		{1, short.Batch, 0},
		{0, 1, kernels.AttnChunk + 8}, // two chunks; the short runner's context has one
		{1, 1, short.Batch},
	} {
		w, err := want[s.runner].Forward(tokens[:s.n], s.pos)
		if err != nil {
			t.Fatal(err)
		}
		g, err := got[s.runner].Forward(tokens[:s.n], s.pos)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(g, w) {
			t.Errorf("runner %d, %d tokens at %d: logits differ from those of a backend of its own", s.runner, s.n, s.pos)
		}
	}
}

// TestFileViews: a file larger than the largest buffer is covered by
// overlapping views and every tensor lies whole in one.
func TestFileViews(t *testing.T) {
	m := enginetest.Open(t, testdata.Path(t, "models", "tiny-llama-f32.gguf"))
	f := m.File
	maxTensor := 0
	for i := range f.Tensors {
		maxTensor = max(maxTensor, int(f.Tensors[i].Size))
	}
	dev := &countingDevice{maxLen: 2*maxTensor + 3*16384}
	b := newBackend(t, dev, m)
	if len(b.views) < 2 {
		t.Fatalf("%d views of a %d-byte file with %d-byte buffers", len(b.views), len(f.Bytes()), dev.maxLen)
	}
	for _, u := range m.Weights() {
		if err := b.PrepareWeight(u.W, u.Role); err != nil {
			t.Errorf("%s: %v", u.W.Name, err)
		}
	}
}

func TestUnsupportedWeight(t *testing.T) {
	b := &Backend{}
	err := b.PrepareWeight(&engine.Weight{Name: "blk.0.attn_q.weight", Type: gguf.TypeQ8_1}, engine.RoleMatMul)
	if err == nil || !strings.Contains(err.Error(), "Q8_1") {
		t.Errorf("err = %v", err)
	}
}
