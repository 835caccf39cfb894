package engine

import (
	"context"
	"fmt"
	"math"
)

// MinPerplexityContext is the shortest chunk that scores a token: the
// second half of a chunk, less its last token, is scored.
const MinPerplexityContext = 3

// PerplexityConfig mirrors llama.cpp's perplexity tool arguments.
type PerplexityConfig struct {
	Context int // -c: tokens per chunk, at least MinPerplexityContext
	Chunks  int // --chunks: at most this many chunks (0 or less = all)
	BOS     int32
	AddBOS  bool // the first token of each chunk is replaced by BOS
}

// PerplexityResult is the final estimate and the running value per chunk.
type PerplexityResult struct {
	PPL     float64   `json:"ppl"`
	StdErr  float64   `json:"ppl_stderr"`
	Chunks  []float64 `json:"chunks"`
	Tokens  int       `json:"tokens_scored"`
	Context int       `json:"context"`
}

// Perplexity scores tokens the way llama.cpp's perplexity tool does: the
// text is cut into chunks of Context tokens, each evaluated from an empty
// cache, and the second half of each chunk is scored. The runner must have
// AllLogits set. progress is called after each chunk with the running PPL.
// Logits that are not finite are an error naming the first bad position.
func Perplexity(ctx context.Context, r *Runner, tokens []int32, cfg PerplexityConfig, progress func(chunk int, ppl float64)) (PerplexityResult, error) {
	defer watch(r, ctx)()
	n := cfg.Context
	res := PerplexityResult{Context: n}
	if n < MinPerplexityContext {
		return res, fmt.Errorf("a context of %d scores no token: perplexity needs at least %d", n, MinPerplexityContext)
	}
	if !r.opts.AllLogits || r.opts.Context < n {
		return res, fmt.Errorf("runner needs all logits and a context of at least %d", n)
	}
	chunks := len(tokens) / n
	if chunks == 0 || len(tokens) < 2*n {
		return res, fmt.Errorf("need at least %d tokens for a context of %d, the text has %d", 2*n, n, len(tokens))
	}
	if cfg.Chunks > 0 {
		chunks = min(chunks, cfg.Chunks)
	}
	first := n / 2
	vocab := r.m.Vocab
	chunk := make([]int32, n)
	var nll, nll2 float64
	for c := range chunks {
		copy(chunk, tokens[c*n:(c+1)*n])
		if cfg.AddBOS {
			chunk[0] = cfg.BOS
		}
		for off := 0; off < n; {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			m := min(r.opts.Batch, n-off)
			logits, err := r.Forward(chunk[off:off+m], off)
			if err != nil {
				return res, err
			}
			for j := range m {
				if err := CheckFinite(logits[j*vocab:(j+1)*vocab], off+j); err != nil {
					return res, fmt.Errorf("chunk %d (text token %d): %w", c+1, c*n+off+j, err)
				}
			}
			// Score positions first..n-2, each predicting the next token.
			for j := max(off, first); j < off+m && j < n-1; j++ {
				row := logits[(j-off)*vocab : (j-off+1)*vocab]
				v := -logSoftmax(row, tokens[c*n+j+1])
				nll += v
				nll2 += v * v
				res.Tokens++
			}
			off += m
		}
		res.Chunks = append(res.Chunks, math.Exp(nll/float64(res.Tokens)))
		if progress != nil {
			progress(c+1, res.Chunks[c])
		}
	}
	mean := nll / float64(res.Tokens)
	res.PPL = math.Exp(mean)
	if v := nll2/float64(res.Tokens) - mean*mean; v > 0 && res.Tokens > 1 {
		res.StdErr = math.Sqrt(v/float64(res.Tokens-1)) * res.PPL
	}
	return res, nil
}

// logSoftmax is log(softmax(logits)[tok]) computed as llama.cpp does.
func logSoftmax(logits []float32, tok int32) float64 {
	maxv := logits[0]
	for _, v := range logits[1:] {
		maxv = max(maxv, v)
	}
	var sum float64
	for _, v := range logits {
		sum += float64(float32(math.Exp(float64(v - maxv))))
	}
	return float64(logits[tok]-maxv) - math.Log(sum)
}
