package emu

import "fmt"

// Dispatch is one compute dispatch as the Metal backend records it:
// dispatchThreadgroups(Grid, threadsPerThreadgroup: Group) of Kernel with the
// argument table set up by setBuffer/setBytes/setThreadgroupMemoryLength.
type Dispatch struct {
	Kernel      string
	Buffers     map[int]Binding // setBuffer:offset:atIndex:
	Bytes       map[int][]byte  // setBytes:length:atIndex: (copied, read-only)
	Threadgroup map[int]int     // setThreadgroupMemoryLength:atIndex: (bytes, multiple of 16)
	Grid        [3]int          // threadgroups per grid
	Group       [3]int          // threads per threadgroup
}

// Binding is a buffer bound at an index: the kernel's pointer is
// &Data[Offset]. Data is the whole MTLBuffer (shared storage): the kernel may
// read and write all of it from the offset on, and its writes land in Data
// (which is written only if the kernel changed it, so read-only mappings
// work for inputs). Run copies all of Data for the dispatch: bind no more
// than a dispatch may touch when buffers are large.
// Bindings whose Data overlap (the same buffer at several indices, views of
// one allocation) share memory during the dispatch, as on the GPU.
type Binding struct {
	Data   []byte
	Offset int
}

// Order is the order in which the runtime runs the threads of a threadgroup
// between two yield points (barriers, SIMD-group functions), and hands out
// threadgroups.
type Order int

const (
	Forward Order = iota // thread 0 first
	Reverse              // last thread first
	Random               // a fresh permutation, seeded, in every round
)

// Schedule selects how a dispatch is executed.
type Schedule struct {
	Order   Order
	Seed    uint64 // for Random
	Workers int    // OS threads running threadgroups concurrently; <= 1: one
}

func (s Schedule) String() string {
	name := [...]string{"forward", "reverse", "random"}[s.Order]
	if s.Order == Random {
		name += fmt.Sprintf("(%d)", s.Seed)
	}
	if s.Workers > 1 {
		name += fmt.Sprintf("x%d", s.Workers)
	}
	return name
}

// Schedules returns the schedules every kernel test runs under: forward,
// reverse, and random (seeded) on one and on two workers.
func Schedules(seed uint64) []Schedule {
	return []Schedule{
		{Order: Forward},
		{Order: Reverse},
		{Order: Random, Seed: seed},
		{Order: Random, Seed: seed + 1, Workers: 2},
	}
}
