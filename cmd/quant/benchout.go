package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
)

// benchRecord is one test's result with llama-bench's field names (and
// order) for the fields that mean the same thing; quant's own fields come
// last under their own names.
type benchRecord struct {
	BuildCommit   string    `json:"build_commit"`
	BuildNumber   int       `json:"build_number"`
	CPUInfo       string    `json:"cpu_info"`
	GPUInfo       string    `json:"gpu_info"`
	Backends      string    `json:"backends"`
	ModelFilename string    `json:"model_filename"`
	ModelType     string    `json:"model_type"`
	ModelSize     uint64    `json:"model_size"`
	ModelNParams  uint64    `json:"model_n_params"`
	NBatch        int       `json:"n_batch"`
	NUBatch       int       `json:"n_ubatch"`
	NThreads      int       `json:"n_threads"`
	TypeK         string    `json:"type_k"`
	TypeV         string    `json:"type_v"`
	NGPULayers    int       `json:"n_gpu_layers"`
	FlashAttn     int       `json:"flash_attn"`
	UseMmap       bool      `json:"use_mmap"`
	NPrompt       int       `json:"n_prompt"`
	NGen          int       `json:"n_gen"`
	NDepth        int       `json:"n_depth"`
	TestTime      string    `json:"test_time"`
	AvgNs         uint64    `json:"avg_ns"`
	StddevNs      uint64    `json:"stddev_ns"`
	AvgTs         float64   `json:"avg_ts"`
	StddevTs      float64   `json:"stddev_ts"`
	SamplesNs     []uint64  `json:"samples_ns"`
	SamplesTs     []float64 `json:"samples_ts"`
	// quant's own: the backend's name, and on GPU backends the GPU time
	// per token and the share of the wall time the GPU was busy.
	QuantBackend   string  `json:"quant_backend"`
	GPUMsPerToken  float64 `json:"gpu_ms_per_token,omitempty"`
	GPUBusyPercent float64 `json:"gpu_busy_percent,omitempty"`
	// The KV cache for the test's context (n_depth+n_prompt+n_gen) and a
	// hybrid model's recurrent state, in bytes.
	KVCacheBytes        uint64 `json:"kv_cache_bytes"`
	RecurrentStateBytes uint64 `json:"recurrent_state_bytes,omitempty"`
	// With --bandwidth, for tg tests: the bytes a decoded token reads (at
	// the test's middle position), the GB/s that makes, and the memory read
	// bandwidth measured with the test's threads (CPU backend).
	DecodeBytesPerToken uint64  `json:"decode_bytes_per_token,omitempty"`
	DecodeGBs           float64 `json:"decode_gbs,omitempty"`
	MemReadGBs          float64 `json:"mem_read_gbs,omitempty"`
}

// memReadBytes is the buffer the read-bandwidth measurement streams: far
// larger than any last-level cache.
const memReadBytes = 512 << 20

// addBandwidth fills the --bandwidth fields of a tg test's record;
// memRead caches the measured bandwidth per thread count.
func (r *benchRecord) addBandwidth(m *engine.Model, opts engine.Options, memRead map[int]float64) {
	bytes := engine.DecodeBytes(m, r.NDepth+r.NGen/2, opts)
	r.DecodeBytesPerToken = uint64(bytes)
	r.DecodeGBs = bytes * r.AvgTs / 1e9
	if r.QuantBackend != "cpu" {
		return
	}
	if _, ok := memRead[r.NThreads]; !ok {
		memRead[r.NThreads] = cpu.ReadBandwidth(r.NThreads, memReadBytes) / 1e9
	}
	r.MemReadGBs = memRead[r.NThreads]
}

// llamaBackendNames are the ggml backend names llama-bench prints.
var llamaBackendNames = map[string]string{"cpu": "CPU", "metal": "Metal"}

