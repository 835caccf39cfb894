package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/fatih/color"

	"github.com/quant-llm/quant/internal/tokenizer"
)

// chat is a conversation: the system message, which always stays, and the
// exchanges after it, the oldest of which are dropped when the context
// cannot hold them all.
type chat struct {
	g      *generator
	system []tokenizer.Message
	turns  []tokenizer.Message // user, assistant, user, ...
	opts   []tokenizer.ChatOption
}

func newChat(g *generator) *chat {
	c := &chat{g: g}
	if g.rf.system != "" {
		c.system = []tokenizer.Message{{Role: "system", Content: g.rf.system}}
	}
	switch {
	case g.rf.think:
		c.opts = append(c.opts, tokenizer.EnableThinking(true))
	case g.rf.noThink:
		c.opts = append(c.opts, tokenizer.EnableThinking(false))
	}
	return c
}

// errTooLong is a message that cannot fit the context even alone.
type errTooLong struct{ error }

// render tokenizes the conversation with the chat template, ready for the
// assistant's reply.
func (c *chat) render() ([]int32, error) {
	msgs := append(append([]tokenizer.Message(nil), c.system...), c.turns...)
	text, err := c.g.lm.tok.ApplyChatTemplate(msgs, true, c.opts...)
	if err != nil {
		return nil, err // the tokenizer's errors say "chat template" already
	}
	return c.encode(text)
}

// encode tokenizes a rendered conversation. Where it continues the text of
// the tokens already in the cache (the previous prompt and the reply as
// sampled), those tokens are kept and only the new text is tokenized, as
// llama-cli does: tokenizing the reply's text again can split it
// differently from the sampled tokens, which would re-evaluate the reply.
func (c *chat) encode(text string) ([]int32, error) {
	tok := c.g.lm.tok
	addBOS := !startsWithBOS(tok, text)
	hist := c.g.session.History()
	skip := 0
	if addBOS && len(hist) > 0 && hist[0] == tok.BOS() {
		skip = 1
	}
	if len(hist) > skip {
		done, err := tok.Detokenize(hist[skip:], false, true)
		if err == nil && strings.HasPrefix(text, done) {
			ids, err := tok.Encode(text[len(done):], false, true)
			ids = append(slices.Clone(hist), ids...)
			// Only where the tokens spell the text exactly: SentencePiece,
			// for one, adds a space in front of text tokenized on its own.
			if all, derr := tok.Detokenize(ids[skip:], false, true); err == nil && derr == nil && all == text {
				return ids, nil
			}
		}
	}
	return tok.Encode(text, addBOS, true)
}

// replyRoom is how much of the context a reply is given before the oldest
// exchanges are dropped: -n tokens, at most half the context (a quarter
// when -n is -1).
func (c *chat) replyRoom() int {
	n := c.g.contextSize()
	if c.g.rf.n < 0 {
		return n / 4
	}
	return min(c.g.rf.n, n/2)
}

// fit renders the conversation, dropping the oldest exchanges (never the
// system message, never the new message) until it leaves room for the
// reply, and says on stderr what it dropped.
func (c *chat) fit() ([]int32, error) {
	ids, err := c.render()
	dropped := 0
	for err == nil && len(ids)+c.replyRoom() > c.g.contextSize() && len(c.turns) > 1 {
		// Drop the oldest user message and the reply to it.
		n := min(2, len(c.turns)-1)
		c.turns = c.turns[n:]
		dropped += n
		ids, err = c.render()
	}
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		fmt.Fprintf(c.g.stderr, "[the conversation outgrew the context of %d tokens: dropped the oldest %d messages, keeping the system message; evaluating the rest again]\n",
			c.g.contextSize(), dropped)
	}
	if len(ids) >= c.g.contextSize() {
		return nil, errTooLong{fmt.Errorf("the message makes a prompt of %d tokens, the context holds %d (raise -c, up to the model's %d)",
			len(ids), c.g.contextSize(), c.g.lm.model.Context)}
	}
	return ids, nil
}

// turn adds the user's message and streams the assistant's reply. A reply
// cut short by Ctrl-C stays in the conversation as far as it got; a turn
// interrupted before its reply began is forgotten.
func (c *chat) turn(ctx context.Context, user string) error {
	c.turns = append(c.turns, tokenizer.Message{Role: "user", Content: user})
	ids, err := c.fit()
	if err != nil {
		c.turns = c.turns[:len(c.turns)-1]
		return err
	}
	reply, err := c.g.generate(ctx, ids)
	if errors.Is(err, errInterrupted) && reply == "" {
		c.turns = c.turns[:len(c.turns)-1]
		return err
	}
	c.turns = append(c.turns, tokenizer.Message{Role: "assistant", Content: reply})
	return err
}

// startsWithBOS reports whether a rendered template already begins with the
// BOS token's text, so tokenizing must not add a second one.
func startsWithBOS(tok *tokenizer.Tokenizer, text string) bool {
	bos, err := tok.Piece(tok.BOS(), true)
	return err == nil && len(bos) > 0 && strings.HasPrefix(text, string(bos))
}

// interactive chats on in, a line a message, until end of input or Ctrl-C
// at the prompt. Lines have no length limit short of the context.
func (c *chat) interactive(parent context.Context, in *interrupter, r io.Reader) error {
	type line struct {
		text string
		err  error
	}
	lines := make(chan line)
	go func() {
		br := bufio.NewReader(r)
		for {
			s, err := br.ReadString('\n')
			if s != "" || err != nil {
				lines <- line{s, err}
			}
			if err != nil {
				return
			}
		}
	}()
	prompt := paint(c.g.stderr, color.FgGreen, color.Bold)
	for {
		prompt.Fprint(c.g.stderr, "> ")
		var l line
		select {
		case <-in.idle: // Ctrl-C at the prompt
			fmt.Fprintln(c.g.stderr)
			return nil
		case l = <-lines:
		}
		text := strings.TrimSpace(l.text)
		if text == "" {
			if l.err != nil { // Ctrl-D or the end of the input
				fmt.Fprintln(c.g.stderr)
				if errors.Is(l.err, io.EOF) {
					return nil
				}
				return l.err
			}
			continue
		}
		ctx, done := in.begin(parent)
		err := c.turn(ctx, text)
		done()
		var tooLong errTooLong
		switch {
		case errors.As(err, &tooLong):
			fmt.Fprintf(c.g.stderr, "quant: %v\n", err)
		case err != nil && !errors.Is(err, errInterrupted):
			return err
		}
		if l.err != nil { // a last line without a newline
			fmt.Fprintln(c.g.stderr)
			return nil
		}
	}
}
