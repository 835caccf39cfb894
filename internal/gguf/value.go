package gguf

import "fmt"

// ValueType is the type tag of a metadata value, numbered as in the GGUF spec.
type ValueType uint32

const (
	ValUint8   ValueType = 0
	ValInt8    ValueType = 1
	ValUint16  ValueType = 2
	ValInt16   ValueType = 3
	ValUint32  ValueType = 4
	ValInt32   ValueType = 5
	ValFloat32 ValueType = 6
	ValBool    ValueType = 7
	ValString  ValueType = 8
	ValArray   ValueType = 9
	ValUint64  ValueType = 10
	ValInt64   ValueType = 11
	ValFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar of type t, or 0 for strings and arrays.
func (t ValueType) fixedSize() int {
	switch t {
	case ValUint8, ValInt8, ValBool:
		return 1
	case ValUint16, ValInt16:
		return 2
	case ValUint32, ValInt32, ValFloat32:
		return 4
	case ValUint64, ValInt64, ValFloat64:
		return 8
	}
	return 0
}

// Array is a metadata array. Values holds a typed slice: []uint8, []int8,
// []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []uint64,
// []int64, []float64, or []Array for nested arrays.
type Array struct {
	Elem   ValueType
	Values any
}

// Len is the number of elements.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []Array:
		return len(v)
	}
	return 0
}

// KV is one metadata entry. Value holds one of uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64, float64 or Array.
type KV struct {
	Key   string
	Value any
}

func valueTypeOf(v any) (ValueType, bool) {
	switch v.(type) {
	case uint8:
		return ValUint8, true
	case int8:
		return ValInt8, true
	case uint16:
		return ValUint16, true
	case int16:
		return ValInt16, true
	case uint32:
		return ValUint32, true
	case int32:
		return ValInt32, true
	case float32:
		return ValFloat32, true
	case bool:
		return ValBool, true
	case string:
		return ValString, true
	case Array:
		return ValArray, true
	case uint64:
		return ValUint64, true
	case int64:
		return ValInt64, true
	case float64:
		return ValFloat64, true
	}
	return 0, false
}

// asInt64 converts any integer metadata value to int64.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > 1<<63-1 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// asFloat64 converts any numeric metadata value to float64.
func asFloat64(v any) (float64, bool) {
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	i, ok := asInt64(v)
	return float64(i), ok
}

// Ints returns the elements of an array of integers or booleans (true is
// 1) as int64s; ok is false for any other element type and for uint64
// values beyond int64.
func (a Array) Ints() (out []int64, ok bool) {
	switch v := a.Values.(type) {
	case []bool:
		out = make([]int64, len(v))
		for i, b := range v {
			if b {
				out[i] = 1
			}
		}
		return out, true
	case []uint8:
		return widen(v)
	case []int8:
		return widen(v)
	case []uint16:
		return widen(v)
	case []int16:
		return widen(v)
	case []uint32:
		return widen(v)
	case []int32:
		return widen(v)
	case []uint64:
		return widen(v)
	case []int64:
		return v, true
	}
	return nil, false
}

func widen[T uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64](v []T) ([]int64, bool) {
	out := make([]int64, len(v))
	for i, x := range v {
		if out[i] = int64(x); out[i] < 0 && x > 0 {
			return nil, false
		}
	}
	return out, true
}
