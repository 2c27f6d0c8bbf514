package meta

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hutch.dev/hutch/snapshot"
)

// Open sweeps what crashes leave: unrecorded numbered directories that no
// one claims and rm-N directories; a claimed one (a copy in progress in
// another process) stays.
func TestSweep(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	var kept uint64
	if err := s.Update(func(tx *Tx) error {
		id, _, err := tx.NewDir()
		tx.Add("kept", "", snapshot.KindActive, id)
		kept = id
		return err
	}); err != nil {
		t.Fatal(err)
	}
	snaps := s.SnapshotsDir()
	for _, d := range []string{"90/fs", "91/fs", "rm-7/fs"} {
		os.MkdirAll(filepath.Join(snaps, d), 0o700)
	}
	release, err := Claim(filepath.Join(snaps, "91"))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	var names []string
	ents, _ := os.ReadDir(snaps)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "1 91" || kept != 1 {
		t.Errorf("after sweep: %s (kept id %d), want 1 91", got, kept)
	}
}

func TestKindJSON(t *testing.T) {
	for _, k := range []snapshot.Kind{snapshot.KindView, snapshot.KindActive, snapshot.KindCommitted} {
		b, err := k.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back snapshot.Kind
		if err := back.UnmarshalJSON(b); err != nil || back != k {
			t.Errorf("%s: %s -> %v %v", k, b, back, err)
		}
	}
	var k snapshot.Kind
	if err := k.UnmarshalJSON([]byte(`"bogus"`)); err == nil {
		t.Error("bogus kind accepted")
	}
}