func newBenchRecord(b build, mf *modelFile, path, backend, gpu string, c benchCase, threads int, opts engine.Options, started time.Time, res engine.BenchResult) benchRecord {
	var size uint64
	f := mf.model.File
	for i := range f.Tensors {
		size += f.Tensors[i].Size
	}
	rec := benchRecord{
		BuildCommit: b.shortCommit(), CPUInfo: cpuInfo(), GPUInfo: gpu, Backends: llamaBackendNames[backend],
		ModelFilename: path, ModelType: modelType(f), ModelSize: size, ModelNParams: f.ParamCount(),
		NBatch: c.batch, NUBatch: c.batch, NThreads: threads,
		TypeK: cacheTypeName(opts.CacheK), TypeV: cacheTypeName(opts.CacheV),
		FlashAttn: map[string]int{"on": 1, "1": 1, "off": 0, "0": 0}[c.fa], UseMmap: true,
		NPrompt: c.Prompt, NGen: c.Gen, NDepth: c.Depth, TestTime: started.Format(time.RFC3339),
		AvgNs: res.AvgNs(), StddevNs: res.StdDevNs(), AvgTs: res.Mean, StddevTs: res.StdDev,
		SamplesNs: res.SamplesNs, SamplesTs: res.Samples,
		QuantBackend: backend, GPUMsPerToken: res.GPUMsPerToken, GPUBusyPercent: 100 * res.GPUBusy,
	}
	k, v := engine.KVCacheBytes(&mf.model.Config, opts.Context, opts.CacheK, opts.CacheV)
	rec.KVCacheBytes = uint64(k + v)
	rec.RecurrentStateBytes = uint64(engine.RecurrentStateBytes(&mf.model.Config))
	if c.fa == "auto" {
		rec.FlashAttn = -1
	}
	if rec.Backends == "" {
		rec.Backends = backend
	}
	if backend != "cpu" {
		rec.NGPULayers = len(mf.model.Layers) + 1 // every layer and the output, as -ngl 99
	}
	return rec
}

// benchPrinter writes results in one of llama-bench's formats as they come.
type benchPrinter interface {
	header(first benchRecord)
	row(benchRecord)
	footer(build)
}

func newBenchPrinter(format string, w io.Writer, bf *benchFlags) benchPrinter {
	switch format {
	case "md":
		return &mdPrinter{w: w, bf: bf}
	case "csv":
		return &csvPrinter{w: w}
	case "json":
		return &jsonPrinter{w: w}
	case "jsonl":
		return &jsonPrinter{w: w, lines: true}
	}
	return nil
}

// scalarFields lists the record's JSON names and values, without the
// sample arrays, in order: llama-bench's CSV columns.
func scalarFields(r benchRecord) (names, values []string) {
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Slice {
			continue
		}
		names = append(names, strings.TrimSuffix(v.Type().Field(i).Tag.Get("json"), ",omitempty"))
		switch x := f.Interface().(type) {
		case bool: // llama-bench writes C++'s std::to_string(bool)
			values = append(values, map[bool]string{false: "0", true: "1"}[x])
		case float64:
			values = append(values, strconv.FormatFloat(x, 'f', 6, 64))
		default:
			values = append(values, fmt.Sprint(x))
		}
	}
	return names, values
}

type csvPrinter struct{ w io.Writer }

func (p *csvPrinter) header(first benchRecord) {
	names, _ := scalarFields(first)
	fmt.Fprintln(p.w, strings.Join(names, ","))
}

