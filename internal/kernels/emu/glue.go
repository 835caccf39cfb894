package emu

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Kernel is one entry point parsed from MSL source: a plain `kernel void`
// function, or an instantiation of a kernel template given a host name
// (`template [[host_name("name")]] kernel type tmpl<args>;`).
type Kernel struct {
	Name string // the name the host looks the kernel up by
	Call string // the C++ function it is: Name, or the template with its arguments
	// Instance is an instantiation's declaration without its host name
	// (`type tmpl<args>`), which the glue instantiates so that clang checks
	// the function type and the arguments as the Metal compiler does.
	Instance string
	Params   []Param
}

// Param is one kernel parameter: its declared type and name, and its
// attribute: "buffer" or "threadgroup" with Index, or a built-in input name
// such as "thread_position_in_grid".
type Param struct {
	Type, Name string
	Attr       string
	Index      int
}

// builtin maps a built-in input attribute to its slot in emu_ctx.bi.
func builtin(attr string) (string, bool) {
	switch attr {
	case "thread_position_in_grid":
		return "EMU_BI_TPIG", true
	case "thread_position_in_threadgroup":
		return "EMU_BI_TPITG", true
	case "threadgroup_position_in_grid":
		return "EMU_BI_TGPIG", true
	case "threads_per_threadgroup", "dispatch_threads_per_threadgroup":
		return "EMU_BI_NTG", true
	case "threadgroups_per_grid":
		return "EMU_BI_NGRID", true
	case "threads_per_grid":
		return "EMU_BI_TPG", true
	case "thread_index_in_threadgroup":
		return "EMU_BI_TIITG", true
	case "thread_index_in_simdgroup":
		return "EMU_BI_TIISG", true
	case "simdgroup_index_in_threadgroup":
		return "EMU_BI_SGITG", true
	case "simdgroups_per_threadgroup", "dispatch_simdgroups_per_threadgroup":
		return "EMU_BI_NSG", true
	case "threads_per_simdgroup", "thread_execution_width":
		return "EMU_BI_WIDTH", true
	}
	return "", false
}

// The built-in inputs that give a position or a count in the grid: MSL
// lets each be a scalar or a 2- or 3-vector of ushort or uint.
var gridBuiltins = []string{
	"thread_position_in_grid", "threads_per_grid", "thread_position_in_threadgroup",
	"threads_per_threadgroup", "dispatch_threads_per_threadgroup",
	"threadgroup_position_in_grid", "threadgroups_per_grid",
}

