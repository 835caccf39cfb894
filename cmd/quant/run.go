package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/spf13/cobra"

	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
)

type runFlags struct {
	load    loadFlags
	prompt  string
	file    string
	n       int
	chat    bool
	system  string
	think   bool
	noThink bool
	sampler engine.SamplerConfig
	seed    int64
	noStats bool
	special bool
}

func newRunCmd() *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "run MODEL.gguf [-p PROMPT | -f FILE]",
		Short: "Generate text from a prompt, or chat (--chat)",
		Long: `Generate text from a prompt (-p, or -f FILE, or -f - for stdin), or chat with the
model's chat template (--chat): one turn with a prompt, otherwise interactively on stdin.

In a chat, Ctrl-C stops the reply and returns to the prompt; a second Ctrl-C while it
stops, or Ctrl-C or Ctrl-D at the prompt, ends the chat. When the conversation outgrows the
context (-c), the oldest exchanges are dropped — never the system message — and the rest
is evaluated again; a note on stderr says so.`,
		Example: `  quant run model.gguf -p "Once upon a time" -n 64
  quant run model.gguf --chat -p "Why is the sky blue?"
  quant run model.gguf --chat --system "You are terse."   # interactive
  echo "Summarise: ..." | quant run model.gguf --chat -f -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runModel(cmd, args[0], &rf)
		},
	}
	fs := cmd.Flags()
	rf.load.register(fs, 0, 512)
	fs.StringVarP(&rf.prompt, "prompt", "p", "", "prompt text")
	fs.StringVarP(&rf.file, "file", "f", "", "read the prompt from a file (- for stdin)")
	fs.IntVarP(&rf.n, "n-predict", "n", 256, "tokens to generate (-1 = until end of text or context)")
	fs.BoolVar(&rf.chat, "chat", false, "apply the model's chat template; without a prompt, chat interactively on stdin")
	fs.StringVar(&rf.system, "system", "", "system message (with --chat)")
	fs.BoolVar(&rf.think, "think", false, "let a reasoning model think before answering (with --chat; default: the template's)")
	fs.BoolVar(&rf.noThink, "no-think", false, "ask a reasoning model to answer without thinking (with --chat)")
	def := engine.DefaultSamplerConfig()
	fs.Float32Var(&rf.sampler.Temperature, "temp", def.Temperature, "temperature (0 = greedy)")
	fs.IntVar(&rf.sampler.TopK, "top-k", def.TopK, "keep the k most likely tokens (0 = off)")
	fs.Float32Var(&rf.sampler.TopP, "top-p", def.TopP, "keep the most likely tokens up to this total probability, 0 to 1 (1 = off)")
	fs.Float32Var(&rf.sampler.MinP, "min-p", def.MinP, "drop tokens less likely than this fraction of the best, 0 to 1 (0 = off)")
	fs.Float32Var(&rf.sampler.RepeatPenalty, "repeat-penalty", def.RepeatPenalty, "penalise recently seen tokens, > 0 (1 = off)")
	fs.IntVar(&rf.sampler.RepeatWindow, "repeat-last-n", def.RepeatWindow, "how many recent tokens the repeat penalty considers")
	fs.Int64Var(&rf.seed, "seed", -1, "random seed (-1 = random; the stats line shows the seed used)")
	fs.BoolVar(&rf.noStats, "no-stats", false, "do not print speed statistics to stderr")
	fs.BoolVar(&rf.special, "special", false, "print special tokens (such as end-of-turn markers)")
	acceptLlamaFlags(cmd, llamaFlagAliases, cobra.ExactArgs(1))
	return cmd
}

// check rejects flags that contradict each other or are out of range.
func (rf *runFlags) check() error {
	switch {
	case rf.prompt != "" && rf.file != "":
		return errors.New("give the prompt with -p or -f, not both")
	case rf.system != "" && !rf.chat:
		return errors.New("--system needs --chat (a plain prompt has no system message)")
	case (rf.think || rf.noThink) && !rf.chat:
		return errors.New("--think and --no-think need --chat")
	case rf.think && rf.noThink:
		return errors.New("give --think or --no-think, not both")
	case rf.n < -1:
		return fmt.Errorf("-n %d: want -1 or more", rf.n)
	}
	if err := rf.sampler.Validate(); err != nil {
		return err
	}
	_, err := checkThreads(rf.load.threads)
	return err
}

func runModel(cmd *cobra.Command, path string, rf *runFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := rf.check(); err != nil {
		return err
	}
	switch rf.file {
	case "":
	case "-":
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return fmt.Errorf("prompt from stdin: %w", err)
		}
		rf.prompt = string(b)
	default:
		b, err := os.ReadFile(rf.file)
		if err != nil {
			return fmt.Errorf("prompt file: %w", err)
		}
		rf.prompt = string(b)
	}
	if rf.prompt == "" && rf.file != "" {
		return fmt.Errorf("prompt file %s is empty", rf.file)
	}
	if rf.prompt == "" && !rf.chat {
		return errors.New("no prompt: give -p PROMPT or -f FILE (or --chat for an interactive chat)")
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
	if synthetic(lm.model.File) {
		fmt.Fprintln(stderr, "quant: this model's weights are random (a synthetic file, e.g. from scripts/synth): expect gibberish")
	}

	in := newInterrupter()
	defer in.stop()
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
		ctx, done := in.begin(cmd.Context())
		defer done()
		_, err = g.generate(ctx, ids)
		return ignoreInterrupt(err)
	}

	if lm.tok.ChatTemplate() == "" {
		fmt.Fprintln(stderr, "quant: the model has no chat template; using ChatML")
	}
	c := newChat(g)
	if rf.prompt != "" {
		ctx, done := in.begin(cmd.Context())
		defer done()
		return ignoreInterrupt(c.turn(ctx, rf.prompt))
	}
	return c.interactive(cmd.Context(), in, cmd.InOrStdin())
}

// synthetic reports a model file written with random weights (its
// description says so, as scripts/synth writes it).
func synthetic(f *gguf.File) bool {
	desc, _ := f.String("general.description")
	return strings.Contains(strings.ToLower(desc), "random weights")
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

// contextSize is the number of positions the runner's cache holds.
func (g *generator) contextSize() int { return g.lm.runner.Options().Context }

func (g *generator) checkFits(ids []int32) error {
	if n := g.contextSize(); len(ids) >= n {
		return fmt.Errorf("prompt is %d tokens, the context holds %d (raise -c, up to the model's %d)", len(ids), n, g.lm.model.Context)
	}
	return nil
}

// errInterrupted reports a generation that Ctrl-C stopped.
var errInterrupted = errors.New("interrupted")

// ignoreInterrupt makes a Ctrl-C that stopped the output (and said so) a
// normal end of the command.
func ignoreInterrupt(err error) error {
	if errors.Is(err, errInterrupted) {
		return nil
	}
	return err
}

// generate evaluates the part of ids not already in the cache and streams
// the continuation to out, returning the generated text. A Ctrl-C returns
// the text so far with errInterrupted.
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
	var stopped error
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(g.stderr, "\n[interrupted]")
		err, stopped = nil, errInterrupted
	case errors.Is(err, engine.ErrContextFull):
		fmt.Fprintf(g.stderr, "\n[stopped: the context of %d tokens is full; raise -c]\n", g.contextSize())
		err = nil
	}
	if err != nil {
		return text.String(), err
	}
	if stopped == nil && (!g.rf.chat || !g.rf.noStats) {
		fmt.Fprintln(g.out)
		g.out.Flush()
	}
	if !g.rf.noStats {
		seed := ""
		if g.rf.sampler.Temperature > 0 {
			seed = fmt.Sprintf(" | seed %d", g.rf.sampler.Seed)
		}
		printStats(g.stderr, st, len(rest), g.lm.backend.Name()+seed)
	}
	return text.String(), stopped
}

// printStats writes the speeds of a generation; a prompt interrupted
// before its end shows how much of it was evaluated ("prompt 512 of 4906").
func printStats(w io.Writer, st engine.Stats, promptLen int, backend string) {
	dim := paint(w, color.Faint)
	ms := func(n int, d time.Duration) float64 {
		if n == 0 {
			return 0
		}
		return float64(d.Microseconds()) / 1000 / float64(n)
	}
	prompt := fmt.Sprint(st.PromptTokens)
	if st.PromptTokens < promptLen {
		prompt += fmt.Sprintf(" of %d", promptLen)
	}
	dim.Fprintf(w, "prompt %s tokens, %.1f tok/s (%.2f ms/token) | generation %d tokens, %.1f tok/s (%.2f ms/token) | %s\n",
		prompt, st.PromptRate(), ms(st.PromptTokens, st.PromptTime),
		st.GenTokens, st.GenRate(), ms(st.GenTokens, st.GenTime), backend)
}
