package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/spf13/cobra"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/tokenizer"
)

type runFlags struct {
	load    loadFlags
	prompt  string
	file    string
	n       int
	chat    bool
	system  string
	sampler engine.SamplerConfig
	seed    int64
	noStats bool
	special bool
}

func newRunCmd() *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "run MODEL.gguf [-p PROMPT]",
		Short: "Generate text from a prompt, or chat (--chat)",
		Example: `  quant run model.gguf -p "Once upon a time" -n 64
  quant run model.gguf --chat -p "Why is the sky blue?"
  quant run model.gguf --chat --system "You are terse."   # interactive`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runModel(cmd, args[0], &rf)
		},
	}
	fs := cmd.Flags()
	rf.load.register(fs, 0, 512)
	fs.StringVarP(&rf.prompt, "prompt", "p", "", "prompt text")
	fs.StringVarP(&rf.file, "file", "f", "", "read the prompt from a file")
	fs.IntVarP(&rf.n, "n-predict", "n", 256, "tokens to generate (-1 = until end of text or context)")
	fs.BoolVar(&rf.chat, "chat", false, "apply the model's chat template; without a prompt, chat interactively on stdin")
	fs.StringVar(&rf.system, "system", "", "system message for --chat")
	def := engine.DefaultSamplerConfig()
	fs.Float32Var(&rf.sampler.Temperature, "temp", def.Temperature, "temperature (0 = greedy)")
	fs.IntVar(&rf.sampler.TopK, "top-k", def.TopK, "keep the k most likely tokens (0 = off)")
	fs.Float32Var(&rf.sampler.TopP, "top-p", def.TopP, "keep the most likely tokens up to this total probability (1 = off)")
	fs.Float32Var(&rf.sampler.MinP, "min-p", def.MinP, "drop tokens less likely than this fraction of the best (0 = off)")
	fs.Float32Var(&rf.sampler.RepeatPenalty, "repeat-penalty", def.RepeatPenalty, "penalise recently seen tokens (1 = off)")
	fs.IntVar(&rf.sampler.RepeatWindow, "repeat-last-n", def.RepeatWindow, "how many recent tokens the repeat penalty considers")
	fs.Int64Var(&rf.seed, "seed", -1, "random seed (-1 = random)")
	fs.BoolVar(&rf.noStats, "no-stats", false, "do not print speed statistics to stderr")
	fs.BoolVar(&rf.special, "special", false, "print special tokens (such as end-of-turn markers)")
	return cmd
}

func runModel(cmd *cobra.Command, path string, rf *runFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if rf.file != "" {
		b, err := os.ReadFile(rf.file)
		if err != nil {
			return fmt.Errorf("prompt file: %w", err)
		}
		rf.prompt = string(b)
	}
	if rf.prompt == "" && !rf.chat {
		return errors.New("no prompt: give -p PROMPT or -f FILE (or --chat for an interactive chat)")
	}
	if rf.n < -1 {
		return fmt.Errorf("-n %d: want -1 or more", rf.n)
	}
	seed := uint64(rf.seed)
	if rf.seed < 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rf.sampler.Seed = seed

	lm, err := openModel(path, rf.load, false, stderr)
	if err != nil {
		return err
	}
	defer lm.Close()

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	g := &generator{lm: lm, session: engine.NewSession(lm.runner), sampler: engine.NewSampler(rf.sampler),
		out: out, stderr: stderr, rf: rf}

	if !rf.chat {
		ids, err := lm.tok.Encode(rf.prompt, true, true)
		if err != nil {
			return fmt.Errorf("prompt: %w", err)
		}
		if err := g.checkFits(ids); err != nil {
			return err
		}
		fmt.Fprint(out, rf.prompt)
		_, err = g.generate(ctx, ids)
		return err
	}

	var msgs []tokenizer.Message
	if rf.system != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: rf.system})
	}
	if rf.prompt != "" {
		_, err := g.chatTurn(ctx, msgs, rf.prompt)
		return err
	}
	return g.interactive(ctx, cmd.InOrStdin(), msgs)
}

