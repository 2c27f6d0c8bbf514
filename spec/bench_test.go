package spec

import (
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BenchmarkBuild is the spec's share of `hutch run -d --memory 64m IMAGE`:
// an image config with a user and a WORKDIR, resolved in a rootfs.
func BenchmarkBuild(b *testing.B) {
	rootfs := fakeRootB(b)
	o := &Options{
		ID:     testID,
		Rootfs: rootfs,
		ImageConfig: &v1.Config{
			Entrypoint: []string{"/docker-entrypoint.sh"},
			Cmd:        []string{"nginx", "-g", "daemon off;"},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.27"},
			User:       "app",
			WorkingDir: "/srv/app",
		},
		Env:    []string{"A=1"},
		Memory: 64 << 20,
		Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"rbind"}}},
		Namespaces: map[specs.LinuxNamespaceType]string{
			specs.PIDNamespace: "", specs.NetworkNamespace: "/run/hutch/netns/x", specs.IPCNamespace: "",
			specs.UTSNamespace: "", specs.MountNamespace: "", specs.CgroupNamespace: "",
		},
	}
	if _, err := Build(o); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveUser(b *testing.B) {
	rootfs := fakeRootB(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ResolveUser(rootfs, "app"); err != nil {
			b.Fatal(err)
		}
	}
}

func fakeRootB(b *testing.B) string {
	dir := b.TempDir()
	if err := writeFiles(dir, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup}); err != nil {
		b.Fatal(err)
	}
	return dir
}

func writeFiles(root string, files map[string]string) error {
	for name, content := range files {
		p := root + "/" + name
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
