package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hutch.dev/hutch/errdefs"
)

// TestMaliciousLayers: layers that try to write, link or delete outside
// their root are refused or kept inside it, and nothing outside changes: not
// a canary directory beside the target, not the host's /etc.
func TestMaliciousLayers(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	canary := filepath.Join(base, "canary")
	writeFiles(t, canary, map[string]string{"file": "safe", "sub/deep": "safe"})
	canaryFile := filepath.Join(canary, "file")

	type tc struct {
		name    string
		entries []entry
		merged  bool
		errText string // "" when the layer must apply (contained)
		check   func(t *testing.T, layer string)
	}
	isFile := func(rel, body string) func(*testing.T, string) {
		return func(t *testing.T, layer string) {
			b, err := os.ReadFile(filepath.Join(layer, rel))
			if err != nil || string(b) != body {
				t.Errorf("%s inside the layer = %q, %v; want %q", rel, b, err, body)
			}
		}
	}
	cases := []tc{
		{name: "dotdot", entries: []entry{reg("../canary/evil", "x")},
			errText: `entry "../canary/evil": path escapes the layer root`},
		{name: "dotdot-inside-name", entries: []entry{dirE("a/"), reg("a/../../../etc/evil-hutch", "x")},
			errText: "path escapes the layer root"},
		{name: "whiteout-dotdot", entries: []entry{reg("../canary/.wh.file", "")},
			errText: "path escapes the layer root"},
		{name: "absolute", entries: []entry{reg("/etc/evil-hutch", "x")},
			check: isFile("etc/evil-hutch", "x")},
		{name: "symlink-to-root", entries: []entry{symlink("root", "/"), reg("root/etc/evil-hutch", "x")},
			check: isFile("etc/evil-hutch", "x")},
		{name: "symlink-dotdot", entries: []entry{symlink("up", "../../../../../../.."), reg("up/canary/file", "pwned")},
			check: isFile("canary/file", "pwned")},
		{name: "symlink-chain", entries: []entry{
			dirE("sub/"), symlink("l1", "l2"), symlink("l2", "l3/.."), symlink("l3", "/../../sub"),
			reg("l1/canary/file", "pwned")},
			check: isFile("canary/file", "pwned")},
		{name: "symlink-chain-dangling", entries: []entry{
			symlink("l1", "l2"), symlink("l2", "l3/.."), symlink("l3", "/../../sub"),
			reg("l1/canary/file", "pwned")},
			errText: `"l1" is a symlink to a missing directory`},
		// The path the symlink names exists both in the layer and on the
		// host: the layer's copy is the one written.
		{name: "symlinked-parent", entries: []entry{
			dirE(canary + "/"), symlink("d", canary), reg("d/file", "pwned"), reg("d/sub/deep", "pwned")},
			check: isFile(strings.TrimPrefix(canary, "/")+"/sub/deep", "pwned")},
		{name: "symlinked-parent-dangling", entries: []entry{symlink("d", canary), reg("d/file", "pwned")},
			errText: `"d" is a symlink to a missing directory`},
		{name: "symlink-then-file", entries: []entry{symlink("f", canaryFile), reg("f", "pwned")},
			check: isFile("f", "pwned")},
		{name: "dir-over-symlink", entries: []entry{symlink("d", canary), dirE("d/"), reg("d/file", "pwned")},
			check: isFile("d/file", "pwned")},
		{name: "hardlink-absolute", entries: []entry{hardlink("h", "/etc/hostname")},
			errText: `entry "h": hardlink target "/etc/hostname" not found in the layer`},
		{name: "hardlink-dotdot", entries: []entry{hardlink("h", "../canary/file")},
			errText: "path escapes the layer root"},
		{name: "hardlink-through-symlinked-parent", entries: []entry{symlink("e", canary), hardlink("h", "e/file")},
			errText: "not found in the layer"},
		{name: "hardlink-to-escaping-symlink", entries: []entry{symlink("s", canaryFile), hardlink("h", "s"), reg("h", "pwned")},
			check: isFile("h", "pwned")},
		{name: "hardlink-to-dir", entries: []entry{dirE("d/"), hardlink("h", "d")},
			errText: "is a directory"},
		{name: "opaque-through-symlink", entries: []entry{dirE(canary + "/"), symlink("d", canary), reg("d/.wh..wh..opq", "")}},
		{name: "whiteout-through-symlink", entries: []entry{dirE(canary + "/"), symlink("d", canary), reg("d/.wh.file", "")}},
		{name: "merged-whiteout-through-symlink", merged: true,
			entries: []entry{symlink("d", canary), reg("d/.wh.file", ""), reg("d/.wh.sub", "")}},
		{name: "merged-opaque-through-symlink", merged: true,
			entries: []entry{symlink("d", canary), reg("d/.wh..wh..opq", "")}},
		{name: "merged-whiteout-absolute", merged: true,
			entries: []entry{reg(canary+"/.wh.file", ""), reg("/etc/.wh.hostname", "")}},
		{name: "merged-whiteout-symlink-dotdot", merged: true,
			entries: []entry{symlink("up", "../.."), reg("up/canary/.wh.file", "")}},
	}

	hostBefore := hostState(t)
	canaryBefore := scan(t, canary)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			layer := filepath.Join(base, "layer-"+c.name)
			var opts []ApplyOption
			if c.merged {
				writeFiles(t, layer, map[string]string{"existing": "e"})
				opts = append(opts, WithMerged())
			}
			opts = append(opts, WithLayerName("sha256:test"))
			_, err := Apply(context.Background(), layer, bytes.NewReader(buildTar(t, c.entries...)), opts...)
			if c.errText != "" {
				if err == nil || !strings.Contains(err.Error(), c.errText) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v; want an invalid argument containing %q", err, c.errText)
				}
				if !strings.HasPrefix(err.Error(), "layer sha256:test: entry ") {
					t.Errorf("err = %q does not name the layer and entry", err)
				}
				if _, err := os.Lstat(layer); !os.IsNotExist(err) {
					t.Errorf("a failed Apply left %s", layer)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, layer)
			}
			compareTrees(t, canaryBefore, scan(t, canary))
			if got := hostState(t); got != hostBefore {
				t.Errorf("host changed:\n before %s\n after  %s", hostBefore, got)
			}
		})
	}
	// Nothing but the layers and the canary, no temporary directories.
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if e.Name() != "canary" && !strings.HasPrefix(e.Name(), "layer-") {
			t.Errorf("left in the parent: %s", e.Name())
		}
	}
}

// hostState sums up the host files a layer above would hit.
func hostState(t *testing.T) string {
	var s []string
	for _, d := range []string{"/", "/etc"} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			s = append(s, e.Name())
		}
	}
	b, _ := os.ReadFile("/etc/hostname")
	return strings.Join(s, ",") + "|" + string(b)
}
