package kernels

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func readHeader(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("quant_args.h")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestArgsMirrorHeader(t *testing.T) {
	for _, e := range mirrorErrors(readHeader(t)) {
		t.Error(e)
	}
}

// TestArgsMirrorCatchesDrift edits the header as a careless change would
// and expects the check to name what no longer agrees.
func TestArgsMirrorCatchesDrift(t *testing.T) {
	header := readHeader(t)
	for _, tc := range []struct{ name, old, new, want string }{
		{"define value", "#define QUANT_MM_ROWS        64", "#define QUANT_MM_ROWS        16", "QUANT_MM_ROWS"},
		{"new define", "#define QUANT_MV_SG", "#define QUANT_NEW 1\n#define QUANT_MV_SG", "QUANT_NEW"},
		{"field type", "uint32_t nb01;", "int32_t  nb01;", "MatMulArgs"},
		{"field order", "int32_t  ne01;\n    uint32_t nb01;", "uint32_t nb01;\n    int32_t  ne01;", "MatMulArgs"},
		{"extra field", "int32_t chunk;", "int32_t chunk;\n    int32_t extra;", "AttnArgs"},
		{"wider field", "float   eps;\n    float   scale;", "float   eps;\n    double  scale;", "DeltaArgs"},
		{"new struct", "#endif", "struct NewArgs {\n    int32_t n;\n};\n#endif", "NewArgs"},
		{"renamed struct", "struct BiasArgs {", "struct AddBiasArgs {", "BiasArgs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(header, tc.old) {
				t.Fatalf("quant_args.h no longer contains %q: update the test", tc.old)
			}
			errs := mirrorErrors(strings.Replace(header, tc.old, tc.new, 1))
			if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
				t.Errorf("errors %q do not name %s", errs, tc.want)
			}
		})
	}
}

// mirrorErrors compares the #defines and structs of header with the Go
// mirror: same names and values, same fields at the same offsets with the
// same sizes and kinds.
func mirrorErrors(header string) []string {
	headerDefines := map[string]int{
		"QUANT_MV_ROWS_PER_SG":   MVRowsPerSG,
		"QUANT_MV_ROWS_PER_SG_K": MVRowsPerSGK,
		"QUANT_MV_SG":            MVSG,
		"QUANT_MV_BATCH":         MVBatch,
		"QUANT_MM_ROWS":          MMRows,
		"QUANT_MM_COLS":          MMCols,
		"QUANT_MM_THREADS":       MMThreads,
		"QUANT_MM_TG_W":          MMTGW,
		"QUANT_MM_TG_X":          MMTGX,
		"QUANT_ATTN_CHUNK":       AttnChunk,
		"QUANT_MV_STORE":         MVStore,
		"QUANT_MV_ADD":           MVAdd,
		"QUANT_MV_SWIGLU":        MVSwiGLU,
		"QUANT_ATTN_SG":          AttnSG,
		"QUANT_ATTN_ROWS":        AttnRows,
		"QUANT_ATTN_KEYS":        AttnKeys,
	}
	headerStructs := []any{
		GetRowsArgs{}, RMSNormArgs{}, RopeStoreArgs{}, MatMulArgs{}, FusedMVArgs{}, ElementwiseArgs{}, BiasArgs{}, AttnArgs{},
		SplitHeadsArgs{}, ConvArgs{}, DeltaArgs{},
	}
	var errs []string
	defineRE := regexp.MustCompile(`(?m)^#define\s+(\w+)[ \t]+([^\s/]+)`)
	seen := map[string]bool{}
	for _, m := range defineRE.FindAllStringSubmatch(header, -1) {
		name := m[1]
		seen[name] = true
		want, ok := headerDefines[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("#define %s has no Go constant (add it to args.go and to mirrorErrors)", name))
			continue
		}
		if v, err := strconv.Atoi(m[2]); err != nil || v != want {
			errs = append(errs, fmt.Sprintf("#define %s %s, Go has %d", name, m[2], want))
		}
	}
	for name := range headerDefines {
		if !seen[name] {
			errs = append(errs, fmt.Sprintf("no #define %s in the header", name))
		}
	}

	structs := parseStructs(header)
	goStructs := map[string]reflect.Type{}
	for _, v := range headerStructs {
		typ := reflect.TypeOf(v)
		goStructs[typ.Name()] = typ
		if _, ok := structs[typ.Name()]; !ok {
			errs = append(errs, fmt.Sprintf("%s: no struct of that name in the header", typ.Name()))
		}
	}
	for name, fields := range structs {
		typ, ok := goStructs[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("struct %s has no Go mirror (add it to args.go and to mirrorErrors)", name))
			continue
		}
		errs = append(errs, layoutErrors(typ, fields)...)
	}
	return errs
}

// cField is a field of a C struct: its type and name.
type cField struct{ typ, name string }

// parseStructs returns the fields of every struct in src by struct name.
func parseStructs(src string) map[string][]cField {
	out := map[string][]cField{}
	body := regexp.MustCompile(`(?s)struct\s+(\w+)\s*\{(.*?)\};`)
	field := regexp.MustCompile(`^\s*(\w+)\s+(\w+)\s*;`)
	for _, m := range body.FindAllStringSubmatch(src, -1) {
		fields := []cField{}
		for _, line := range strings.Split(m[2], "\n") {
			if f := field.FindStringSubmatch(line); f != nil {
				fields = append(fields, cField{f[1], f[2]})
			}
		}
		out[m[1]] = fields
	}
	return out
}

// layoutErrors lays out the C fields with natural alignment and compares
// them with the Go struct field by field.
func layoutErrors(typ reflect.Type, fields []cField) []string {
	// The field types the header may use, with their Go kinds and sizes
	// (which are also their alignments).
	cTypes := map[string]struct {
		kind reflect.Kind
		size uintptr
	}{
		"int32_t": {reflect.Int32, 4}, "uint32_t": {reflect.Uint32, 4}, "float": {reflect.Float32, 4},
	}
	var errs []string
	if len(fields) != typ.NumField() {
		errs = append(errs, fmt.Sprintf("%s: %d fields in C, %d in Go", typ.Name(), len(fields), typ.NumField()))
	}
	var off, align uintptr = 0, 1
	for i, f := range fields {
		ct, ok := cTypes[f.typ]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s.%s: C type %s is not one the Go mirror can hold", typ.Name(), f.name, f.typ))
			return errs
		}
		off = (off + ct.size - 1) / ct.size * ct.size
		align = max(align, ct.size)
		if i < typ.NumField() {
			g := typ.Field(i)
			if normalise(f.name) != normalise(g.Name) || g.Type.Kind() != ct.kind || g.Offset != off || g.Type.Size() != ct.size {
				errs = append(errs, fmt.Sprintf("%s field %d: C %s %s at offset %d, Go %s %s at offset %d",
					typ.Name(), i, f.typ, f.name, off, g.Name, g.Type, g.Offset))
			}
		}
		off += ct.size
	}
	if size := (off + align - 1) / align * align; size != typ.Size() {
		errs = append(errs, fmt.Sprintf("%s: %d bytes in C, %d in Go", typ.Name(), size, typ.Size()))
	}
	return errs
}

// normalise maps C's snake_case and Go's CamelCase field names to one form.
func normalise(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}
