// Package gguf reads and writes GGUF model files and knows the storage
// layout of every ggml tensor type.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the tensor data alignment when general.alignment is absent.
const DefaultAlignment = 32

// maxDims is ggml's GGML_MAX_DIMS.
const maxDims = 4

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	Type GGMLType
	// Dims are ggml's ne: Dims[0] is the row length (the contiguous dimension).
	Dims []uint64
	// Offset is relative to the start of the tensor data region.
	Offset uint64
	// Size is the byte size of the data.
	Size uint64
}

// Elems is the number of values in the tensor.
func (t *TensorInfo) Elems() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// ParamCount is the number of values in all tensors, as llama.cpp counts parameters.
func (f *File) ParamCount() uint64 {
	var n uint64
	for i := range f.Tensors {
		n += f.Tensors[i].Elems()
	}
	return n
}

// File is an open GGUF file. Tensor data is read in place from a read-only
// memory mapping; the slices it hands out are valid until Close.
type File struct {
	Path      string
	Version   uint32
	Metadata  []KV
	Tensors   []TensorInfo
	Alignment uint64
	// DataOffset is the file offset of the tensor data region.
	DataOffset uint64
	// Size is the file size in bytes.
	Size uint64

	kv      map[string]int
	tensors map[string]int
	mapping []byte
	unmap   func() error
}

// Open maps path and parses and validates its header. Every count, length
// and offset is checked against the file size before use, so a malformed
// file yields an error naming it rather than a panic or a huge allocation.
func Open(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f, err := parse(data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	f.unmap = unmap
	return f, nil
}

// Close releases the memory mapping. Tensor data must not be used afterwards.
func (f *File) Close() error {
	f.mapping = nil
	if f.unmap == nil {
		return nil
	}
	unmap := f.unmap
	f.unmap = nil
	return unmap()
}

// Bytes is the whole file as mapped; the Metal backend wraps it without copying.
func (f *File) Bytes() []byte { return f.mapping }

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of t, aliasing the mapping.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + t.Offset
	return f.mapping[start : start+t.Size : start+t.Size]
}

// Value returns the metadata value of key.
func (f *File) Value(key string) (any, bool) {
	i, ok := f.kv[key]
	if !ok {
		return nil, false
	}
	return f.Metadata[i].Value, true
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Value(key)
	s, ok := v.(string)
	return s, ok
}

// Int returns an integer value of any integer type.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false
	}
	return asInt64(v)
}

// Float returns a numeric value as float64.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false
	}
	return asFloat64(v)
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Value(key)
	b, ok := v.(bool)
	return b, ok
}

// Array returns an array value.
func (f *File) Array(key string) (Array, bool) {
	v, _ := f.Value(key)
	a, ok := v.(Array)
	return a, ok
}

// Architecture is general.architecture, the prefix of model-specific keys.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// ArchInt returns "<arch>.<suffix>", e.g. ArchInt("embedding_length").
func (f *File) ArchInt(suffix string) (int64, bool) {
	return f.Int(f.Architecture() + "." + suffix)
}

// ArchFloat returns the float "<arch>.<suffix>".
func (f *File) ArchFloat(suffix string) (float64, bool) {
	return f.Float(f.Architecture() + "." + suffix)
}

// ArchValue returns the raw value "<arch>.<suffix>" (some keys, such as
// head_count_kv, may be a scalar or a per-layer array).
func (f *File) ArchValue(suffix string) (any, bool) {
	return f.Value(f.Architecture() + "." + suffix)
}

var errTruncated = errors.New("unexpected end of file")

// decoder reads little-endian values from the mapped header, checking every
// read against the end of the data.
type decoder struct {
	b   []byte
	off uint64
}

func (d *decoder) remaining() uint64 { return uint64(len(d.b)) - d.off }

