package gguf

import (
	"slices"
	"testing"
)

func TestArrayInts(t *testing.T) {
	cases := []struct {
		values any
		want   []int64
		ok     bool
	}{
		{[]int32{3, 3, 2, 0}, []int64{3, 3, 2, 0}, true},
		{[]uint8{1, 255}, []int64{1, 255}, true},
		{[]int8{-1, 7}, []int64{-1, 7}, true},
		{[]bool{true, false, true}, []int64{1, 0, 1}, true},
		{[]uint64{1 << 63}, nil, false},
		{[]float32{1}, nil, false},
		{[]string{"1"}, nil, false},
	}
	for _, c := range cases {
		got, ok := Array{Values: c.values}.Ints()
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("Ints(%v) = %v, %v; want %v, %v", c.values, got, ok, c.want, c.ok)
		}
	}
}