// checkBuiltins applies the MSL specification's rules on the types of a
// kernel's built-in inputs (section 5.2.3.6, "Notes on kernel function
// attributes"), which the Metal compiler enforces and C++ does not:
//   - the grid position and count inputs (gridBuiltins) are ushort or uint,
//     scalars or vectors of 2 or 3; the others, indices and counts of
//     threads and simdgroups, are ushort or uint;
//   - vector-typed grid inputs have the same number of components. The
//     specification leaves open whether a scalar may stand next to a vector;
//     ggml-metal never does that, and neither may these kernels: all of them
//     have the same number of components;
//   - [[thread_position_in_grid]] and [[threads_per_grid]] have the same
//     type, and so have [[thread_position_in_threadgroup]],
//     [[threads_per_threadgroup]] and [[dispatch_threads_per_threadgroup]];
//   - [[thread_index_in_threadgroup]] is uint when
//     [[thread_position_in_threadgroup]] is uint, uint2 or uint3.
func checkBuiltins(params []Param) error {
	typ := map[string]string{}  // attribute -> declared type, without const
	first := map[string]Param{} // for messages
	var grid []Param
	for _, p := range params {
		if p.Attr == "buffer" || p.Attr == "threadgroup" {
			continue
		}
		t := strings.Join(strings.Fields(strings.TrimPrefix(p.Type, "const ")), " ")
		typ[p.Attr], first[p.Attr] = t, p
		allowed := []string{"ushort", "uint"}
		if slices.Contains(gridBuiltins, p.Attr) {
			allowed = []string{"ushort", "ushort2", "ushort3", "uint", "uint2", "uint3"}
			grid = append(grid, p)
		}
		if !slices.Contains(allowed, t) {
			return fmt.Errorf("[[%s]] %s is %s: MSL allows %s", p.Attr, p.Name, t, strings.Join(allowed, ", "))
		}
	}
	components := func(p Param) byte { // '2', '3', or 't' for a scalar (ushort, uint)
		return typ[p.Attr][len(typ[p.Attr])-1]
	}
	for _, p := range grid {
		if components(p) != components(grid[0]) {
			return fmt.Errorf("[[%s]] %s is %s and [[%s]] %s is %s: the grid position and count inputs must all be scalars or all vectors of one length",
				grid[0].Attr, grid[0].Name, typ[grid[0].Attr], p.Attr, p.Name, typ[p.Attr])
		}
	}
	for _, same := range [][]string{
		{"thread_position_in_grid", "threads_per_grid"},
		{"thread_position_in_threadgroup", "threads_per_threadgroup", "dispatch_threads_per_threadgroup"},
	} {
		for _, a := range same {
			for _, b := range same {
				if ta, tb := typ[a], typ[b]; ta != "" && tb != "" && ta != tb {
					return fmt.Errorf("[[%s]] %s is %s and [[%s]] %s is %s: MSL requires the same type", a, first[a].Name, ta, b, first[b].Name, tb)
				}
			}
		}
	}
	if t := typ["thread_position_in_threadgroup"]; strings.HasPrefix(t, "uint") && typ["thread_index_in_threadgroup"] == "ushort" {
		return fmt.Errorf("[[thread_index_in_threadgroup]] %s is ushort and [[thread_position_in_threadgroup]] %s is %s: MSL requires uint", first["thread_index_in_threadgroup"].Name, first["thread_position_in_threadgroup"].Name, t)
	}
	return nil
}

// ParseKernels finds the kernel entry points of an MSL source and their
// parameters. Comments are ignored; preprocessor conditionals are not
// evaluated, so instantiations that only the Metal compiler sees (C++ allows
// no attributes on an explicit instantiation) are found as well.
func ParseKernels(src string) ([]Kernel, error) {
	commentRE := regexp.MustCompile(`(?s)//[^\n]*|/\*.*?\*/`)
	src = commentRE.ReplaceAllStringFunc(src, func(c string) string {
		return strings.Repeat(" ", len(c)) // keep offsets
	})
	type found struct {
		at int
		k  Kernel
	}
	var entries []found
	templates := map[string][]Param{} // kernel templates by name
	for _, m := range regexp.MustCompile(`\bkernel\s+void\s+([A-Za-z_]\w*)\s*\(`).FindAllStringSubmatchIndex(src, -1) {
		name := src[m[2]:m[3]]
		params, err := parseParams(name, src, m[1])
		if err != nil {
			return nil, err
		}
		if err := checkBuiltins(params); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		tparams, isTemplate, err := templateParams(src[:m[0]])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !isTemplate {
			entries = append(entries, found{m[0], Kernel{Name: name, Call: name, Params: params}})
			continue
		}
		// The glue casts each binding to the declared type, which must not
		// depend on the instantiation.
		for _, p := range params {
			for _, word := range identifiers(p.Type) {
				if slices.Contains(tparams, word) {
					return nil, fmt.Errorf("%s: parameter %s: its type depends on template parameter %s", name, p.Name, word)
				}
			}
		}
		templates[name] = params
	}

	instRE := regexp.MustCompile(`\btemplate\s*\[\[\s*host_name\s*\(\s*"([^"]*)"\s*\)\s*\]\]\s*kernel\s+([^;]*);`)
	for _, m := range instRE.FindAllStringSubmatchIndex(src, -1) {
		host, decl := src[m[2]:m[3]], src[m[4]:m[5]]
		if ids := identifiers(host); len(ids) != 1 || ids[0] != host || unicode.IsDigit(rune(host[0])) {
			return nil, fmt.Errorf("host name %q: want an identifier", host)
		}
		typ, tmpl, args, ok := splitTemplateID(decl)
		if !ok || typ == "" {
			return nil, fmt.Errorf("%s: %q: want `kernel type template<arguments>;`", host, strings.TrimSpace(decl))
		}
		params, ok := templates[tmpl]
		if !ok {
			return nil, fmt.Errorf("%s: %s is not a kernel template", host, tmpl)
		}
		args = strings.Join(strings.Fields(args), " ")
		entries = append(entries, found{m[0], Kernel{Name: host, Call: tmpl + "<" + args + ">",
			Instance: strings.Join(strings.Fields(decl), " "), Params: params}})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].at < entries[j].at })
	ks := make([]Kernel, len(entries))
	for i, e := range entries {
		ks[i] = e.k
	}
	return ks, nil
}

