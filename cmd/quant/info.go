package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

func newInfoCmd() *cobra.Command {
	var verbose, asJSON bool
	cmd := &cobra.Command{
		Use:   "info MODEL.gguf",
		Short: "Describe a GGUF model: architecture, sizes, tokenizer, tensor types",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := gguf.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			info := describe(f)
			if asJSON {
				if verbose {
					info.Metadata = metadataJSON(f)
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			printInfo(cmd.OutOrStdout(), info)
			if verbose {
				printMetadata(cmd.OutOrStdout(), f)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print every metadata key (long arrays summarised)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

// modelInfo is what `quant info` reports.
type modelInfo struct {
	File          string `json:"file"`
	FileBytes     uint64 `json:"file_bytes"`
	GGUFVersion   uint32 `json:"gguf_version"`
	Architecture  string `json:"architecture"`
	Name          string `json:"name,omitempty"`
	Params        uint64 `json:"params"`
	ContextLength int    `json:"context_length,omitempty"`
	// The hyper-parameters as the engine reads them; Unsupported says why
	// not when it cannot.
	Layers       int    `json:"layers,omitempty"`
	EmbeddingDim int    `json:"embedding_length,omitempty"`
	FFNDim       int    `json:"feed_forward_length,omitempty"`
	Heads        int    `json:"head_count,omitempty"`
	KVHeads      int    `json:"head_count_kv,omitempty"`
	HeadDim      int    `json:"head_dim,omitempty"`
	Unsupported  string `json:"unsupported,omitempty"`
	// Hybrid models: which layers are recurrent, their shape and the
	// state they carry in place of a KV cache.
	RecurrentLayers []int            `json:"recurrent_layers,omitempty"`
	DeltaNet        *engine.DeltaNet `json:"deltanet,omitempty"`
	StateBytes      int              `json:"recurrent_state_bytes,omitempty"`

	VocabSize    int            `json:"vocab_size"`
	Tokenizer    string         `json:"tokenizer,omitempty"`
	PreTokenizer string         `json:"pre_tokenizer,omitempty"`
	TensorTypes  []typeCount    `json:"tensor_types"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

type typeCount struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
	Bytes uint64 `json:"bytes"`
}

func describe(f *gguf.File) modelInfo {
	info := modelInfo{File: f.Path, FileBytes: f.Size, GGUFVersion: f.Version, Architecture: f.Architecture()}
	info.Name, _ = f.String("general.name")
	if c, err := engine.ReadConfig(f); err != nil {
		info.Unsupported = err.Error()
	} else {
		info.ContextLength, info.Layers, info.EmbeddingDim, info.FFNDim = c.Context, c.Layers, c.Embd, c.FFN
		info.Heads, info.KVHeads, info.HeadDim = c.Heads, c.KVHeads, c.HeadDim
		for i, r := range c.Recurrent {
			if r {
				info.RecurrentLayers = append(info.RecurrentLayers, i)
			}
		}
		if len(info.RecurrentLayers) > 0 {
			d := c.DeltaNet
			info.DeltaNet = &d
			info.StateBytes = int(engine.RecurrentStateBytes(&c))
		}
	}
	if tokens, ok := f.Array("tokenizer.ggml.tokens"); ok {
		info.VocabSize = tokens.Len()
	}
	info.Tokenizer, _ = f.String("tokenizer.ggml.model")
	info.PreTokenizer, _ = f.String("tokenizer.ggml.pre")
	info.Params = f.ParamCount()
	byType := map[gguf.GGMLType]*typeCount{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		c := byType[t.Type]
		if c == nil {
			c = &typeCount{Type: t.Type.String()}
			byType[t.Type] = c
		}
		c.Count++
		c.Bytes += t.Size
	}
	for _, c := range byType {
		info.TensorTypes = append(info.TensorTypes, *c)
	}
	sort.Slice(info.TensorTypes, func(i, j int) bool { return info.TensorTypes[i].Bytes > info.TensorTypes[j].Bytes })
	return info
}

func printInfo(w io.Writer, m modelInfo) {
	row := func(k string, v any) { fmt.Fprintf(w, "%-16s %v\n", k, v) }
	row("file", fmt.Sprintf("%s (%s, GGUF v%d)", m.File, humanBytes(m.FileBytes), m.GGUFVersion))
	row("architecture", m.Architecture)
	if m.Name != "" {
		row("name", m.Name)
	}
	row("parameters", fmt.Sprintf("%s (%d)", humanCount(m.Params), m.Params))
	if m.Unsupported != "" {
		row("runs", "no: "+m.Unsupported)
	}
	if m.ContextLength > 0 {
		row("context", m.ContextLength)
	}
	if m.Layers > 0 {
		row("layers", layerSummary(m))
		row("embedding", m.EmbeddingDim)
		row("feed-forward", m.FFNDim)
		heads := fmt.Sprint(m.Heads)
		if m.KVHeads != m.Heads {
			heads += fmt.Sprintf(" (%d KV)", m.KVHeads)
		}
		row("heads", fmt.Sprintf("%s, head dim %d", heads, m.HeadDim))
	}
	if d := m.DeltaNet; d != nil {
		row("deltanet", fmt.Sprintf("%d key heads, %d value heads of %d, conv kernel %d", d.KHeads, d.VHeads, d.StateDim, d.ConvKernel))
		row("state", fmt.Sprintf("%s (%s per recurrent layer), instead of a KV cache in those layers",
			humanBytes(uint64(m.StateBytes)), humanBytes(uint64(m.StateBytes/len(m.RecurrentLayers)))))
	}
	tok := m.Tokenizer
	if m.PreTokenizer != "" {
		tok += ", pre " + m.PreTokenizer
	}
	row("vocabulary", fmt.Sprintf("%d tokens (%s)", m.VocabSize, tok))
	fmt.Fprintln(w, "tensor types:")
	for _, c := range m.TensorTypes {
		fmt.Fprintf(w, "  %-6s %4d tensors %10.2f MiB\n", c.Type, c.Count, float64(c.Bytes)/(1<<20))
	}
}

// layerSummary is the layer count and, for a hybrid, which layers are
// recurrent: "4 (0-2 gated deltanet, 3 gated attention)".
func layerSummary(m modelInfo) string {
	if len(m.RecurrentLayers) == 0 {
		return fmt.Sprint(m.Layers)
	}
	recurrent := map[int]bool{}
	for _, i := range m.RecurrentLayers {
		recurrent[i] = true
	}
	var attention []int
	for i := range m.Layers {
		if !recurrent[i] {
			attention = append(attention, i)
		}
	}
	return fmt.Sprintf("%d: gated deltanet %s; gated attention %s", m.Layers, ranges(m.RecurrentLayers), ranges(attention))
}

// ranges writes sorted integers as "0-2,4-6,8".
func ranges(v []int) string {
	var parts []string
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(v[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", v[i], v[j]))
		}
		i = j + 1
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

func printMetadata(w io.Writer, f *gguf.File) {
	fmt.Fprintln(w, "metadata:")
	for _, kv := range f.Metadata {
		fmt.Fprintf(w, "  %-40s %s\n", kv.Key, summarise(kv.Value))
	}
}

// metadataJSON is every metadata value, typed and whole, for --json.
func metadataJSON(f *gguf.File) map[string]any {
	m := make(map[string]any, len(f.Metadata))
	for _, kv := range f.Metadata {
		m[kv.Key] = jsonValue(kv.Value)
	}
	return m
}

// jsonValue makes a metadata value encodable as the JSON value it is:
// arrays as arrays (bytes as numbers, not base64), and floats JSON cannot
// hold (NaN, ±Inf) as strings.
func jsonValue(v any) any {
	switch x := v.(type) {
	case float32:
		return jsonFloat(x)
	case float64:
		return jsonFloat(x)
	case gguf.Array:
		switch vs := x.Values.(type) {
		case []uint8:
			return convertAll(vs, func(b uint8) any { return int(b) })
		case []float32:
			return convertAll(vs, jsonFloat[float32])
		case []float64:
			return convertAll(vs, jsonFloat[float64])
		case []gguf.Array:
			return convertAll(vs, func(a gguf.Array) any { return jsonValue(a) })
		}
		return x.Values
	}
	return v
}

func convertAll[T any](vs []T, f func(T) any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = f(v)
	}
	return out
}

// jsonFloat keeps a float's own width (float32 values print as written).
func jsonFloat[F float32 | float64](f F) any {
	if x := float64(f); math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Sprint(x)
	}
	return f
}

// summarise prints a metadata value on one line; arrays show their first elements.
func summarise(v any) string {
	switch x := v.(type) {
	case string:
		s := fmt.Sprintf("%q", x)
		if len(s) > 120 {
			s = s[:117] + "..."
		}
		return s
	case gguf.Array:
		const show = 6
		var parts []string
		n := x.Len()
		switch vs := x.Values.(type) {
		case []string:
			for _, s := range vs[:min(n, show)] {
				parts = append(parts, fmt.Sprintf("%q", s))
			}
		case []gguf.Array:
			for _, a := range vs[:min(n, show)] {
				parts = append(parts, summarise(a))
			}
		default:
			s := strings.Trim(fmt.Sprint(x.Values), "[]")
			parts = strings.Fields(s)
			parts = parts[:min(len(parts), show)]
		}
		more := ""
		if n > show {
			more = ", ..."
		}
		return fmt.Sprintf("[%s] (%d x %s)", strings.Join(parts, ", ")+more, n, x.Elem)
	}
	return fmt.Sprint(v)
}

func humanBytes(n uint64) string { return humanSize(float64(n)) }

// humanSize writes a byte count with a binary unit; float64 holds the
// sizes of absurd requests too.
func humanSize(n float64) string {
	switch {
	case n >= 1<<50:
		return fmt.Sprintf("%.3g PiB", n/(1<<50))
	case n >= 1<<40:
		return fmt.Sprintf("%.2f TiB", n/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

func humanCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
