package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzApply: whatever the layer, Apply never changes anything outside its
// directory and leaves nothing behind when it fails. The seeds are the
// malicious layers of TestMaliciousLayers.
//
//	go test -run XXX -fuzz FuzzApply -fuzztime 1m ./archive/
func FuzzApply(f *testing.F) {
	requireRoot(f)
	base := f.TempDir()
	canary := filepath.Join(base, "canary")
	for _, seed := range [][]entry{
		{reg("../canary/evil", "x")},
		{symlink("root", "/"), reg("root/etc/evil-hutch", "x")},
		{symlink("up", "../../../.."), reg("up/canary/file", "pwned")},
		{symlink("l1", "l2"), symlink("l2", "l3/.."), symlink("l3", "/../.."), reg("l1/canary/file", "p")},
		{dirE(canary + "/"), symlink("d", canary), reg("d/file", "pwned"), reg("d/.wh..wh..opq", "")},
		{symlink("s", filepath.Join(canary, "file")), hardlink("h", "s"), reg("h", "pwned")},
		{hardlink("h", "/etc/hostname")},
		{reg(".wh.x", ""), dirE("x/"), reg("x/.wh..wh..opq", "")},
	} {
		f.Add(buildTar(f, seed...), false)
		f.Add(buildTar(f, seed...), true)
	}
	writeFiles(&testing.T{}, canary, map[string]string{"file": "safe", "sub/deep": "safe"})
	before := scan(f, canary)
	host := hostState(&testing.T{})
	f.Fuzz(func(t *testing.T, layer []byte, merged bool) {
		dir := filepath.Join(base, "layer")
		defer os.RemoveAll(dir)
		var opts []ApplyOption
		if merged {
			os.Mkdir(dir, 0o755)
			opts = append(opts, WithMerged())
		}
		_, err := Apply(context.Background(), dir, bytes.NewReader(layer), opts...)
		if err != nil && !merged {
			if _, serr := os.Lstat(dir); !os.IsNotExist(serr) {
				t.Errorf("failed Apply (%v) left its directory", err)
			}
		}
		compareTrees(t, before, scan(t, canary))
		if hostState(t) != host {
			t.Error("the host's / or /etc changed")
		}
		if ents, _ := os.ReadDir(base); len(ents) > 2 {
			t.Errorf("left behind: %v", ents)
		}
	})
}