// parseParams parses the parameter list of kernel name, which starts at
// src[open] (just after the opening parenthesis).
func parseParams(name, src string, open int) ([]Param, error) {
	paramRE := regexp.MustCompile(`^(.*?)\b([A-Za-z_]\w*)\s*\[\[\s*([A-Za-z_]\w*)\s*(?:\(\s*(\d+)\s*\))?\s*\]\]$`)
	spaceRE := regexp.MustCompile(`\s+`)
	depth, end := 1, -1
	for i := open; i < len(src) && end < 0; i++ {
		switch src[i] {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				end = i
			}
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("%s: unterminated parameter list", name)
	}
	var params []Param
	for _, p := range splitTopLevel(src[open:end]) {
		p = strings.TrimSpace(spaceRE.ReplaceAllString(p, " "))
		pm := paramRE.FindStringSubmatch(p)
		if pm == nil {
			return nil, fmt.Errorf("%s: parameter %q: want `type name [[attribute]]`", name, p)
		}
		par := Param{Type: strings.TrimSpace(pm[1]), Name: pm[2], Attr: pm[3]}
		switch {
		case par.Attr == "buffer" || par.Attr == "threadgroup":
			if pm[4] == "" {
				return nil, fmt.Errorf("%s: parameter %s: [[%s]] needs an index", name, par.Name, par.Attr)
			}
			fmt.Sscan(pm[4], &par.Index)
			if par.Index >= 31 {
				return nil, fmt.Errorf("%s: parameter %s: index %d out of range", name, par.Name, par.Index)
			}
			last := par.Type[len(par.Type)-1]
			if last != '*' && !(last == '&' && par.Attr == "buffer") {
				return nil, fmt.Errorf("%s: parameter %s: [[%s]] needs a pointer (or a reference for buffers)", name, par.Name, par.Attr)
			}
		default:
			if _, ok := builtin(par.Attr); !ok {
				return nil, fmt.Errorf("%s: parameter %s: attribute [[%s]] is not supported by the emulator", name, par.Name, par.Attr)
			}
		}
		params = append(params, par)
	}
	return params, nil
}

// templateParams returns the names of the template parameters when before
// (the source up to a kernel) ends with a template header.
func templateParams(before string) ([]string, bool, error) {
	if !strings.HasSuffix(strings.TrimSpace(before), ">") {
		return nil, false, nil
	}
	_, keyword, list, ok := splitTemplateID(before)
	if !ok || keyword != "template" {
		return nil, false, fmt.Errorf("a kernel may follow only a template header")
	}
	var names []string
	for _, p := range splitTopLevel(list) {
		p, _, _ = strings.Cut(p, "=") // a default argument
		if ids := identifiers(p); len(ids) > 0 {
			names = append(names, ids[len(ids)-1])
		}
	}
	return names, true, nil
}

