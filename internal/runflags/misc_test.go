package runflags

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// check runs one table row: err "" wants got == want, else an error
// containing err and naming flag (when flag is not "").
func check[T any](t *testing.T, fn string, in any, got T, err error, want T, wantErr, flag string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s(%q) = %+v, %v; want error with %q", fn, in, got, err, wantErr)
		} else if flag != "" && !strings.Contains(err.Error(), `for "`+flag+`" flag`) {
			t.Errorf("%s(%q): error %q does not name %s", fn, in, err, flag)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%s(%q) = %+v, %v; want %+v", fn, in, got, err, want)
	}
}

func TestParseUlimit(t *testing.T) {
	tests := []struct {
		in   string
		want Ulimit
		err  string
	}{
		{in: "nofile=1024:2048", want: Ulimit{"nofile", 1024, 2048}},
		{in: "nofile=512", want: Ulimit{"nofile", 512, 512}},
		{in: "nproc=0", want: Ulimit{"nproc", 0, 0}},
		{in: "memlock=-1", want: Ulimit{"memlock", -1, -1}},
		{in: "memlock=-1:-1", want: Ulimit{"memlock", -1, -1}},
		{in: "core=0:-1", want: Ulimit{"core", 0, -1}},
		{in: "nofile", err: "invalid ulimit argument: nofile"},
		{in: "nofiles=1", err: "invalid ulimit type: nofiles"},
		{in: "NOFILE=1", err: "invalid ulimit type: NOFILE"},
		{in: "as=1", err: "invalid ulimit type: as"},
		{in: "nofile=1:2:3", err: "too many limit value arguments"},
		{in: "nofile=2048:1024", err: "soft limit must be less than or equal to hard limit: 2048 > 1024"},
		{in: "nofile=-1:1024", err: "soft limit must be less than or equal to hard limit"},
		{in: "nofile=abc", err: `invalid ulimit value "abc"`},
		{in: "nofile=", err: `invalid ulimit value ""`},
		{in: "nofile=-2", err: `invalid ulimit value "-2"`},
		{in: "nofile=1k", err: `invalid ulimit value "1k"`},
	}
	for _, tt := range tests {
		got, err := ParseUlimit(tt.in)
		check(t, "ParseUlimit", tt.in, got, err, tt.want, tt.err, "--ulimit")
	}
	if u, _ := ParseUlimit("nofile=1"); u.RlimitType() != "RLIMIT_NOFILE" {
		t.Error(u.RlimitType())
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		want Device
		err  string
	}{
		{in: "/dev/sda", want: Device{"/dev/sda", "/dev/sda", "rwm"}},
		{in: "/dev/sda:/dev/xvda", want: Device{"/dev/sda", "/dev/xvda", "rwm"}},
		{in: "/dev/sda:/dev/xvda:rwm", want: Device{"/dev/sda", "/dev/xvda", "rwm"}},
		{in: "/dev/sda:/dev/xvda:r", want: Device{"/dev/sda", "/dev/xvda", "r"}},
		{in: "/dev/fuse:rw", want: Device{"/dev/fuse", "/dev/fuse", "rw"}},
		{in: "/dev/snd:mr", want: Device{"/dev/snd", "/dev/snd", "mr"}},
		{in: "/dev/sda:/dev/xvda/", want: Device{"/dev/sda", "/dev/xvda", "rwm"}},
		{in: "", err: "bad format for path"},
		{in: ":/dev/xvda", err: "bad format for path"},
		{in: "/dev/sda:/dev/xvda:rwm:x", err: "bad format for path"},
		{in: "/dev/sda:/dev/xvda:rwx", err: "bad mode specified: rwx"},
		{in: "/dev/sda:/dev/xvda:rr", err: "bad mode specified: rr"},
		{in: "/dev/sda:xvda", err: "xvda is not an absolute path"},
		{in: "sda", err: "sda is not an absolute path"},
		{in: "nvidia.com/gpu=all", err: "CDI devices are not supported"},
	}
	for _, tt := range tests {
		got, err := ParseDevice(tt.in)
		check(t, "ParseDevice", tt.in, got, err, tt.want, tt.err, "--device")
	}
}

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in   string
		want RestartPolicy
		err  string
	}{
		{in: "", want: RestartPolicy{Name: "no"}},
		{in: "no", want: RestartPolicy{Name: "no"}},
		{in: "always", want: RestartPolicy{Name: "always"}},
		{in: "unless-stopped", want: RestartPolicy{Name: "unless-stopped"}},
		{in: "on-failure", want: RestartPolicy{Name: "on-failure"}},
		{in: "on-failure:3", want: RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}},
		{in: "on-failure:0", want: RestartPolicy{Name: "on-failure"}},
		{in: "on-failure:", want: RestartPolicy{Name: "on-failure"}},
		{in: ":3", err: "no policy provided before colon"},
		{in: "on-failure:x", err: "maximum retry count must be an integer"},
		{in: "on-failure:-1", err: "maximum retry count cannot be negative"},
		{in: "always:3", err: "maximum retry count can only be used with 'on-failure'"},
		{in: "never", err: "unknown policy 'never'"},
		{in: "Always", err: "unknown policy 'Always'"},
		{in: "on_failure", err: "unknown policy 'on_failure'"},
	}
	for _, tt := range tests {
		got, err := ParseRestart(tt.in)
		check(t, "ParseRestart", tt.in, got, err, tt.want, tt.err, "--restart")
	}
}

func TestParseEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"HOME": "/root", "EMPTY": ""}[k]
		return v, ok
	}
	got, err := parseEnv([]string{"A=1", "B=", "C=x=y", "HOME", "EMPTY", "UNSET", "SP= a b "}, lookup)
	want := []string{"A=1", "B=", "C=x=y", "HOME=/root", "EMPTY=", "SP= a b "}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	_, err = parseEnv([]string{"A=1", "=x"}, lookup)
	if err == nil || err.Error() != `invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x` {
		t.Errorf("=x: %v", err)
	}
	t.Setenv("HUTCH_TEST_ENV", "v")
	if got, _ := ParseEnv([]string{"HUTCH_TEST_ENV"}); !reflect.DeepEqual(got, []string{"HUTCH_TEST_ENV=v"}) {
		t.Errorf("host lookup: %q", got)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseEnvFile(t *testing.T) {
	t.Setenv("HUTCH_FROM_HOST", "host value")
	os.Unsetenv("HUTCH_NOT_SET")
	// Docker's own example, with the cases people trip over: quotes are
	// kept, nothing is expanded, trailing spaces stay, CRLF ends a line.
	p := writeFile(t, "\xef\xbb\xbf# comment\n"+
		"FOO=bar\n"+
		"  INDENTED=yes\n"+
		"\n"+
		"QUOTED=\"with quotes\"\n"+
		"EXPAND=$HOME\n"+
		"TRAIL=a  \n"+
		"EMPTY=\n"+
		"EQ=a=b\n"+
		"HUTCH_FROM_HOST\n"+
		"HUTCH_NOT_SET\n"+
		"   # indented comment\n"+
		"WIN=crlf\r\n"+
		"\tTAB=1\n")
	got, err := ParseEnvFile(p)
	want := []string{"FOO=bar", "INDENTED=yes", `QUOTED="with quotes"`, "EXPAND=$HOME", "TRAIL=a  ", "EMPTY=", "EQ=a=b",
		"HUTCH_FROM_HOST=host value", "WIN=crlf", "TAB=1"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}

	for content, msg := range map[string]string{
		"A=1\nB C=2\n":      "line 2: variable 'B C' contains whitespaces",
		"A=1\n\n=x\n":       "line 3: no variable name on line '=x'",
		"export A=1\n":      "line 1: variable 'export A' contains whitespaces",
		"A=1\nB=\xff\xfe\n": "line 2: invalid utf8 bytes",
	} {
		p := writeFile(t, content)
		_, err := ParseEnvFile(p)
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), `for "--env-file" flag`) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: %v; want %q", content, err, msg)
		}
	}
	if _, err := ParseEnvFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseLabels(t *testing.T) {
	p := writeFile(t, "# labels\ncom.example.a=1\ncom.example.bare\ncom.example.b=file\n")
	fromFile, err := ParseLabelFile(p)
	if err != nil || !reflect.DeepEqual(fromFile, []string{"com.example.a=1", "com.example.b=file"}) {
		t.Fatalf("label file: %q, %v", fromFile, err)
	}
	got, err := ParseLabels(append(fromFile, "com.example.b=flag", "flag.only", "x=a=b"))
	want := map[string]string{"com.example.a": "1", "com.example.b": "flag", "flag.only": "", "x": "a=b"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v", got, err)
	}
	for in, msg := range map[string]string{"=v": "invalid label '=v': empty name", "a b=c": "label 'a b' contains whitespaces", "": "empty name"} {
		if _, err := ParseLabels([]string{in}); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestParseLogOpts(t *testing.T) {
	tests := []struct {
		in   []string
		want LogOptions
		err  string
	}{
		{in: nil, want: LogOptions{MaxFile: 1}},
		{in: []string{"max-size=10m", "max-file=3"}, want: LogOptions{MaxSize: 10_000_000, MaxFile: 3}},
		{in: []string{"max-size=1k"}, want: LogOptions{MaxSize: 1000, MaxFile: 1}},
		{in: []string{"max-size=10m", "max-file=3", "compress=true", "tag={{.Name}}", "labels=a,b", "env=X"},
			want: LogOptions{MaxSize: 10_000_000, MaxFile: 3, Compress: true, Tag: "{{.Name}}", Labels: "a,b", Env: "X"}},
		{in: []string{"mode=non-blocking", "max-buffer-size=4m"}, want: LogOptions{MaxFile: 1, Mode: "non-blocking", MaxBufferSize: 4 << 20}},
		{in: []string{"max-size=abc"}, err: "invalid size: 'abc'"},
		{in: []string{"max-size=0"}, err: "max-size must be a positive number"},
		{in: []string{"max-file=0"}, err: "max-file cannot be less than 1"},
		{in: []string{"max-file=x"}, err: "max-file must be a number"},
		{in: []string{"maxsize=10m"}, err: "unknown log opt 'maxsize' for json-file log driver"},
		{in: []string{"max-size"}, err: "invalid log opt 'max-size': must be key=value"},
		{in: []string{"compress=yes"}, err: "compress must be a boolean"},
		{in: []string{"compress=true", "max-size=1m"}, err: "compress cannot be true when max-file is less than 2"},
		{in: []string{"mode=fast"}, err: "unknown log mode: fast"},
		{in: []string{"max-buffer-size=1m"}, err: "only supported with 'mode=non-blocking'"},
	}
	for _, tt := range tests {
		got, err := ParseLogOpts(tt.in)
		check(t, "ParseLogOpts", tt.in, got, err, tt.want, tt.err, "--log-opt")
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		err  string
	}{
		{in: "SIGTERM", want: syscall.SIGTERM},
		{in: "TERM", want: syscall.SIGTERM},
		{in: "term", want: syscall.SIGTERM},
		{in: "sigkill", want: syscall.SIGKILL},
		{in: "15", want: syscall.SIGTERM},
		{in: "9", want: syscall.SIGKILL},
		{in: "SIGUSR1", want: syscall.SIGUSR1},
		{in: "WINCH", want: syscall.SIGWINCH},
		{in: "SIGCLD", want: syscall.SIGCHLD},
		{in: "RTMIN", want: 34},
		{in: "RTMIN+3", want: 37},
		{in: "SIGRTMIN+3", want: 37},
		{in: "RTMAX", want: 64},
		{in: "SIGRTMAX-2", want: 62},
		{in: "64", want: 64},
		{in: "", err: "invalid signal: "},
		{in: "0", err: "invalid signal: 0"},
		{in: "65", err: "invalid signal: 65"},
		{in: "-9", err: "invalid signal: -9"},
		{in: "SIGFOO", err: "invalid signal: SIGFOO"},
		{in: "SIG", err: "invalid signal: SIG"},
		{in: "RTMIN-1", err: "invalid signal"},
		{in: "RTMIN+31", err: "invalid signal"},
		{in: "RTMAX+1", err: "invalid signal"},
		{in: "RTMIN+", err: "invalid signal"},
		{in: "RTMIN+-1", err: "invalid signal"},
		{in: "RTMIN+0", err: "invalid signal"},
	}
	for _, tt := range tests {
		got, err := ParseStopSignal(tt.in)
		check(t, "ParseStopSignal", tt.in, got, err, tt.want, tt.err, "--stop-signal")
	}
}

func TestParseNamespaceModes(t *testing.T) {
	tests := []struct {
		fn   func(string) (NamespaceMode, error)
		flag string
		in   string
		want NamespaceMode
		err  string
	}{
		{ParseNamespaceMode, "", "", NamespaceMode{}, ""},
		{ParseNamespaceMode, "", "host", NamespaceMode{Kind: NSHost}, ""},
		{ParseNamespaceMode, "", "private", NamespaceMode{Kind: NSPrivate}, ""},
		{ParseNamespaceMode, "", "container:web", NamespaceMode{Kind: NSContainer, Container: "web"}, ""},
		{ParseNamespaceMode, "", "ns:/run/netns/x/", NamespaceMode{Kind: NSPath, Path: "/run/netns/x"}, ""},
		{ParseNamespaceMode, "", "container:", NamespaceMode{}, "needs a container name"},
		{ParseNamespaceMode, "", "ns:rel", NamespaceMode{}, "needs an absolute path"},
		{ParseNamespaceMode, "", "host:x", NamespaceMode{}, "host takes no argument"},
		{ParseNamespaceMode, "", "Host", NamespaceMode{}, `invalid namespace mode "Host"`},
		{ParsePIDMode, "--pid", "host", NamespaceMode{Kind: NSHost}, ""},
		{ParsePIDMode, "--pid", "container:3f2a", NamespaceMode{Kind: NSContainer, Container: "3f2a"}, ""},
		{ParsePIDMode, "--pid", "shareable", NamespaceMode{}, `invalid namespace mode "shareable"`},
		{ParseIPCMode, "--ipc", "shareable", NamespaceMode{Kind: NSShareable}, ""},
		{ParseIPCMode, "--ipc", "none", NamespaceMode{Kind: NSNone}, ""},
		{ParseIPCMode, "--ipc", "container:db", NamespaceMode{Kind: NSContainer, Container: "db"}, ""},
		{ParseUTSMode, "--uts", "host", NamespaceMode{Kind: NSHost}, ""},
		{ParseUTSMode, "--uts", "container:x", NamespaceMode{}, `invalid namespace mode "container"`},
		{ParseCgroupnsMode, "--cgroupns", "private", NamespaceMode{Kind: NSPrivate}, ""},
		{ParseCgroupnsMode, "--cgroupns", "ns:/x", NamespaceMode{}, `invalid namespace mode "ns"`},
		{ParseUserNS, "--userns", "host", NamespaceMode{Kind: NSHost}, ""},
		{ParseUserNS, "--userns", "keep-id", NamespaceMode{Kind: NSKeepID}, ""},
		{ParseUserNS, "--userns", "ns:/proc/1/ns/user", NamespaceMode{Kind: NSPath, Path: "/proc/1/ns/user"}, ""},
		{ParseUserNS, "--userns", "remap", NamespaceMode{}, `invalid namespace mode "remap"`},
	}
	for _, tt := range tests {
		got, err := tt.fn(tt.in)
		check(t, "Parse"+tt.flag+"Mode", tt.in, got, err, tt.want, tt.err, tt.flag)
	}
}

func TestParsePortSpec(t *testing.T) {
	tcp := func(ip string, h, he, c uint16) PortMapping { return PortMapping{ip, h, he, c, "tcp"} }
	tests := []struct {
		in   string
		want []PortMapping
		err  string
	}{
		{in: "80", want: []PortMapping{tcp("", 0, 0, 80)}},
		{in: "8080:80", want: []PortMapping{tcp("", 8080, 8080, 80)}},
		{in: "127.0.0.1:8080:80/udp", want: []PortMapping{{"127.0.0.1", 8080, 8080, 80, "udp"}}},
		{in: "127.0.0.1::80", want: []PortMapping{tcp("127.0.0.1", 0, 0, 80)}},
		{in: "80/UDP", want: []PortMapping{{"", 0, 0, 80, "udp"}}},
		{in: "80/", want: []PortMapping{tcp("", 0, 0, 80)}},
		{in: "9000:9000/sctp", want: []PortMapping{{"", 9000, 9000, 9000, "sctp"}}},
		{in: "[::1]:8080:80", want: []PortMapping{tcp("::1", 8080, 8080, 80)}},
		{in: "[::]::80", want: []PortMapping{tcp("::", 0, 0, 80)}},
		{in: "::1:8080:80", want: []PortMapping{tcp("::1", 8080, 8080, 80)}},
		{in: "8000-8002:80-82", want: []PortMapping{tcp("", 8000, 8000, 80), tcp("", 8001, 8001, 81), tcp("", 8002, 8002, 82)}},
		{in: "80-81", want: []PortMapping{tcp("", 0, 0, 80), tcp("", 0, 0, 81)}},
		{in: "8000-8010:80", want: []PortMapping{tcp("", 8000, 8010, 80)}},
		{in: "0:80", want: []PortMapping{tcp("", 0, 0, 80)}},
		{in: "published=8080,target=80", want: []PortMapping{tcp("", 8080, 8080, 80)}},
		{in: "published=53,target=53,protocol=udp,mode=host", want: []PortMapping{{"", 53, 53, 53, "udp"}}},
		{in: "", err: "no port specified"},
		{in: "8080:", err: "no port specified"},
		{in: "abc", err: "invalid containerPort: abc"},
		{in: "0", err: "invalid containerPort: 0"},
		{in: "65536", err: "invalid containerPort: 65536"},
		{in: "x:80", err: "invalid hostPort: x"},
		{in: "-1:80", err: "invalid hostPort: -1"},
		{in: "90-80", err: "invalid containerPort: 90-80"},
		{in: "8000-8010:80-85", err: "invalid ranges specified for container and host Ports: 80-85 and 8000-8010"},
		{in: "8080:80-81", err: "invalid ranges specified"},
		{in: "80/icmp", err: "invalid proto: icmp"},
		{in: "1.2.3:80:80", err: "invalid IP address: 1.2.3"},
		{in: "localhost:80:80", err: "invalid IP address: localhost"},
		{in: "[::1:80:80", err: "invalid IP address"},
		{in: "fe80::1%eth0:80:80", err: "invalid IP address"},
		{in: "published=8080", err: "target is required"},
		{in: "published=8080,target=80,foo=1", err: `unknown publish option "foo"`},
		{in: "published=8080,target", err: "invalid publish opts format"},
	}
	for _, tt := range tests {
		got, err := ParsePortSpec(tt.in)
		check(t, "ParsePortSpec", tt.in, got, err, tt.want, tt.err, "-p, --publish")
	}
}

func TestParseAddHost(t *testing.T) {
	tests := []struct {
		in   string
		want AddHost
		err  string
	}{
		{in: "db:10.0.0.2", want: AddHost{"db", "10.0.0.2"}},
		{in: "db=10.0.0.2", want: AddHost{"db", "10.0.0.2"}},
		{in: "ipv6:2001:db8::1", want: AddHost{"ipv6", "2001:db8::1"}},
		{in: "ipv6=::1", want: AddHost{"ipv6", "::1"}},
		{in: "ipv6:[::1]", want: AddHost{"ipv6", "::1"}},
		{in: "ipv4:[10.0.0.1]", want: AddHost{"ipv4", "10.0.0.1"}},
		{in: "host.docker.internal:host-gateway", want: AddHost{"host.docker.internal", "host-gateway"}},
		{in: "db", err: `bad format for add-host: "db"`},
		{in: ":10.0.0.2", err: "bad format for add-host"},
		{in: "db:", err: `invalid IP address in add-host: ""`},
		{in: "db:notanip", err: `invalid IP address in add-host: "notanip"`},
		{in: "db:10.0.0.256", err: "invalid IP address in add-host"},
		{in: "a:b=1.2.3.4", err: "bad format for add-host"},
	}
	for _, tt := range tests {
		got, err := ParseAddHost(tt.in)
		check(t, "ParseAddHost", tt.in, got, err, tt.want, tt.err, "--add-host")
	}
}

func TestParseHealthcheck(t *testing.T) {
	tests := []struct {
		in   HealthcheckFlags
		want *HealthConfig
		err  string
	}{
		{in: HealthcheckFlags{}, want: nil},
		{in: HealthcheckFlags{None: true}, want: &HealthConfig{Test: []string{"NONE"}}},
		{in: HealthcheckFlags{Cmd: "curl -f http://localhost/ || exit 1", Interval: "30s", Timeout: "3s", Retries: "3", StartPeriod: "1m", StartInterval: "2s"},
			want: &HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}, Interval: 30 * time.Second, Timeout: 3 * time.Second, Retries: 3, StartPeriod: time.Minute, StartInterval: 2 * time.Second}},
		{in: HealthcheckFlags{Interval: "1m30s"}, want: &HealthConfig{Interval: 90 * time.Second}},
		{in: HealthcheckFlags{Retries: "0"}, want: &HealthConfig{}},
		{in: HealthcheckFlags{None: true, Cmd: "true"}, err: "--no-healthcheck conflicts with --health-* options"},
		{in: HealthcheckFlags{Interval: "30"}, err: `invalid argument "30" for "--health-interval" flag`},
		{in: HealthcheckFlags{Timeout: "-1s"}, err: "--health-timeout cannot be negative"},
		{in: HealthcheckFlags{StartPeriod: "10us"}, err: "--health-start-period cannot be less than 1ms"},
		{in: HealthcheckFlags{Retries: "-1"}, err: "--health-retries cannot be negative"},
		{in: HealthcheckFlags{Retries: "three"}, err: `invalid argument "three" for "--health-retries" flag`},
	}
	for _, tt := range tests {
		got, err := ParseHealthcheck(tt.in)
		check(t, "ParseHealthcheck", tt.in, got, err, tt.want, tt.err, "")
	}
}
