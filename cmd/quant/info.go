package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

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
					info.Metadata = metadataSummary(f)
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
	File          string            `json:"file"`
	FileBytes     uint64            `json:"file_bytes"`
	GGUFVersion   uint32            `json:"gguf_version"`
	Architecture  string            `json:"architecture"`
	Name          string            `json:"name,omitempty"`
	Params        uint64            `json:"params"`
	ContextLength int64             `json:"context_length,omitempty"`
	Layers        int64             `json:"layers,omitempty"`
	EmbeddingDim  int64             `json:"embedding_length,omitempty"`
	FFNDim        int64             `json:"feed_forward_length,omitempty"`
	Heads         int64             `json:"head_count,omitempty"`
	KVHeads       int64             `json:"head_count_kv,omitempty"`
	VocabSize     int               `json:"vocab_size"`
	Tokenizer     string            `json:"tokenizer,omitempty"`
	PreTokenizer  string            `json:"pre_tokenizer,omitempty"`
	TensorTypes   []typeCount       `json:"tensor_types"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

type typeCount struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
	Bytes uint64 `json:"bytes"`
}

func describe(f *gguf.File) modelInfo {
	info := modelInfo{File: f.Path, FileBytes: f.Size, GGUFVersion: f.Version, Architecture: f.Architecture()}
	info.Name, _ = f.String("general.name")
	info.ContextLength, _ = f.ArchInt("context_length")
	info.Layers, _ = f.ArchInt("block_count")
	info.EmbeddingDim, _ = f.ArchInt("embedding_length")
	info.FFNDim, _ = f.ArchInt("feed_forward_length")
	info.Heads, _ = f.ArchInt("attention.head_count")
	info.KVHeads, _ = f.ArchInt("attention.head_count_kv")
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
	if m.ContextLength > 0 {
		row("context", m.ContextLength)
	}
	if m.Layers > 0 {
		row("layers", m.Layers)
		row("embedding", m.EmbeddingDim)
		row("feed-forward", m.FFNDim)
		heads := fmt.Sprint(m.Heads)
		if m.KVHeads > 0 && m.KVHeads != m.Heads {
			heads += fmt.Sprintf(" (%d KV)", m.KVHeads)
		}
		if m.Heads > 0 {
			heads += fmt.Sprintf(", head dim %d", m.EmbeddingDim/m.Heads)
		}
		row("heads", heads)
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

func printMetadata(w io.Writer, f *gguf.File) {
	fmt.Fprintln(w, "metadata:")
	for _, kv := range f.Metadata {
		fmt.Fprintf(w, "  %-40s %s\n", kv.Key, summarise(kv.Value))
	}
}

func metadataSummary(f *gguf.File) map[string]string {
	m := make(map[string]string, len(f.Metadata))
	for _, kv := range f.Metadata {
		m[kv.Key] = summarise(kv.Value)
	}
	return m
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

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
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