// splitTemplateID splits s, which ends with a template-id `name<args>` (or
// a template header), into what precedes the name, the name and the
// arguments.
func splitTemplateID(s string) (prefix, name, args string, ok bool) {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, ">") {
		return "", "", "", false
	}
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '>':
			depth++
		case '<':
			if depth--; depth > 0 {
				continue
			}
			head := strings.TrimSpace(s[:i])
			start := strings.LastIndexFunc(head, notIdentifier) + 1
			if start == len(head) {
				return "", "", "", false
			}
			return strings.TrimSpace(head[:start]), head[start:], s[i+1 : len(s)-1], true
		}
	}
	return "", "", "", false
}

// notIdentifier reports whether r cannot be part of an identifier.
func notIdentifier(r rune) bool { return r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// identifiers returns the words of s made of letters, digits and '_'.
func identifiers(s string) []string {
	return strings.FieldsFunc(s, notIdentifier)
}

// splitTopLevel splits a parameter list at commas outside brackets.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '<', '{':
			depth++
		case ')', ']', '>', '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		out = append(out, s[start:])
	}
	return out
}

// SourceFile is a .metal file as the glue includes it.
type SourceFile struct {
	Include string // path relative to the emu package directory
	Text    string
}

// Glue returns the C++ translation unit that compiles one group of .metal
// files (in a namespace of their own, like one Metal library) and exposes
// their kernels to the runtime as the table emu_kernels_<group>.
func Glue(group string, files []SourceFile) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "//go:build mslemu\n\n// Code generated by \"go run ./gen\" in internal/kernels/emu; DO NOT EDIT.\n\n")
	b.WriteString("#include \"runtime.h\"\n#include <metal_stdlib>\n\n")
	ks, err := glueKernels(&b, group, files)
	if err != nil {
		return nil, err
	}
	glueTable(&b, group, ks)
	return b.Bytes(), nil
}

// countedGlue is Glue for package counted, which builds the product kernels
// with -fsanitize=thread so that the runtime's stand-ins for ThreadSanitizer
// see every load (emu.CountLoads). The kernels are compiled without
// optimization, so that each load written in the source is one load
// executed, as the kernel states it; the runtime and the shim are not
// instrumented. inputs lists files the package includes from outside its
// directory with a hash of each: the go command does not track them, so a
// change to one makes this file stale (TestGlueUpToDate) and regenerating it
// rebuilds the package.
func countedGlue(files []SourceFile, inputs []string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "//go:build mslemu\n\n// Code generated by \"go run ./gen\" in internal/kernels/emu; DO NOT EDIT.\n//\n")
	b.WriteString("// The product kernels, built by package counted with every load instrumented.\n")
	for _, in := range inputs {
		fmt.Fprintf(&b, "// input %s\n", in)
	}
	b.WriteString("\n#pragma clang attribute push(__attribute__((no_sanitize(\"thread\"))), apply_to = function)\n")
	b.WriteString("#include \"runtime.h\"\n#include <metal_stdlib>\n#pragma clang attribute pop\n\n")
	b.WriteString("#pragma clang attribute push(__attribute__((optnone)), apply_to = function)\n")
	ks, err := glueKernels(&b, "counted", files)
	if err != nil {
		return nil, err
	}
	b.WriteString("#pragma clang attribute pop\n\n")
	glueTable(&b, "counted", ks)
	return b.Bytes(), nil
}

