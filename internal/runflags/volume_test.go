package runflags

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"hutch.dev/hutch/errdefs"
)

func TestParseVolume(t *testing.T) {
	cwd, _ := os.Getwd()
	tests := []struct {
		in   string
		want Volume
		err  string
	}{
		// Docker's documented forms.
		{in: "/data", want: Volume{Type: TypeVolume, Destination: "/data"}},
		{in: "/data/", want: Volume{Type: TypeVolume, Destination: "/data"}},
		{in: "data:/data", want: Volume{Type: TypeVolume, Source: "data", Destination: "/data"}},
		{in: "my-vol.1_x:/data:ro", want: Volume{Type: TypeVolume, Source: "my-vol.1_x", Destination: "/data", ReadOnly: true}},
		{in: "data:/data:nocopy", want: Volume{Type: TypeVolume, Source: "data", Destination: "/data", NoCopy: true}},
		{in: "/srv:/srv", want: Volume{Type: TypeBind, Source: "/srv", Destination: "/srv"}},
		{in: "/srv/:/srv//x/../y:ro,Z", want: Volume{Type: TypeBind, Source: "/srv", Destination: "/srv/y", ReadOnly: true, Relabel: "Z"}},
		{in: "/srv:/srv:rw,z,rshared", want: Volume{Type: TypeBind, Source: "/srv", Destination: "/srv", Relabel: "z", Propagation: "rshared"}},
		{in: "/srv:/srv:cached", want: Volume{Type: TypeBind, Source: "/srv", Destination: "/srv"}},
		{in: "/srv:/srv:delegated,ro", want: Volume{Type: TypeBind, Source: "/srv", Destination: "/srv", ReadOnly: true}},
		// Relative host paths: made absolute, as the docker CLI since 23.0.
		{in: "./conf:/etc/app", want: Volume{Type: TypeBind, Source: filepath.Join(cwd, "conf"), Destination: "/etc/app"}},
		{in: ".:/src", want: Volume{Type: TypeBind, Source: cwd, Destination: "/src"}},
		{in: "../up:/src", want: Volume{Type: TypeBind, Source: filepath.Join(filepath.Dir(cwd), "up"), Destination: "/src"}},

		// Mistakes.
		{in: "", err: "invalid empty volume spec"},
		{in: "/data:ro", err: "invalid volume specification: '/data:ro'"},
		{in: "data", err: "mount path must be absolute"},
		{in: "data:data", err: "'data' mount path must be absolute"},
		{in: "data:/", err: "destination can't be '/'"},
		{in: "/", err: "destination can't be '/'"},
		{in: ":/data", err: "empty section between colons"},
		{in: "/a::ro", err: "empty section between colons"},
		{in: "/a:/b:", err: "empty section between colons"},
		{in: "/a:/b:ro:x", err: "too many colons"},
		{in: "/a:/b:rx", err: "invalid mode: rx"},
		{in: "/a:/b:ro,rw", err: "invalid mode: ro,rw"},
		{in: "/a:/b:z,Z", err: "invalid mode: z,Z"},
		{in: "/a:/b:nocopy", err: "nocopy applies to volumes only"},
		{in: "data:/b:rshared", err: "propagation applies to bind mounts only"},
		{in: "a:/data", err: "volume name is too short"},
		{in: "rel/dir:/data", err: `"rel/dir" includes invalid characters for a local volume name`},
		{in: "~/x:/data", err: "If you intended to pass a host directory, use absolute path"},
		{in: "-x:/data", err: "includes invalid characters"},
	}
	for _, tt := range tests {
		got, err := ParseVolume(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseVolume(%q) = %+v, %v; want error with %q", tt.in, got, err, tt.err)
				continue
			}
			if !strings.HasPrefix(err.Error(), `invalid argument "`+tt.in+`" for "-v, --volume" flag: `) {
				t.Errorf("ParseVolume(%q): error %q does not name the flag and value", tt.in, err)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("ParseVolume(%q): error not classified invalid argument", tt.in)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseVolume(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if v, _ := ParseVolume("/x"); !v.Anonymous() {
		t.Error("/x is not anonymous")
	}
}

func TestParseMount(t *testing.T) {
	cwd, _ := os.Getwd()
	tests := []struct {
		in   string
		want Mount
		err  string
	}{
		{in: "type=bind,source=/srv,target=/srv", want: Mount{Type: TypeBind, Source: "/srv", Target: "/srv"}},
		{in: "type=bind,src=/srv,dst=/app,readonly", want: Mount{Type: TypeBind, Source: "/srv", Target: "/app", ReadOnly: true}},
		{in: "type=bind,src=/srv,destination=/app,ro=false,bind-propagation=rslave", want: Mount{Type: TypeBind, Source: "/srv", Target: "/app", Propagation: "rslave"}},
		{in: "Type=BIND,Source=/srv,Target=/app,RO=1", want: Mount{Type: TypeBind, Source: "/srv", Target: "/app", ReadOnly: true}},
		{in: "type=bind,src=./site,dst=/app", want: Mount{Type: TypeBind, Source: filepath.Join(cwd, "site"), Target: "/app"}},
		{in: "type=bind,src=/srv,dst=/app,bind-recursive=disabled", want: Mount{Type: TypeBind, Source: "/srv", Target: "/app", NonRecursive: true}},
		{in: "source=data,target=/data", want: Mount{Type: TypeVolume, Source: "data", Target: "/data"}},
		{in: "type=volume,target=/data", want: Mount{Type: TypeVolume, Target: "/data"}},
		{in: "type=volume,src=data,dst=/data,volume-nocopy,volume-label=a=b,volume-label=c", want: Mount{Type: TypeVolume, Source: "data", Target: "/data", NoCopy: true, Labels: map[string]string{"a": "b", "c": ""}}},
		{in: `type=volume,src=nfs,dst=/data,volume-driver=local,"volume-opt=o=addr=10.0.0.1,rw",volume-opt=type=nfs`,
			want: Mount{Type: TypeVolume, Source: "nfs", Target: "/data", Driver: "local", DriverOptions: map[string]string{"o": "addr=10.0.0.1,rw", "type": "nfs"}}},
		{in: "type=volume,src=data,dst=/data,volume-subpath=sub/dir", want: Mount{Type: TypeVolume, Source: "data", Target: "/data", Subpath: "sub/dir"}},
		{in: "type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1770", want: Mount{Type: TypeTmpfs, Target: "/run", TmpfsSize: 64 << 20, TmpfsMode: 0o1770}},
		{in: "  type=tmpfs,dst=/run  ", want: Mount{Type: TypeTmpfs, Target: "/run"}},

		{in: "", err: "value is empty"},
		{in: "type=bind,src=/srv", err: "target is required"},
		{in: "type=bind,dst=/x", err: "field Source must not be empty"},
		{in: "type=bind,src=srv,dst=/x", err: "'srv' mount path must be absolute"},
		{in: "type=volume,src=data,dst=x", err: "'x' mount path must be absolute"},
		{in: "type=volume,src=data,dst=/", err: "destination can't be '/'"},
		{in: "type=npipe,src=x,dst=/x", err: `invalid mount type "npipe"`},
		{in: "type=,dst=/x", err: "invalid value for 'type': value is empty"},
		{in: "type=bind,src=/a,dst=/b,readonly=yes", err: `invalid boolean value ("yes")`},
		{in: "type=bind,src=/a,dst=/b,volume-nocopy", err: "cannot mix 'volume-*' options with mount type 'bind'"},
		{in: "type=volume,dst=/b,bind-propagation=shared", err: "cannot mix 'bind-*' options with mount type 'volume'"},
		{in: "type=volume,dst=/b,tmpfs-size=1m", err: "cannot mix 'tmpfs-*' options with mount type 'volume'"},
		{in: "type=tmpfs,src=x,dst=/b", err: "field Source must be empty"},
		{in: "type=tmpfs,dst=/b,tmpfs-size=big", err: "invalid value for tmpfs-size: big"},
		{in: "type=tmpfs,dst=/b,tmpfs-mode=999", err: "invalid value for tmpfs-mode: 999"},
		{in: "type=bind,src=/a,dst=/b,bind-propagation=sideways", err: "invalid value for bind-propagation"},
		{in: "type=bind,src=/a,dst=/b,bind-nonrecursive", err: "bind-nonrecursive is deprecated"},
		{in: "type=bind,source=/a,target=/b,foo=bar", err: "unknown option 'foo' in 'foo=bar'"},
		{in: "type=bind,source=/a,target", err: "invalid field 'target' must be a key=value pair"},
		{in: "type=bind, source=/a,target=/b", err: "option should not have whitespace"},
		{in: "type=bind,source= /a,target=/b", err: "value should not have whitespace"},
		{in: `type=bind,"source=/a,target=/b`, err: `extraneous or missing " in quoted-field`},
		{in: "type=volume,src=x,dst=/b", err: "volume name is too short"},
		{in: "type=volume,dst=/b,volume-driver=nfs", err: `volume driver "nfs" is not supported`},
		{in: "type=volume,dst=/b,volume-subpath=x", err: "subpath requires a named volume"},
	}
	for _, tt := range tests {
		got, err := ParseMount(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseMount(%q) = %+v, %v; want error with %q", tt.in, got, err, tt.err)
			} else if !strings.Contains(err.Error(), `for "--mount" flag`) {
				t.Errorf("ParseMount(%q): error %q does not name the flag", tt.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseMount(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTmpfs(t *testing.T) {
	tests := []struct {
		in   string
		want Tmpfs
		err  string
	}{
		{in: "/run", want: Tmpfs{Destination: "/run"}},
		{in: "/run:rw,noexec,nosuid,size=65536k", want: Tmpfs{Destination: "/run", Options: []string{"rw", "noexec", "nosuid", "size=65536k"}}},
		{in: "/tmp/:mode=1777,size=50%,uid=1000,gid=1000,nr_inodes=1k", want: Tmpfs{Destination: "/tmp", Options: []string{"mode=1777", "size=50%", "uid=1000", "gid=1000", "nr_inodes=1k"}}},
		{in: "run", err: "mount path must be absolute"},
		{in: "", err: "mount path must be absolute"},
		{in: "/", err: "destination can't be '/'"},
		{in: "/run:exec,foo", err: `invalid tmpfs option "foo"`},
		{in: "/run:size", err: `invalid tmpfs option "size"`},
		{in: "/run:size=lots", err: `invalid tmpfs size "lots"`},
		{in: "/run:mode=rwx", err: `invalid tmpfs mode "rwx"`},
		{in: "/run:noexec=1", err: `invalid tmpfs option "noexec=1"`},
	}
	for _, tt := range tests {
		got, err := ParseTmpfs(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), `"--tmpfs" flag`) {
				t.Errorf("ParseTmpfs(%q) = %+v, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseTmpfs(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckDuplicateDestinations(t *testing.T) {
	if err := CheckDuplicateDestinations("/a", "/b", "/a/b"); err != nil {
		t.Error(err)
	}
	err := CheckDuplicateDestinations("/data", "/run", "/data/")
	if err == nil || err.Error() != "duplicate mount point: /data" || !errdefs.IsInvalidArgument(err) {
		t.Errorf("got %v", err)
	}
}

func TestValidVolumeName(t *testing.T) {
	for _, ok := range []string{"ab", "a1", "1a", "my_vol", "my.vol", "my-vol", "A-9._"} {
		if err := ValidVolumeName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, no := range []string{"", "a", "_ab", ".ab", "-ab", "a b", "a/b", "a:b", "ä1", "a\x00"} {
		if ValidVolumeName(no) == nil {
			t.Errorf("%q accepted", no)
		}
	}
}
