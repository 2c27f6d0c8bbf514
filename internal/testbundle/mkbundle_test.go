package testbundle

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/spec"
)

// scripts/mkbundle.sh makes the same bundle as New from the command line.
// Its built-in config.json (used before hutch-runc is built) must stay
// spec.Default, and its root filesystem the template's.
func TestMkbundleScriptMatches(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "mkbundle.sh")
	dir := filepath.Join(t.TempDir(), "b")
	cmd := exec.Command(script, dir, "sh", "-c", "echo hi")
	// Force the script's own config, not `hutch-runc spec`.
	cmd.Env = append(os.Environ(), "HUTCH_RUNC=/nonexistent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkbundle.sh: %v: %s", err, out)
	}

	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got specs.Spec
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := spec.Default()
	want.Process.Terminal = false
	want.Process.Args = []string{"sh", "-c", "echo hi"}
	wb, _ := json.Marshal(want)
	var wantRT specs.Spec
	if err := json.Unmarshal(wb, &wantRT); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&wantRT, &got) {
		gb, _ := json.MarshalIndent(&got, "", "  ")
		wb, _ := json.MarshalIndent(&wantRT, "", "  ")
		t.Errorf("config.json differs from spec.Default\nscript:\n%s\nspec.Default:\n%s", gb, wb)
	}

	tmpl, err := template()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := listTree(t, tmpl), listTree(t, filepath.Join(dir, "rootfs")); !slices.Equal(a, b) {
		t.Errorf("rootfs differs from the template:\ntemplate %d entries, script %d entries\nonly in template: %v\nonly in script: %v",
			len(a), len(b), minus(a, b), minus(b, a))
	}
}

// listTree lists path, type, mode and link target of every entry below root.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := rel + " " + info.Mode().String()
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			e += " -> " + l
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