// glueKernels writes the namespace of a group's kernels, with a glue
// function for each, and returns the kernels.
func glueKernels(b *bytes.Buffer, group string, files []SourceFile) ([]Kernel, error) {
	ns := "emu_" + group
	fmt.Fprintf(b, "namespace %s {\n", ns)
	var ks []Kernel
	for _, f := range files {
		fmt.Fprintf(b, "#include %q\n", f.Include)
		fk, err := ParseKernels(f.Text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Include, err)
		}
		ks = append(ks, fk...)
	}
	for _, k := range ks {
		if k.Instance != "" {
			fmt.Fprintf(b, "\ntemplate %s;\n", k.Instance)
		}
		fmt.Fprintf(b, "\nstatic void glue_%s(const emu_ctx* c) {\n  (void)c;\n  %s(", k.Name, k.Call)
		for i, p := range k.Params {
			sep := ","
			if i == len(k.Params)-1 {
				sep = ");"
			}
			var arg string
			switch p.Attr {
			case "buffer":
				if t, ok := strings.CutSuffix(p.Type, "&"); ok {
					arg = fmt.Sprintf("*(%s*)c->buf[%d]", strings.TrimSpace(t), p.Index)
				} else {
					arg = fmt.Sprintf("(%s)c->buf[%d]", p.Type, p.Index)
				}
			case "threadgroup":
				arg = fmt.Sprintf("(%s)c->tg[%d]", p.Type, p.Index)
			default:
				slot, _ := builtin(p.Attr)
				arg = fmt.Sprintf("emu_bi<%s>(c->bi[%s])", strings.TrimPrefix(p.Type, "const "), slot)
			}
			fmt.Fprintf(b, "\n      %s%s", arg, sep)
		}
		if len(k.Params) == 0 {
			b.WriteString(");")
		}
		b.WriteString("\n}\n")
	}
	fmt.Fprintf(b, "}  // namespace %s\n\n", ns)
	return ks, nil
}

// glueTable writes the table emu_kernels_<group> of the kernels ks.
func glueTable(b *bytes.Buffer, group string, ks []Kernel) {
	fmt.Fprintf(b, "extern \"C\" const emu_kernel emu_kernels_%s[] = {\n", group)
	for _, k := range ks {
		var bufs, tgs uint32
		for _, p := range k.Params {
			switch p.Attr {
			case "buffer":
				bufs |= 1 << p.Index
			case "threadgroup":
				tgs |= 1 << p.Index
			}
		}
		fmt.Fprintf(b, "    {%q, emu_%s::glue_%s, 0x%08x, 0x%08x},\n", k.Name, group, k.Name, bufs, tgs)
	}
	b.WriteString("    {nullptr, nullptr, 0, 0},\n};\n")
}

// GeneratedGlue produces the glue files of the emu package from the sources
// on disk: the product kernels (../*.metal, the files kernels.Source embeds),
// the test-only kernels (testdata/*.metal), and the product kernels again
// for package counted (counted/). dir is the emu package directory; the
// result maps file names relative to it to their contents.
func GeneratedGlue(dir string) (map[string][]byte, error) {
	product, err := metalFiles(dir, "..", ".")
	if err != nil {
		return nil, err
	}
	testdata, err := metalFiles(dir, "testdata", ".")
	if err != nil {
		return nil, err
	}
	counted, err := metalFiles(dir, "..", countedDir)
	if err != nil {
		return nil, err
	}
	var inputs []string
	for _, name := range []string{"runtime.h", "shim/metal_stdlib"} {
		text, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, fmt.Sprintf("%s sha256:%x", name, sha256.Sum256(text)))
	}
	out := map[string][]byte{}
	if out["glue_product_gen.cpp"], err = Glue("product", product); err != nil {
		return nil, err
	}
	if out["glue_testdata_gen.cpp"], err = Glue("testdata", testdata); err != nil {
		return nil, err
	}
	if out[countedDir+"/glue_counted_gen.cpp"], err = countedGlue(counted, inputs); err != nil {
		return nil, err
	}
	return out, nil
}

// countedDir is package counted's directory, relative to the emu package.
const countedDir = "counted"

// metalFiles reads the .metal files of the folder src (relative to the emu
// package directory dir) in name order, to be included from a glue file in
// the folder at (also relative to dir).
func metalFiles(dir, src, at string) ([]SourceFile, error) {
	names, err := filepath.Glob(filepath.Join(dir, src, "*.metal"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var files []SourceFile
	for _, n := range names {
		text, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(filepath.Join(dir, at), n)
		if err != nil {
			return nil, err
		}
		files = append(files, SourceFile{Include: filepath.ToSlash(rel), Text: string(text)})
	}
	return files, nil
}