func (d *decoder) take(n uint64) ([]byte, error) {
	if n > d.remaining() {
		return nil, fmt.Errorf("at offset %d: need %d bytes, %d left: %w", d.off, n, d.remaining(), errTruncated)
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s, nil
}

func (d *decoder) u8() (uint8, error) {
	s, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

func (d *decoder) u16() (uint16, error) {
	s, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(s), nil
}

func (d *decoder) u32() (uint32, error) {
	s, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(s), nil
}

func (d *decoder) u64() (uint64, error) {
	s, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(s), nil
}

func (d *decoder) str() (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	s, err := d.take(n)
	if err != nil {
		return "", fmt.Errorf("string of %d bytes: %w", n, err)
	}
	return string(s), nil
}

// maxArrayDepth bounds nesting so a hostile file cannot exhaust the stack.
const maxArrayDepth = 8

func (d *decoder) value(t ValueType, depth int) (any, error) {
	switch t {
	case ValUint8:
		return d.u8()
	case ValInt8:
		v, err := d.u8()
		return int8(v), err
	case ValUint16:
		return d.u16()
	case ValInt16:
		v, err := d.u16()
		return int16(v), err
	case ValUint32:
		return d.u32()
	case ValInt32:
		v, err := d.u32()
		return int32(v), err
	case ValFloat32:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case ValBool:
		v, err := d.u8()
		if err == nil && v > 1 {
			return nil, fmt.Errorf("at offset %d: bool value %d", d.off-1, v)
		}
		return v == 1, err
	case ValString:
		return d.str()
	case ValUint64:
		return d.u64()
	case ValInt64:
		v, err := d.u64()
		return int64(v), err
	case ValFloat64:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case ValArray:
		return d.array(depth + 1)
	}
	return nil, fmt.Errorf("at offset %d: unknown metadata value type %d", d.off, uint32(t))
}

func (d *decoder) array(depth int) (Array, error) {
	if depth > maxArrayDepth {
		return Array{}, fmt.Errorf("at offset %d: arrays nested deeper than %d", d.off, maxArrayDepth)
	}
	et, err := d.u32()
	if err != nil {
		return Array{}, err
	}
	elem := ValueType(et)
	n, err := d.u64()
	if err != nil {
		return Array{}, err
	}
	// Every element takes at least minSize bytes, so a count the rest of the
	// file cannot hold is a lie: reject it before allocating.
	minSize := uint64(elem.fixedSize())
	switch elem {
	case ValString:
		minSize = 8
	case ValArray:
		minSize = 12
	}
	if minSize == 0 {
		return Array{}, fmt.Errorf("at offset %d: unknown array element type %d", d.off, et)
	}
	if n > d.remaining()/minSize {
		return Array{}, fmt.Errorf("at offset %d: array of %d %s elements does not fit in the %d bytes left: %w", d.off, n, elem, d.remaining(), errTruncated)
	}
	a := Array{Elem: elem}
	switch elem {
	case ValUint8:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) uint8 { return b[0] })
	case ValInt8:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) int8 { return int8(b[0]) })
	case ValUint16:
		a.Values, err = readScalars(d, n, minSize, binary.LittleEndian.Uint16)
	case ValInt16:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) })
	case ValUint32:
		a.Values, err = readScalars(d, n, minSize, binary.LittleEndian.Uint32)
	case ValInt32:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
	case ValFloat32:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
	case ValBool:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) bool { return b[0] != 0 })
	case ValUint64:
		a.Values, err = readScalars(d, n, minSize, binary.LittleEndian.Uint64)
	case ValInt64:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
	case ValFloat64:
		a.Values, err = readScalars(d, n, minSize, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	case ValString:
		s := make([]string, n)
		for i := range s {
			if s[i], err = d.str(); err != nil {
				return Array{}, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		a.Values = s
	case ValArray:
		s := make([]Array, n)
		for i := range s {
			if s[i], err = d.array(depth + 1); err != nil {
				return Array{}, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		a.Values = s
	}
	return a, err
}

// readScalars decodes n fixed-size values with conv; the array's element
// type fixes the size.
func readScalars[T any](d *decoder, n uint64, size uint64, conv func([]byte) T) ([]T, error) {
	raw, err := d.take(n * size)
	if err != nil {
		return nil, err
	}
	out := make([]T, n)
	for i := range out {
		out[i] = conv(raw[uint64(i)*size:])
	}
	return out, nil
}

// parse reads a GGUF file held in memory; tensor data slices alias data.
func parse(data []byte) (*File, error) {
	d := &decoder{b: data}
	magic, err := d.take(4)
	if err != nil || string(magic) != Magic {
		return nil, fmt.Errorf("not a GGUF file (missing %q magic)", Magic)
	}
	f := &File{Size: uint64(len(data)), mapping: data, kv: map[string]int{}, tensors: map[string]int{}}
	if f.Version, err = d.u32(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if f.Version != 2 && f.Version != 3 {
		return nil, fmt.Errorf("unsupported GGUF version %d (supported: 2, 3)", f.Version)
	}
	nTensors, err := d.u64()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	nKV, err := d.u64()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	// A key-value pair takes at least 8+4+1 bytes, a tensor info 8+4+4+8.
	if nKV > d.remaining()/13 {
		return nil, fmt.Errorf("header claims %d metadata entries, more than the file can hold", nKV)
	}
	if nTensors > d.remaining()/24 {
		return nil, fmt.Errorf("header claims %d tensors, more than the file can hold", nTensors)
	}
	if err := f.readMetadata(d, nKV); err != nil {
		return nil, err
	}
	if err := f.readTensorInfos(d, nTensors); err != nil {
		return nil, err
	}
	return f, f.placeData(d.off)
}

func (f *File) readMetadata(d *decoder, n uint64) error {
	f.Metadata = make([]KV, 0, n)
	for i := uint64(0); i < n; i++ {
		key, err := d.str()
		if err != nil {
			return fmt.Errorf("metadata entry %d: key: %w", i, err)
		}
		vt, err := d.u32()
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		v, err := d.value(ValueType(vt), 0)
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		if _, dup := f.kv[key]; dup {
			return fmt.Errorf("metadata key %q appears twice", key)
		}
		f.kv[key] = len(f.Metadata)
		f.Metadata = append(f.Metadata, KV{Key: key, Value: v})
	}
	f.Alignment = DefaultAlignment
	if v, ok := f.Value("general.alignment"); ok {
		a, isInt := asInt64(v)
		if !isInt || a <= 0 || a&(a-1) != 0 || a > 1<<20 {
			return fmt.Errorf("general.alignment %v is not a power of two", v)
		}
		f.Alignment = uint64(a)
	}
	return nil
}

func (f *File) readTensorInfos(d *decoder, n uint64) error {
	f.Tensors = make([]TensorInfo, 0, n)
	for i := uint64(0); i < n; i++ {
		name, err := d.str()
		if err != nil {
			return fmt.Errorf("tensor %d: name: %w", i, err)
		}
		t, err := readTensorInfo(d, name)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		if _, dup := f.tensors[name]; dup {
			return fmt.Errorf("tensor %q appears twice", name)
		}
		f.tensors[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

func readTensorInfo(d *decoder, name string) (TensorInfo, error) {
	t := TensorInfo{Name: name}
	nDims, err := d.u32()
	if err != nil {
		return t, err
	}
	if nDims == 0 || nDims > maxDims {
		return t, fmt.Errorf("%d dimensions (want 1..%d)", nDims, maxDims)
	}
	t.Dims = make([]uint64, nDims)
	elems := uint64(1)
	for j := range t.Dims {
		if t.Dims[j], err = d.u64(); err != nil {
			return t, err
		}
		if t.Dims[j] == 0 || t.Dims[j] > math.MaxInt64/elems {
			return t, fmt.Errorf("bad shape %v", t.Dims[:j+1])
		}
		elems *= t.Dims[j]
	}
	typ, err := d.u32()
	if err != nil {
		return t, err
	}
	t.Type = GGMLType(typ)
	if !t.Type.Known() {
		return t, fmt.Errorf("unsupported tensor type id %d", typ)
	}
	if t.Dims[0]%uint64(t.Type.BlockElems()) != 0 {
		return t, fmt.Errorf("row length %d is not a multiple of the %s block size %d", t.Dims[0], t.Type, t.Type.BlockElems())
	}
	blocks := elems / uint64(t.Type.BlockElems())
	if blocks > math.MaxInt64/uint64(t.Type.BlockBytes()) {
		return t, fmt.Errorf("shape %v is too large", t.Dims)
	}
	t.Size = blocks * uint64(t.Type.BlockBytes())
	if t.Offset, err = d.u64(); err != nil {
		return t, err
	}
	return t, nil
}

// placeData finds the data region after the header and checks that every
// tensor lies inside it, aligned, and that no two tensors share bytes (as
// llama.cpp, which requires them laid out one after another, refuses).
func (f *File) placeData(headerEnd uint64) error {
	f.DataOffset = (headerEnd + f.Alignment - 1) / f.Alignment * f.Alignment
	if len(f.Tensors) == 0 {
		return nil
	}
	if f.DataOffset > f.Size {
		return fmt.Errorf("tensor data region starts at %d, past the end of the %d-byte file: %w", f.DataOffset, f.Size, errTruncated)
	}
	dataSize := f.Size - f.DataOffset
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("tensor %q: offset %d is not aligned to %d", t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > dataSize || t.Size > dataSize-t.Offset {
			return fmt.Errorf("tensor %q: data [%d, +%d) lies outside the %d-byte data region (file truncated?)", t.Name, t.Offset, t.Size, dataSize)
		}
	}
	byOffset := make([]*TensorInfo, len(f.Tensors))
	for i := range f.Tensors {
		byOffset[i] = &f.Tensors[i]
	}
	sort.Slice(byOffset, func(i, j int) bool { return byOffset[i].Offset < byOffset[j].Offset })
	for i := 1; i < len(byOffset); i++ {
		a, b := byOffset[i-1], byOffset[i]
		if a.Offset+a.Size > b.Offset {
			return fmt.Errorf("tensors %q [%d, +%d) and %q [%d, +%d) overlap in the data region", a.Name, a.Offset, a.Size, b.Name, b.Offset, b.Size)
		}
	}
	return nil
}

// fileSize reports the size of an open file, rejecting non-regular files.
func fileSize(fh *os.File) (int64, error) {
	st, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, errors.New("not a regular file")
	}
	return st.Size(), nil
}

// unwrapPath drops the path from an *os.PathError: Open names the file itself.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
