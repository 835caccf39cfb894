// Package enginetest opens models for the tests of the engine and of its
// backends: each helper fails the test on an error and closes what it
// opened when the test ends.
package enginetest

import (
	"testing"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
)

// Open opens the model at path (engine.Open).
func Open(t testing.TB, path string) *engine.Model {
	t.Helper()
	m, err := engine.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// CPU returns a CPU backend of two threads.
func CPU(t testing.TB) *cpu.Backend {
	t.Helper()
	b := cpu.New(2)
	t.Cleanup(func() { b.Close() })
	return b
}

// Runner makes a runner of m on b (engine.NewRunner).
func Runner(t testing.TB, m *engine.Model, b engine.Backend, opts engine.Options) *engine.Runner {
	t.Helper()
	r, err := engine.NewRunner(m, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// CPURunner opens the model at path and makes a runner of it on a CPU
// backend of two threads.
func CPURunner(t testing.TB, path string, opts engine.Options) *engine.Runner {
	t.Helper()
	m := Open(t, path)
	return Runner(t, m, CPU(t), opts)
}
