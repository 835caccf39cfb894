package metal

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/quant-llm/quant/internal/kernels"
)

// TestArgsLayout checks every Go args struct against the struct of the same
// name in quant_args.h: same fields, same order, same 4-byte types.
func TestArgsLayout(t *testing.T) {
	structs := parseHeaderStructs(t, kernels.Source())
	cTypes := map[string]reflect.Kind{"int32_t": reflect.Int32, "uint32_t": reflect.Uint32, "float": reflect.Float32}
	for _, v := range []any{GetRowsArgs{}, RMSNormArgs{}, RopeArgs{}, MulMVArgs{}, CopyArgs{}, BiasArgs{}, AttnArgs{},
		SplitHeadsArgs{}, ConvArgs{}, DeltaArgs{}} {
		typ := reflect.TypeOf(v)
		fields, ok := structs[typ.Name()]
		if !ok {
			t.Errorf("%s: no struct of that name in quant_args.h", typ.Name())
			continue
		}
		if len(fields) != typ.NumField() {
			t.Errorf("%s: %d fields in C, %d in Go", typ.Name(), len(fields), typ.NumField())
			continue
		}
		for i, f := range fields {
			g := typ.Field(i)
			if normalise(f[1]) != normalise(g.Name) || cTypes[f[0]] != g.Type.Kind() || g.Type.Size() != 4 || g.Offset != uintptr(4*i) {
				t.Errorf("%s field %d: C %s %s, Go %s %s at offset %d", typ.Name(), i, f[0], f[1], g.Name, g.Type, g.Offset)
			}
		}
	}
}

// parseHeaderStructs returns, per struct name, its fields as (type, name).
func parseHeaderStructs(t *testing.T, src string) map[string][][2]string {
	t.Helper()
	out := map[string][][2]string{}
	body := regexp.MustCompile(`(?s)struct\s+(\w+)\s*\{(.*?)\};`)
	field := regexp.MustCompile(`^\s*(\w+)\s+(\w+)\s*;`)
	for _, m := range body.FindAllStringSubmatch(src, -1) {
		var fields [][2]string
		for _, line := range strings.Split(m[2], "\n") {
			if f := field.FindStringSubmatch(line); f != nil {
				fields = append(fields, [2]string{f[1], f[2]})
			}
		}
		out[m[1]] = fields
	}
	if len(out) == 0 {
		t.Fatal("no structs found in the kernel source")
	}
	return out
}

func normalise(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}