func (p *csvPrinter) row(r benchRecord) {
	_, values := scalarFields(r)
	for i, v := range values {
		values[i] = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	fmt.Fprintln(p.w, strings.Join(values, ","))
}

func (p *csvPrinter) footer(build) {}

// jsonPrinter writes a JSON array of records, or JSONL: one record a line.
type jsonPrinter struct {
	w     io.Writer
	lines bool
	n     int
}

func (p *jsonPrinter) header(benchRecord) {
	if !p.lines {
		fmt.Fprint(p.w, "[\n")
	}
}

func (p *jsonPrinter) row(r benchRecord) {
	if p.lines {
		b, _ := json.Marshal(r)
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	b, _ := json.MarshalIndent(r, "  ", "  ")
	if p.n > 0 {
		fmt.Fprint(p.w, ",\n")
	}
	p.n++
	fmt.Fprintf(p.w, "  %s", b)
}

func (p *jsonPrinter) footer(build) {
	if !p.lines {
		fmt.Fprint(p.w, "\n]\n")
	}
}

// mdPrinter writes llama-bench's markdown table: its columns and widths,
// the columns of settings shown when they vary or differ from the
// default, and a build line at the end.
type mdPrinter struct {
	w      io.Writer
	bf     *benchFlags
	fields []mdField
}

type mdField struct {
	name  string
	width int // negative: left-aligned
	value func(benchRecord) string
}

func (p *mdPrinter) header(first benchRecord) {
	bf := p.bf
	listed := func(l *intList, def int) bool { return len(l.values) > 1 || l.values[0] != def }
	strListed := func(l *stringList, def string) bool { return len(l.values) > 1 || l.values[0] != def }
	p.fields = []mdField{
		{"model", -max(30, len(first.ModelType)), func(r benchRecord) string { return r.ModelType }},
		{"size", 10, func(r benchRecord) string { return llamaSize(r.ModelSize) }},
		{"params", 10, func(r benchRecord) string { return llamaParams(r.ModelNParams) }},
		{"backend", -10, func(r benchRecord) string { return r.Backends }},
	}
	add := func(show bool, name string, width int, value func(benchRecord) string) {
		if show {
			p.fields = append(p.fields, mdField{name, width, value})
		}
	}
	itoa := strconv.Itoa
	add(first.QuantBackend != "cpu", "ngl", 3, func(r benchRecord) string { return itoa(r.NGPULayers) })
	add(first.QuantBackend == "cpu" || listed(bf.threads, bf.defaultThreads), "threads", 7, func(r benchRecord) string { return itoa(r.NThreads) })
	add(listed(bf.batches, defaultBenchBatch), "n_batch", 7, func(r benchRecord) string { return itoa(r.NBatch) })
	add(strListed(bf.cacheK, "f16") || bf.load.kvF32, "type_k", 6, func(r benchRecord) string { return r.TypeK })
	add(strListed(bf.cacheV, "f16") || bf.load.kvF32, "type_v", 6, func(r benchRecord) string { return r.TypeV })
	add(strListed(bf.flash, "auto"), "fa", 3, func(r benchRecord) string { return itoa(r.FlashAttn) })
	add(true, "test", 15, func(r benchRecord) string {
		return engine.BenchTest{Prompt: r.NPrompt, Gen: r.NGen, Depth: r.NDepth}.Name()
	})
	add(true, "t/s", 20, func(r benchRecord) string { return fmt.Sprintf("%.2f ± %.2f", r.AvgTs, r.StddevTs) })
	gpu := first.GPUMsPerToken > 0
	add(gpu, "GPU ms/token", 12, func(r benchRecord) string { return fmt.Sprintf("%.2f", r.GPUMsPerToken) })
	add(gpu, "GPU busy", 8, func(r benchRecord) string { return fmt.Sprintf("%.0f%%", r.GPUBusyPercent) })
	add(bf.bandwidth, "decode GB/s", 11, func(r benchRecord) string {
		if r.DecodeGBs == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f", r.DecodeGBs)
	})
	add(bf.bandwidth && first.QuantBackend == "cpu", "of mem read", 16, func(r benchRecord) string {
		if r.MemReadGBs == 0 {
			return ""
		}
		return fmt.Sprintf("%.0f%% of %.1f", 100*r.DecodeGBs/r.MemReadGBs, r.MemReadGBs)
	})

	var head, rule strings.Builder
	for _, f := range p.fields {
		fmt.Fprintf(&head, "| %s ", pad(f.name, f.width))
		n := max(f.width, -f.width)
		if f.width > 0 {
			rule.WriteString("| " + strings.Repeat("-", n-1) + ": ")
		} else {
			rule.WriteString("| " + strings.Repeat("-", n) + " ")
		}
	}
	fmt.Fprintln(p.w, head.String()+"|")
	fmt.Fprintln(p.w, rule.String()+"|")
}

func (p *mdPrinter) row(r benchRecord) {
	var sb strings.Builder
	for _, f := range p.fields {
		fmt.Fprintf(&sb, "| %s ", pad(f.value(r), f.width))
	}
	fmt.Fprintln(p.w, sb.String()+"|")
}

func (p *mdPrinter) footer(b build) {
	fmt.Fprintf(p.w, "\nbuild: %s (%d)\n", b.shortCommit(), 0)
}

// pad aligns s in width runes, to the right (or left when negative).
func pad(s string, width int) string {
	n := len([]rune(s))
	if width < 0 {
		return s + strings.Repeat(" ", max(0, -width-n))
	}
	return strings.Repeat(" ", max(0, width-n)) + s
}

// llamaSize and llamaParams format as llama-bench's size and params columns.
func llamaSize(n uint64) string {
	if n < 1<<30 {
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

func llamaParams(n uint64) string {
	if n < 1e9 {
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f B", float64(n)/1e9)
}
