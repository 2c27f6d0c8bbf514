package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAgainstUmoci: the same gzip layer unpacked by umoci and by Apply
// gives the same tree, file by file.
func TestAgainstUmoci(t *testing.T) {
	requireRoot(t)
	umoci, err := exec.LookPath("umoci")
	if err != nil {
		t.Skip("umoci not installed")
	}
	ctx := context.Background()
	src := t.TempDir()
	makeTree(t, src)
	var plain, gz bytes.Buffer
	if err := Tar(ctx, &plain, src); err != nil {
		t.Fatal(err)
	}
	gw := gzip.NewWriter(&gz)
	gw.Write(plain.Bytes())
	gw.Close()

	// An OCI image layout with one image of that one layer.
	layout := filepath.Join(t.TempDir(), "oci")
	blob := func(b []byte) map[string]any {
		sum := fmt.Sprintf("%x", sha256.Sum256(b))
		p := filepath.Join(layout, "blobs", "sha256", sum)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"digest": "sha256:" + sum, "size": len(b)}
	}
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	layer := blob(gz.Bytes())
	layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
	config := blob(js(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{fmt.Sprintf("sha256:%x", sha256.Sum256(plain.Bytes()))}},
	}))
	config["mediaType"] = "application/vnd.oci.image.config.v1+json"
	manifest := blob(js(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": config, "layers": []any{layer},
	}))
	manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
	manifest["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "test"}
	os.WriteFile(filepath.Join(layout, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	os.WriteFile(filepath.Join(layout, "index.json"), js(map[string]any{"schemaVersion": 2, "manifests": []any{manifest}}), 0o644)

	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.CommandContext(ctx, umoci, "unpack", "--image", layout+":test", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	ours := filepath.Join(t.TempDir(), "layer")
	if _, err := Apply(ctx, ours, bytes.NewReader(gz.Bytes())); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, scan(t, filepath.Join(bundle, "rootfs")), scan(t, ours))
}
