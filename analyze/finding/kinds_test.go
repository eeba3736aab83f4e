package finding

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestKindsListsEveryKind checks that Kinds holds every Kind constant
// declared in this package's source, once: the JSON schema's enum of kinds
// is compared with Kinds (analyze/report/schema), so a kind missing here
// would reach the output without reaching the contract.
func TestKindsListsEveryKind(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var declared []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Kind" {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: a Kind constant that is not a string literal", fset.Position(v.Pos()))
					}
					s, _ := strconv.Unquote(lit.Value)
					declared = append(declared, s)
				}
			}
		}
	}
	if len(declared) < 20 {
		t.Fatalf("found only %d Kind constants: %v", len(declared), declared)
	}
	var listed []string
	for _, k := range Kinds {
		listed = append(listed, string(k))
	}
	slices.Sort(declared)
	slices.Sort(listed)
	if !slices.Equal(declared, listed) {
		t.Errorf("finding.Kinds differs from the Kind constants:\n  constants %v\n  Kinds     %v", declared, listed)
	}
	if len(slices.Compact(slices.Clone(listed))) != len(listed) {
		t.Errorf("finding.Kinds lists a kind twice: %v", listed)
	}
}

// TestRaiseFillsSVLAN checks that a finding raised under a key with a QinQ
// VLAN carries the outer tag, and that one about no VLAN carries 0.
func TestRaiseFillsSVLAN(t *testing.T) {
	s := NewStore(10)
	f, _ := s.Raise(Key{Kind: HeartbeatGap, VLAN: 200<<16 | 100}, Finding{VLAN: 100})
	if f.VLAN != 100 || f.SVLAN != 200 {
		t.Errorf("QinQ finding: vlan %d svlan %d, want 100 and 200", f.VLAN, f.SVLAN)
	}
	f, _ = s.Raise(Key{Kind: MalformedFrame}, Finding{})
	if f.SVLAN != 0 {
		t.Errorf("finding about no VLAN: svlan %d", f.SVLAN)
	}
}
