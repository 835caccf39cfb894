package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// WriteTensor is a tensor to be written. Data produces its bytes when the
// writer reaches it, so a large model never needs to be held in memory.
type WriteTensor struct {
	Name string
	Type GGMLType
	Dims []uint64
	Data func() ([]byte, error)
}

// Write encodes a GGUF v3 file: header, metadata, tensor infos, then each
// tensor's data aligned to general.alignment (or DefaultAlignment).
// progress, if not nil, is called after each tensor with its byte count.
func Write(w io.Writer, meta []KV, tensors []WriteTensor, progress func(n int)) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	e := &encoder{w: bw}
	alignment := uint64(DefaultAlignment)
	for _, kv := range meta {
		if kv.Key != "general.alignment" {
			continue
		}
		a, ok := asInt64(kv.Value)
		if !ok || a <= 0 || a&(a-1) != 0 {
			return fmt.Errorf("general.alignment %v is not a power of two", kv.Value)
		}
		alignment = uint64(a)
	}

	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(meta)))
	for _, kv := range meta {
		e.str(kv.Key)
		if err := e.value(kv.Value, true); err != nil {
			return fmt.Errorf("metadata %q: %w", kv.Key, err)
		}
	}
	sizes := make([]uint64, len(tensors))
	var offset uint64
	for i, t := range tensors {
		elems := uint64(1)
		for _, d := range t.Dims {
			elems *= d
		}
		if len(t.Dims) == 0 || len(t.Dims) > maxDims {
			return fmt.Errorf("tensor %q: %d dimensions", t.Name, len(t.Dims))
		}
		rowBytes, err := t.Type.RowBytes(int(t.Dims[0]))
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		sizes[i] = uint64(rowBytes) * (elems / t.Dims[0])
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(offset)
		offset = alignUp(offset+sizes[i], alignment)
	}
	e.pad(alignment)
	for i, t := range tensors {
		data, err := t.Data()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if uint64(len(data)) != sizes[i] {
			return fmt.Errorf("tensor %q: %d bytes of data, shape %v of %s needs %d", t.Name, len(data), t.Dims, t.Type, sizes[i])
		}
		e.raw(data)
		e.pad(alignment)
		if progress != nil {
			progress(len(data))
		}
	}
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// encoder writes little-endian values and remembers the first error.
type encoder struct {
	w   io.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	var n int
	n, e.err = e.w.Write(b)
	e.n += uint64(n)
}

func (e *encoder) u8(v uint8) { e.raw([]byte{v}) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.raw(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.raw(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.raw(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.raw([]byte(s))
}
func (e *encoder) pad(alignment uint64) {
	if rem := e.n % alignment; rem != 0 {
		e.raw(make([]byte, alignment-rem))
	}
}

// value writes v, preceded by its type tag when tagged (array elements are not tagged).
func (e *encoder) value(v any, tagged bool) error {
	t, ok := valueTypeOf(v)
	if !ok {
		return fmt.Errorf("unsupported metadata value of Go type %T", v)
	}
	if tagged {
		e.u32(uint32(t))
	}
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case Array:
		return e.array(x)
	}
	return nil
}

func (e *encoder) array(a Array) error {
	e.u32(uint32(a.Elem))
	e.u64(uint64(a.Len()))
	var err error
	switch vs := a.Values.(type) {
	case []uint8:
		err = writeElems(e, a.Elem, vs)
	case []int8:
		err = writeElems(e, a.Elem, vs)
	case []uint16:
		err = writeElems(e, a.Elem, vs)
	case []int16:
		err = writeElems(e, a.Elem, vs)
	case []uint32:
		err = writeElems(e, a.Elem, vs)
	case []int32:
		err = writeElems(e, a.Elem, vs)
	case []float32:
		err = writeElems(e, a.Elem, vs)
	case []bool:
		err = writeElems(e, a.Elem, vs)
	case []string:
		err = writeElems(e, a.Elem, vs)
	case []uint64:
		err = writeElems(e, a.Elem, vs)
	case []int64:
		err = writeElems(e, a.Elem, vs)
	case []float64:
		err = writeElems(e, a.Elem, vs)
	case []Array:
		err = writeElems(e, a.Elem, vs)
	default:
		err = fmt.Errorf("unsupported array of Go type %T", a.Values)
	}
	return err
}

func writeElems[T any](e *encoder, elem ValueType, vs []T) error {
	for _, v := range vs {
		if t, _ := valueTypeOf(v); t != elem {
			return fmt.Errorf("array declared as %s holds a %s", elem, t)
		}
		if err := e.value(v, false); err != nil {
			return err
		}
	}
	return nil
}