// generator streams one model's output; it keeps the session (and so the
// KV cache) across chat turns.
type generator struct {
	lm      *loaded
	session *engine.Session
	sampler *engine.Sampler
	out     *bufio.Writer
	stderr  io.Writer
	rf      *runFlags
}

func (g *generator) checkFits(ids []int32) error {
	if ctx := g.lm.runner.Options().Context; len(ids) >= ctx {
		return fmt.Errorf("prompt is %d tokens, the context holds %d (raise -c, up to the model's %d)", len(ids), ctx, g.lm.model.Context)
	}
	return nil
}

// generate evaluates the part of ids not already in the cache and streams
// the continuation to out, returning the generated text.
func (g *generator) generate(ctx context.Context, ids []int32) (string, error) {
	rest := g.session.Rewind(ids)
	dec := g.lm.tok.NewStreamDecoder()
	dec.Special = g.rf.special
	var text strings.Builder
	emit := func(id int32) error {
		s, err := dec.Next(id)
		if err != nil {
			return err
		}
		text.WriteString(s)
		g.out.WriteString(s)
		return g.out.Flush()
	}
	st, err := g.session.Generate(ctx, rest, g.rf.n, g.sampler, g.lm.tok.IsEOG, emit)
	tail := dec.Flush()
	text.WriteString(tail)
	g.out.WriteString(tail)
	g.out.Flush()
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(g.stderr, "\n[interrupted]")
		err = nil
	case errors.Is(err, engine.ErrContextFull):
		fmt.Fprintf(g.stderr, "\n[stopped: the context of %d tokens is full; raise -c]\n", g.lm.runner.Options().Context)
		err = nil
	}
	if err != nil {
		return text.String(), err
	}
	if !g.rf.chat || !g.rf.noStats {
		fmt.Fprintln(g.out)
		g.out.Flush()
	}
	if !g.rf.noStats {
		printStats(g.stderr, st, g.lm.backend.Name())
	}
	return text.String(), nil
}

// chatTurn adds the user's message, renders the conversation with the chat
// template and generates the assistant's reply.
func (g *generator) chatTurn(ctx context.Context, msgs []tokenizer.Message, user string) ([]tokenizer.Message, error) {
	msgs = append(msgs, tokenizer.Message{Role: "user", Content: user})
	text, err := g.lm.tok.ApplyChatTemplate(msgs, true)
	if err != nil {
		return msgs, fmt.Errorf("chat template: %w", err)
	}
	ids, err := g.lm.tok.Encode(text, !startsWithBOS(g.lm.tok, text), true)
	if err != nil {
		return msgs, err
	}
	if err := g.checkFits(ids); err != nil {
		return msgs, err
	}
	reply, err := g.generate(ctx, ids)
	return append(msgs, tokenizer.Message{Role: "assistant", Content: reply}), err
}

// startsWithBOS reports whether a rendered template already begins with the
// BOS token's text, so tokenizing must not add a second one.
func startsWithBOS(tok *tokenizer.Tokenizer, text string) bool {
	bos, err := tok.Piece(tok.BOS(), true)
	return err == nil && len(bos) > 0 && strings.HasPrefix(text, string(bos))
}

func (g *generator) interactive(ctx context.Context, in io.Reader, msgs []tokenizer.Message) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	prompt := color.New(color.FgGreen, color.Bold)
	for {
		prompt.Fprint(g.stderr, "> ")
		if !sc.Scan() {
			fmt.Fprintln(g.stderr)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var err error
		if msgs, err = g.chatTurn(ctx, msgs, line); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func printStats(w io.Writer, st engine.Stats, backend string) {
	dim := color.New(color.Faint)
	ms := func(n int, d time.Duration) float64 {
		if n == 0 {
			return 0
		}
		return float64(d.Microseconds()) / 1000 / float64(n)
	}
	dim.Fprintf(w, "prompt %d tokens, %.1f tok/s (%.2f ms/token) | generation %d tokens, %.1f tok/s (%.2f ms/token) | %s\n",
		st.PromptTokens, st.PromptRate(), ms(st.PromptTokens, st.PromptTime),
		st.GenTokens, st.GenRate(), ms(st.GenTokens, st.GenTime), backend)
}
