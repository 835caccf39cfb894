package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
)

// exit ends the process at once on a second Ctrl-C (a variable for tests).
var exit = os.Exit

// interrupter hands Ctrl-C (SIGINT) to what the command is doing, as
// llama-cli and ollama do: while an operation runs (a reply, a prompt, a
// benchmark), the first Ctrl-C stops it — within one backend operation —
// and a second one before it has stopped exits at once; between
// operations (at the chat prompt) Ctrl-C is delivered on idle.
type interrupter struct {
	sigs chan os.Signal
	// idle receives a Ctrl-C that came while no operation ran.
	idle chan struct{}

	mu       sync.Mutex
	cancel   context.CancelFunc // the running operation's; nil between operations
	stopping bool
}

func newInterrupter() *interrupter {
	in := &interrupter{sigs: make(chan os.Signal, 4), idle: make(chan struct{}, 1)}
	signal.Notify(in.sigs, os.Interrupt)
	go in.loop()
	return in
}

func (in *interrupter) loop() {
	for range in.sigs {
		in.mu.Lock()
		switch {
		case in.cancel != nil && in.stopping:
			in.mu.Unlock()
			exit(130)
			continue
		case in.cancel != nil:
			in.stopping = true
			in.cancel()
		default:
			select {
			case in.idle <- struct{}{}:
			default:
			}
		}
		in.mu.Unlock()
	}
}

// begin starts an operation: Ctrl-C cancels the context it returns until
// done is called.
func (in *interrupter) begin(parent context.Context) (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancel(parent)
	in.mu.Lock()
	in.cancel, in.stopping = cancel, false
	in.mu.Unlock()
	return ctx, func() {
		in.mu.Lock()
		in.cancel, in.stopping = nil, false
		in.mu.Unlock()
		cancel()
	}
}

// stop stops listening for Ctrl-C.
func (in *interrupter) stop() {
	signal.Stop(in.sigs)
	close(in.sigs)
}
