package metal

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/enginetest"
	"github.com/quant-llm/quant/internal/testdata"
)

// TestDecodeOverlapsEncoding: greedy generation on the Metal backend
// encodes token t+1's pass while the device runs token t's (before t's
// wait returns), writes each sampled id where the pass reads it before the
// commit, commits and waits once per token, and takes the token the GPU
// picked. The counting device plays the GPU: its argmax answers a script.
func TestDecodeOverlapsEncoding(t *testing.T) {
	dev := &countingDevice{maxLen: 1 << 30}
	m := enginetest.Open(t, testdata.Path(t, "models", "tiny-llama-q4_k_m.gguf"))
	r := enginetest.Runner(t, m, newBackend(t, dev, m), engine.Options{Context: 64, Batch: 16})
	script := []int32{7, 3, 11, 5, 2}
	picks, committed := 0, []int32{}
	dev.onCommit = func(ds []Dispatch) {
		if ids := ds[0].Buffers[1]; ds[0].Grid[0] == 1 { // one token's pass: get_rows reads its id
			committed = append(committed, int32s(ids.Buf.Contents()[ids.Off:])[0])
		}
	}
	dev.onWait = func(ds []Dispatch) {
		if last := ds[len(ds)-1]; last.Pipeline.Kernel() == "kernel_argmax" {
			out := int32s(last.Buffers[1].Buf.Contents())
			out[0], out[1] = script[picks], 0
			picks++
		}
	}
	dev.events = nil
	var emitted []int32
	_, err := engine.NewSession(r).Generate(context.Background(), []int32{1, 2, 3, 4}, 1+len(script),
		engine.NewSampler(engine.SamplerConfig{}), func(int32) bool { return false },
		func(id int32) error { emitted = append(emitted, id); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// The prompt's logits are zeros here (nothing runs): the first token is 0.
	if want := append([]int32{0}, script...); !slices.Equal(emitted, want) {
		t.Errorf("emitted %v, want %v: the tokens the GPU picked", emitted, want)
	}
	if want := append([]int32{0}, script[:len(script)-1]...); !slices.Equal(committed, want) {
		t.Errorf("ids in the passes' buffer at their commits: %v, want the tokens evaluated, %v", committed, want)
	}
	// The prompt's pass, then each decoded token's: started, the next one
	// encoded, then the wait; the last one encoded ahead is dropped.
	want := []string{"encode", "commit", "wait", "encode"}
	for range script {
		want = append(want, "commit", "encode", "wait")
	}
	want = append(want, "discard")
	if !slices.Equal(dev.events, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(dev.events, " "), strings.Join(want, " "))
	}
}

// TestDecodeOnMetal: the same on the real device code over the checking
// fake runtime: for each token the next command buffer is made and encoded
// between the commit and the waitUntilCompleted, the id is in the buffer
// get_rows reads at the commit, no pipeline is made after load, and every
// object is released.
func TestDecodeOnMetal(t *testing.T) {
	m := enginetest.Open(t, testdata.Path(t, "models", "tiny-llama-q4_k_m.gguf"))
	rt, b := fakeMetal(t, m)
	f := rt.fakeRuntime
	r := enginetest.Runner(t, m, b, engine.Options{Context: 64, Batch: 16})
	loaded := len(f.calls)
	var committed []int32
	f.onCommit = func(cb objcID) {
		// The command buffer's first dispatch is get_rows; its ids are
		// bound at 2 (after the arguments and the table).
		enc := f.objects[cb].encoders[0]
		i := slices.IndexFunc(f.calls, func(c fakeCall) bool {
			return c.recv == enc && c.sel == "dispatchThreadgroups:threadsPerThreadgroup:"
		})
		committed = append(committed, int32s(f.boundBytes(f.calls[i], 2))[0])
	}
	prompt := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9} // a matrix-matrix batch
	if _, err := r.Forward(prompt, 0); err != nil {
		t.Fatal(err)
	}
	from := len(f.calls)
	committed = nil
	dec := r.Decoder(true)
	ids := []int32{10, 11, 12, 13}
	for i, id := range ids {
		if _, err := dec.NextGreedy(id, len(prompt)+i); err != nil {
			t.Fatal(err)
		}
	}
	dec.Close()
	if !slices.Equal(committed, ids) {
		t.Errorf("ids at the commits %v, want %v", committed, ids)
	}
	var order []string
	for _, c := range f.calls[from:] {
		switch c.sel {
		case "commandBufferWithUnretainedReferences":
			order = append(order, "new")
		case "commit", "waitUntilCompleted":
			order = append(order, c.sel)
		}
	}
	want := []string{"new"}
	for range ids {
		want = append(want, "commit", "new", "waitUntilCompleted")
	}
	if !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if sels := selectors(f, loaded); slices.Contains(sels, "newComputePipelineStateWithFunction:error:") {
		t.Error("a pipeline made after load")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if l := f.leaks(); len(l) > 0 {
		t.Errorf("alive after Close: %v", l)
	}
}
