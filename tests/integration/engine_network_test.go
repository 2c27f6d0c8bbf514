package integration

// End-to-end tests of networking through the engine: bridge, user-defined
// and internal networks, name resolution, published ports, host, none and
// container: modes, /etc files, network commands, cleanup and parallel
// starts. Network safety (TESTBED.md): traffic goes only to 127.0.0.0/8,
// to the test's own bridges and containers, and to a namespace the test
// makes to stand for "outside". Every resolver a container or a name
// server could ask is a fake one of the test on 127.0.0.0/8, named in a
// resolv.conf of the test (HUTCH_RESOLV_CONF); the host's real resolvers
// are never named.

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"hutch.dev/hutch/network/dns"
	"hutch.dev/hutch/network/netns"
)

// netEngine is an engine whose host resolv.conf is the test's: its only
// nameservers are a fake resolver on 127.0.0.0/8 (which answers
// "outside.test") and 10.89.255.53, which no test ever asks (it is only
// there to be copied into the containers' resolv.conf).
type netEngine struct {
	*engineT
	upstream *fakeResolver
}

func newNetEngine(t *testing.T) *netEngine {
	t.Helper()
	e := newEngine(t)
	up := startFakeResolver(t, "192.0.2.7")
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	data := fmt.Sprintf("nameserver %s\nnameserver 10.89.255.53\nsearch hutch.test\noptions timeout:1 attempts:1\n", up.addr.Addr())
	if err := os.WriteFile(conf, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	e.env = append(e.env, "HUTCH_RESOLV_CONF="+conf)
	ne := &netEngine{engineT: e, upstream: up}
	t.Cleanup(func() {
		// After the containers are gone (this runs before newEngine's
		// cleanup, so remove them here first), no name server is left.
		e.removeAll()
		ne.waitNoDNSServer()
	})
	return ne
}

// fakeResolver answers outside.test with its address, on 127.x.y.z:53.
type fakeResolver struct {
	addr  netip.AddrPort
	count atomic.Int64
}

// Other names do not exist (NXDOMAIN), as a real resolver would say.
func startFakeResolver(t *testing.T, answer string) *fakeResolver {
	t.Helper()
	f := &fakeResolver{}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		f.count.Add(1)
		resp := new(mdns.Msg).SetReply(req)
		q := req.Question[0]
		if strings.EqualFold(q.Name, "outside.test.") && q.Qtype == mdns.TypeA {
			resp.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 10}, A: net.ParseIP(answer)}}
		} else if !strings.EqualFold(q.Name, "outside.test.") {
			resp.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(resp)
	})
	for i := 0; ; i++ {
		a := netip.AddrFrom4([4]byte{127, 77, byte(rand.IntN(250) + 1), byte(rand.IntN(250) + 1)})
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(a, 53).String())
		if err == nil {
			f.addr = netip.AddrPortFrom(a, 53)
			s := &mdns.Server{PacketConn: pc, Handler: h}
			go s.ActivateAndServe()
			t.Cleanup(func() { s.Shutdown() })
			break
		}
		if i > 20 {
			t.Fatal(err)
		}
	}
	return f
}

// createNetwork creates a user network on a free 10.89.X.0/24 and removes
// it (and its bridge) when the test ends. It returns the subnet's prefix
// "10.89.X.".
func (e *netEngine) createNetwork(name string, args ...string) string {
	e.t.Helper()
	for i := 0; ; i++ {
		x := 1 + rand.IntN(120) // the network package's tests use 10.89.128.0/17
		prefix := fmt.Sprintf("10.89.%d.", x)
		r := e.run(append(append([]string{"network", "create", "--subnet", prefix + "0/24"}, args...), name)...)
		if r.Code == 0 {
			bridge := e.inspectNetwork(name, `{{index .Options "com.docker.network.bridge.name"}}`)
			e.t.Cleanup(func() {
				e.removeAll()
				e.run("network", "rm", name)
				exec.Command("ip", "link", "del", bridge).Run()
			})
			return prefix
		}
		if !strings.Contains(r.Stderr, "overlaps") || i > 30 {
			e.t.Fatalf("%v", r)
		}
	}
}

func (e *netEngine) inspectNetwork(name, format string) string {
	e.t.Helper()
	return strings.TrimSpace(e.ok("network", "inspect", "--format", format, name))
}

func (e *netEngine) ip(ref string) string {
	e.t.Helper()
	return e.inspect(ref, "{{.NetworkSettings.IPAddress}}")
}

func (e *netEngine) gateway(ref string) string {
	e.t.Helper()
	return e.inspect(ref, "{{.NetworkSettings.Gateway}}")
}

// sh runs a shell command in a running container.
func (e *netEngine) sh(ref, script string) engineResult {
	return e.run("exec", ref, "sh", "-c", script)
}

// nslookup runs busybox's nslookup in a container and returns what it
// printed. Its exit code is not looked at: with a search list, busybox
// asks every NAME.DOMAIN and fails when one of them does not exist.
func (e *netEngine) nslookup(ref, name string) string {
	return e.sh(ref, "nslookup "+name).Stdout
}

func (e *netEngine) shOK(ref, script string) string {
	e.t.Helper()
	r := e.sh(ref, script)
	if r.Code != 0 {
		e.t.Fatalf("%v", r)
	}
	return r.Stdout
}

// dnsServers lists the pids of the name servers of these roots.
func (e *netEngine) dnsServers() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmd), "\x00")
		if contains(args, "dns-server") && contains(args, e.runroot) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (e *netEngine) waitNoDNSServer() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.dnsServers()) > 0 {
		if time.Now().After(deadline) {
			e.t.Errorf("name servers left: %v", e.dnsServers())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpGet sends a GET to addr from the host and returns the status line.
func httpGet(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// waitHTTP polls until the httpd at addr (from the host) answers.
func waitHTTP(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		line, err := httpGet(addr)
		if err == nil && strings.HasPrefix(line, "HTTP/") {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("http %s: %q %v", addr, line, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpFrom is the shell line with which a container asks addr for /.
func httpFrom(host, port string) string {
	return fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s %s | head -1`, host, port)
}

func freePort(t *testing.T, proto string) int {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// kernel objects of one container
func vethsOf(id string) []string {
	out, _ := exec.Command("ip", "-o", "link").Output()
	var vs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "hv"+id[:11]) {
			vs = append(vs, line)
		}
	}
	return vs
}

func (e *netEngine) rulesOf(id string) int {
	out, _ := exec.Command("nft", "list", "table", "inet", e.table).Output()
	return strings.Count(string(out), "ctr "+id)
}

func (e *netEngine) leaseFilesWith(id string) []string {
	files, _ := filepath.Glob(filepath.Join(e.runroot, "networks", "*.json"))
	var out []string
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil && strings.Contains(string(data), id) {
			out = append(out, f)
		}
	}
	return out
}

func (e *netEngine) netnsMounted(id string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(data), filepath.Join(e.runroot, "netns", id))
}

// assertNetworkGone checks that nothing of the container's networking is
// left: veth, namespace bind mount, nftables rule, lease.
func (e *netEngine) assertNetworkGone(id string) {
	e.t.Helper()
	if vs := vethsOf(id); len(vs) > 0 {
		e.t.Errorf("veths of %s left: %v", id[:12], vs)
	}
	if e.netnsMounted(id) {
		e.t.Errorf("netns of %s still mounted", id[:12])
	}
	if _, err := os.Stat(filepath.Join(e.runroot, "netns", id)); err == nil {
		e.t.Errorf("netns file of %s left", id[:12])
	}
	if n := e.rulesOf(id); n > 0 {
		e.t.Errorf("%d nftables rules of %s left", n, id[:12])
	}
	if fs := e.leaseFilesWith(id); len(fs) > 0 {
		e.t.Errorf("leases of %s left in %v", id[:12], fs)
	}
}

func TestEngineNetworkDefaultBridge(t *testing.T) {
	e := newNetEngine(t)
	e.runDetached("--name", "web", e.image, "httpd", "-f", "-p", "80")
	e.runDetached("--name", "client", e.image, "sleep", "1000")
	webIP, clientIP := e.ip("web"), e.ip("client")
	if webIP == "" || webIP == clientIP {
		t.Fatalf("addresses %q and %q", webIP, clientIP)
	}
	e.shOK("client", "ping -c1 -W3 "+webIP)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := e.shOK("client", httpFrom(webIP, "80"))
		if strings.HasPrefix(out, "HTTP/1.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web from client: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// No name server on the default bridge, as with Docker: resolv.conf
	// names the host's resolvers (not the loopback one, which the
	// container could not reach) and no dns-server runs.
	resolv := e.shOK("client", "cat /etc/resolv.conf")
	if !strings.Contains(resolv, "nameserver 10.89.255.53") || strings.Contains(resolv, "127.77.") ||
		!strings.Contains(resolv, "search hutch.test") || !strings.Contains(resolv, "options timeout:1 attempts:1") {
		t.Errorf("resolv.conf on the default bridge:\n%s", resolv)
	}
	if pids := e.dnsServers(); len(pids) > 0 {
		t.Errorf("name servers for the default bridge: %v", pids)
	}
	hosts := e.shOK("client", "cat /etc/hosts")
	id := e.inspect("client", "{{.Id}}")
	if !strings.Contains(hosts, clientIP+"\t"+id[:12]+" client\n") || !strings.Contains(hosts, "127.0.0.1\tlocalhost") {
		t.Errorf("/etc/hosts:\n%s", hosts)
	}
	if h := strings.TrimSpace(e.shOK("client", "cat /etc/hostname; hostname")); h != id[:12]+"\n"+id[:12] {
		t.Errorf("hostname: %q", h)
	}
}

func TestEngineNetworkUserDNS(t *testing.T) {
	e := newNetEngine(t)
	prefix := e.createNetwork("hnet-dns")
	web := e.runDetached("--name", "web", "--network", "hnet-dns", "--network-alias", "www", "--network-alias", "front", e.image, "httpd", "-f", "-p", "80")
	if pids := e.dnsServers(); len(pids) != 1 {
		t.Fatalf("name servers after the first container: %v", pids)
	}
	e.runDetached("--name", "client", "--network", "hnet-dns", e.image, "sleep", "1000")
	if pids := e.dnsServers(); len(pids) != 1 {
		t.Fatalf("name servers after the second container: %v", pids)
	}
	webIP := e.ip("web")
	if !strings.HasPrefix(webIP, prefix) {
		t.Fatalf("web's address %s is not on %s0/24", webIP, prefix)
	}
	resolv := e.shOK("client", "cat /etc/resolv.conf")
	if !strings.Contains(resolv, "nameserver "+prefix+"1\n") || strings.Contains(resolv, "10.89.255.53") || !strings.Contains(resolv, "ndots:0") {
		t.Errorf("resolv.conf on a user network:\n%s", resolv)
	}
	for _, name := range []string{"web", "www", "front", "WEB", web[:12]} {
		out := e.nslookup("client", name)
		if !strings.Contains(out, "Address: "+webIP) {
			t.Errorf("nslookup %s:\n%s", name, out)
		}
	}
	e.shOK("client", "ping -c1 -W3 web")
	e.shOK("client", "ping -c1 -W3 www")
	if out := e.shOK("client", httpFrom("www", "80")); !strings.HasPrefix(out, "HTTP/1.") {
		t.Errorf("http://www/ from client: %q", out)
	}
	// A name that is no container's goes to the host's resolver (the
	// test's fake one on 127.77.x.y).
	before := e.upstream.count.Load()
	if out := e.nslookup("client", "outside.test"); !strings.Contains(out, "Address: 192.0.2.7") {
		t.Errorf("forwarded name:\n%s", out)
	}
	if e.upstream.count.Load() == before {
		t.Errorf("the host's resolver was not asked")
	}
	// --dns on a user network: that container's other questions go there.
	own := startFakeResolver(t, "192.0.2.8")
	e.runDetached("--name", "client2", "--network", "hnet-dns", "--dns", own.addr.Addr().String(), e.image, "sleep", "1000")
	if out := e.nslookup("client2", "outside.test"); !strings.Contains(out, "Address: 192.0.2.8") {
		t.Errorf("forwarded to --dns:\n%s", out)
	}
	if out := e.nslookup("client2", "web"); !strings.Contains(out, "Address: "+webIP) {
		t.Errorf("container name with --dns:\n%s", out)
	}
	// The host is not a client of the name server.
	c := &mdns.Client{Timeout: 3 * time.Second}
	r, _, err := c.Exchange(new(mdns.Msg).SetQuestion("web.", mdns.TypeA), prefix+"1:53")
	if err != nil || r.Rcode != mdns.RcodeRefused {
		t.Errorf("question from the host: %v %v", r, err)
	}
	// A removed container is forgotten at once.
	e.ok("rm", "-f", "web")
	if out := e.sh("client", "nslookup web"); strings.Contains(out.Stdout, webIP) {
		t.Errorf("web after rm:\n%s", out.Stdout)
	}
	// The last container gone, the name server ends by itself.
	e.ok("rm", "-f", "client", "client2")
	e.waitNoDNSServer()
	e.ok("network", "rm", "hnet-dns")
}

func TestEngineNetworkInternal(t *testing.T) {
	e := newNetEngine(t)
	outside := newOutside(t)
	prefix := e.createNetwork("hnet-int", "--internal")
	e.runDetached("--name", "ina", "--network", "hnet-int", e.image, "sleep", "1000")
	e.runDetached("--name", "inb", "--network", "hnet-int", e.image, "sleep", "1000")
	e.runDetached("--name", "bridged", e.image, "sleep", "1000")
	// The bridged container reaches the outside namespace (masqueraded):
	// the outside exists and answers.
	e.shOK("bridged", "ping -c1 -W3 "+outside)
	// The internal ones reach each other, by name too, but not the
	// outside: no default route, and nothing forwarded.
	e.shOK("ina", "ping -c1 -W3 inb")
	if r := e.sh("ina", "ping -c1 -W2 "+outside); r.Code == 0 {
		t.Errorf("internal container reached the outside:\n%v", r)
	}
	if routes := e.shOK("ina", "ip route"); strings.Contains(routes, "default") {
		t.Errorf("default route on an internal network:\n%s", routes)
	}
	if gw := e.inspect("ina", "{{.NetworkSettings.Gateway}}"); gw != "" {
		t.Errorf("gateway %q on an internal network", gw)
	}
	// Its name server forwards nothing.
	before := e.upstream.count.Load()
	if r := e.sh("ina", "nslookup outside.test"); strings.Contains(r.Stdout, "192.0.2.7") {
		t.Errorf("internal network resolved an outside name:\n%s", r.Stdout)
	}
	if e.upstream.count.Load() != before {
		t.Errorf("the name server of an internal network forwarded a question")
	}
	if r := e.run("run", "-d", "--network", "hnet-int", "-p", "80", e.image, "sleep", "1"); r.Code == 0 || !strings.Contains(r.Stderr, "internal") {
		t.Errorf("published port on an internal network:\n%v", r)
	}
	if !strings.HasPrefix(e.ip("ina"), prefix) {
		t.Errorf("address %s", e.ip("ina"))
	}
}

// newOutside makes a namespace standing for the world outside the host,
// joined to the host by a veth on a free 10.89.X.0/30, with a default
// route back to the host. It returns the outside's address.
func newOutside(t *testing.T) string {
	t.Helper()
	// netns.New makes the directory a shared mount of its own: it is
	// unmounted by the cleanup, then removed.
	dir, err := os.MkdirTemp("", "hutch-it-outside-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "outside")
	host := fmt.Sprintf("hno%d", rand.IntN(1000000))
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		netns.Remove(path)
		syscall.Unmount(dir, syscall.MNT_DETACH)
		os.RemoveAll(dir)
	})
	if err := netns.New(path); err != nil {
		t.Fatal(err)
	}
	x := 200 + rand.IntN(50)
	hostAddr, outAddr := fmt.Sprintf("10.89.%d.1", x), fmt.Sprintf("10.89.%d.2", x)
	for _, c := range [][]string{
		{"nsenter", "--net=" + path, "ip", "link", "add", "o0", "type", "veth", "peer", "name", host, "netns", "1"},
		{"nsenter", "--net=" + path, "ip", "addr", "add", outAddr + "/30", "dev", "o0"},
		{"nsenter", "--net=" + path, "ip", "link", "set", "o0", "up"},
		{"nsenter", "--net=" + path, "ip", "route", "add", "default", "via", hostAddr},
		{"ip", "addr", "add", hostAddr + "/30", "dev", host},
		{"ip", "link", "set", host, "up"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	return outAddr
}

func TestEngineNetworkPublishedPorts(t *testing.T) {
	e := newNetEngine(t)
	tcpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	id := e.runDetached("--name", "web", "-p", fmt.Sprintf("%d:80", tcpPort), "-p", fmt.Sprintf("%d:53/udp", udpPort), e.image, "httpd", "-f", "-p", "80")
	e.runDetached("--name", "client", e.image, "sleep", "1000")
	gw := e.gateway("web")

	// hutch port, as Docker prints it.
	out := e.ok("port", "web")
	want := fmt.Sprintf("53/udp -> 0.0.0.0:%d\n80/tcp -> 0.0.0.0:%d\n", udpPort, tcpPort)
	if out != want {
		t.Errorf("hutch port web:\n%s\nwant:\n%s", out, want)
	}
	if out := e.ok("port", "web", "80"); out != fmt.Sprintf("0.0.0.0:%d\n", tcpPort) {
		t.Errorf("hutch port web 80: %q", out)
	}
	if r := e.fails(1, "port", "web", "81/tcp"); !strings.Contains(r.Stderr, "81/tcp") {
		t.Errorf("unpublished port: %v", r)
	}

	// TCP from the host on 127.0.0.1 and on the bridge's address, and
	// from another container through the host's (bridge-side) address.
	waitHTTP(t, fmt.Sprintf("127.0.0.1:%d", tcpPort))
	waitHTTP(t, fmt.Sprintf("%s:%d", gw, tcpPort))
	if out := e.shOK("client", httpFrom(gw, strconv.Itoa(tcpPort))); !strings.HasPrefix(out, "HTTP/1.") {
		t.Errorf("published TCP port from another container: %q", out)
	}

	// UDP: a name server of the test inside the container's namespace
	// answers on 53; the host asks through the published port, another
	// container with nslookup through the bridge-side address.
	srv := dns.New(func(netip.Addr) (dns.View, bool, error) {
		return dns.View{Records: []dns.Record{{Names: []string{"udp.test"}, IPv4: netip.MustParseAddr("192.0.2.9")}}}, true, nil
	})
	sandbox := e.inspect("web", "{{.NetworkSettings.SandboxKey}}")
	if err := netns.Do(sandbox, func() error {
		_, err := srv.Listen(netip.MustParseAddrPort("0.0.0.0:53"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, host := range []string{"127.0.0.1", gw} {
		c := &mdns.Client{Net: "udp", Timeout: 3 * time.Second}
		r, _, err := c.Exchange(new(mdns.Msg).SetQuestion("udp.test.", mdns.TypeA), fmt.Sprintf("%s:%d", host, udpPort))
		if err != nil || len(r.Answer) != 1 {
			t.Errorf("UDP from the host to %s:%d: %v %v", host, udpPort, r, err)
		}
	}
	if out := e.shOK("client", fmt.Sprintf("nslookup udp.test %s:%d", gw, udpPort)); !strings.Contains(out, "192.0.2.9") {
		t.Errorf("published UDP port from another container:\n%s", out)
	}

	// A second container cannot take a published port: the error names
	// the port and its holder, exit 125, and nothing of it reaches the
	// kernel (the record stays, created, as Docker leaves it).
	r := e.fails(125, "run", "-d", "--name", "thief", "-p", fmt.Sprintf("%d:80", tcpPort), e.image, "sleep", "1000")
	if !strings.Contains(r.Stderr, strconv.Itoa(tcpPort)) || !strings.Contains(r.Stderr, `"web"`) {
		t.Errorf("port conflict error: %s", r.Stderr)
	}
	thief := e.inspect("thief", "{{.Id}}")
	if st := e.inspect("thief", "{{.State.Status}}"); st != "created" {
		t.Errorf("thief is %s", st)
	}
	e.assertNetworkGone(thief)
	// With --rm, not even a record.
	before := len(e.ids())
	e.fails(125, "run", "--rm", "-d", "--name", "thief2", "-p", fmt.Sprintf("%d:80", tcpPort), e.image, "sleep", "1000")
	if len(e.ids()) != before {
		t.Errorf("run --rm with a port conflict left a record")
	}
	// The holder still answers.
	waitHTTP(t, fmt.Sprintf("127.0.0.1:%d", tcpPort))

	// After rm, nothing of web is left, and the port is free.
	if n := e.rulesOf(id); n != 2 {
		t.Errorf("%d port rules of web, want 2", n)
	}
	e.ok("rm", "-f", "web")
	e.assertNetworkGone(id)
	if _, err := httpGet(fmt.Sprintf("127.0.0.1:%d", tcpPort)); err == nil {
		t.Errorf("port %d still answers after rm", tcpPort)
	}
	// The refused container starts once the port is free.
	e.ok("start", "thief")
	if out := e.ok("port", "thief"); out != fmt.Sprintf("80/tcp -> 0.0.0.0:%d\n", tcpPort) {
		t.Errorf("hutch port thief: %q", out)
	}
}

func TestEngineNetworkModes(t *testing.T) {
	e := newNetEngine(t)
	// none: only lo.
	out := e.ok("run", "--rm", "--network", "none", e.image, "sh", "-c", "ip -o link | cut -d: -f2")
	if strings.Fields(out)[0] != "lo" || len(strings.Fields(out)) != 1 {
		t.Errorf("--network none: links %q", out)
	}
	// container:NAME shares the address.
	e.runDetached("--name", "first", e.image, "sleep", "1000")
	ip := e.ip("first")
	out = e.ok("run", "--rm", "--network", "container:first", e.image, "ip", "-o", "-4", "addr", "show", "eth0")
	if !strings.Contains(out, " "+ip+"/") {
		t.Errorf("--network container:first: %q, want %s", out, ip)
	}
	// host: the host's interfaces (the test bridge is one), the host's
	// resolv.conf as it is (its loopback resolver too).
	out = e.ok("run", "--rm", "--network", "host", e.image, "sh", "-c", "ip -o link; cat /etc/resolv.conf")
	if !strings.Contains(out, ": "+e.bridge+":") || !strings.Contains(out, "nameserver "+e.upstream.addr.Addr().String()) {
		t.Errorf("--network host:\n%s", out)
	}
	hostHosts, _ := os.ReadFile("/etc/hosts")
	out = e.ok("run", "--rm", "--network", "host", "--add-host", "extra.test:10.89.255.9", e.image, "cat", "/etc/hosts")
	if !strings.HasPrefix(out, string(hostHosts)) || !strings.HasSuffix(out, "10.89.255.9\textra.test\n") {
		t.Errorf("--network host /etc/hosts:\n%s", out)
	}
	if r := e.run("create", "--network", "container:first", "--dns", "10.89.255.53", e.image); r.Code == 0 {
		t.Errorf("--dns with container: accepted")
	}
}

func TestEngineNetworkEtcFiles(t *testing.T) {
	e := newNetEngine(t)
	id := e.runDetached("--name", "etc", "--hostname", "box", "--domainname", "example.test",
		"--add-host", "db.test:10.89.255.10", "--add-host", "v6.test:fd00::10", "--add-host", "gw.test:host-gateway",
		"--dns", "10.89.255.20", "--dns-search", "a.test", "--dns-search", "b.test", "--dns-option", "ndots:3",
		e.image, "sleep", "1000")
	ip, gw := e.ip("etc"), e.gateway("etc")
	hosts := e.shOK("etc", "cat /etc/hosts")
	for _, want := range []string{"10.89.255.10\tdb.test\n", "fd00::10\tv6.test\n", gw + "\tgw.test\n", ip + "\tbox.example.test box etc\n"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
		}
	}
	resolv := e.shOK("etc", "cat /etc/resolv.conf")
	want := "# Generated by hutch\nnameserver 10.89.255.20\nsearch a.test b.test\noptions ndots:3\n"
	if resolv != want {
		t.Errorf("resolv.conf:\n%s\nwant:\n%s", resolv, want)
	}
	if h := e.shOK("etc", "cat /etc/hostname"); h != "box\n" {
		t.Errorf("/etc/hostname %q", h)
	}
	// The files are the bundle's, bind-mounted; inspect shows the flags.
	if got := e.inspect("etc", "{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}} {{json .HostConfig.ExtraHosts}}"); !strings.Contains(got, `["10.89.255.20"]`) || !strings.Contains(got, "gw.test:host-gateway") {
		t.Errorf("inspect: %s", got)
	}
	if data, err := os.ReadFile(filepath.Join(e.runroot, "containers", id, "hosts")); err != nil || string(data) != hosts {
		t.Errorf("bundle's hosts file: %v", err)
	}
	// They stay across a restart.
	e.ok("restart", "-t", "1", "etc")
	if h := e.shOK("etc", "cat /etc/resolv.conf"); h != want {
		t.Errorf("resolv.conf after restart:\n%s", h)
	}
	// --dns-search . means none; --read-only makes them read-only.
	out := e.ok("run", "--rm", "--read-only", "--dns-search", ".", e.image, "sh", "-c", "cat /etc/resolv.conf; echo x >> /etc/hosts && echo WRITABLE; true")
	if strings.Contains(out, "search") || strings.Contains(out, "WRITABLE") {
		t.Errorf("--read-only --dns-search .:\n%s", out)
	}
	// Docker's fallback when the host has no resolver a container can use.
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(conf, []byte("nameserver 127.0.0.53\n"), 0o644)
	e.env = append(e.env, "HUTCH_RESOLV_CONF="+conf)
	out = e.ok("run", "--rm", e.image, "cat", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n") || strings.Contains(out, "127.0.0.53") {
		t.Errorf("fallback resolv.conf:\n%s", out)
	}
	for _, bad := range [][]string{{"--add-host", "nocolon"}, {"--add-host", "x:notanip"}, {"--dns", "nope"}} {
		if r := e.run(append([]string{"create"}, append(bad, e.image)...)...); r.Code != 125 {
			t.Errorf("create %v: %v", bad, r)
		}
	}
}

func TestEngineNetworkConnectDisconnect(t *testing.T) {
	e := newNetEngine(t)
	prefix := e.createNetwork("hnet-conn")
	e.runDetached("--name", "app", e.image, "sleep", "1000")
	e.runDetached("--name", "peer", "--network", "hnet-conn", e.image, "sleep", "1000")
	e.ok("network", "connect", "--alias", "api", "--ip", prefix+"50", "hnet-conn", "app")
	links := e.shOK("app", "ip -o -4 addr")
	if !strings.Contains(links, "eth1") || !strings.Contains(links, prefix+"50/24") {
		t.Fatalf("after connect:\n%s", links)
	}
	if got := e.inspect("app", `{{(index .NetworkSettings.Networks "hnet-conn").IPAddress}}`); got != prefix+"50" {
		t.Errorf("inspect after connect: %q", got)
	}
	if got := e.inspectNetwork("hnet-conn", "{{len .Containers}}"); got != "2" {
		t.Errorf("network inspect Containers: %s", got)
	}
	for _, name := range []string{"app", "api"} {
		if out := e.nslookup("peer", name); !strings.Contains(out, "Address: "+prefix+"50") {
			t.Errorf("nslookup %s from peer:\n%s", name, out)
		}
	}
	// app's own files follow: its new address, and the network's server.
	if h := e.shOK("app", "cat /etc/hosts"); !strings.Contains(h, prefix+"50\t") {
		t.Errorf("/etc/hosts after connect:\n%s", h)
	}
	if r := e.shOK("app", "cat /etc/resolv.conf"); !strings.Contains(r, "nameserver "+prefix+"1") {
		t.Errorf("resolv.conf after connect:\n%s", r)
	}
	e.shOK("app", "ping -c1 -W3 peer")
	if r := e.run("network", "connect", "hnet-conn", "app"); r.Code == 0 {
		t.Errorf("second connect accepted")
	}
	// Kept across a restart.
	e.ok("restart", "-t", "1", "app")
	if links := e.shOK("app", "ip -o -4 addr"); !strings.Contains(links, prefix+"50/24") {
		t.Errorf("after restart:\n%s", links)
	}
	// Disconnect: the interface goes at once, and for good.
	e.ok("network", "disconnect", "hnet-conn", "app")
	if links := e.shOK("app", "ip -o link"); strings.Contains(links, "eth1") {
		t.Errorf("after disconnect:\n%s", links)
	}
	if r := e.sh("peer", "nslookup api"); strings.Contains(r.Stdout, prefix+"50") {
		t.Errorf("api still resolves:\n%s", r.Stdout)
	}
	e.ok("restart", "-t", "1", "app")
	if links := e.shOK("app", "ip -o link"); strings.Contains(links, "eth1") {
		t.Errorf("after disconnect and restart:\n%s", links)
	}
	if r := e.run("network", "disconnect", "hnet-conn", "app"); r.Code == 0 {
		t.Errorf("disconnect of an unconnected container accepted")
	}
	e.ok("network", "disconnect", "-f", "hnet-conn", "app")
	// The last network of a running container stays; a stopped one is
	// left with none.
	if r := e.run("network", "disconnect", "hnet-conn", "peer"); r.Code == 0 {
		t.Errorf("disconnect of a running container's only network accepted")
	}
	e.ok("stop", "-t", "1", "peer")
	e.ok("network", "disconnect", "hnet-conn", "peer")
	if m := e.inspect("peer", "{{.HostConfig.NetworkMode}}"); m != "none" {
		t.Errorf("network mode after the last disconnect: %s", m)
	}
	if r := e.run("network", "connect", "hnet-conn", "peer"); r.Code == 0 {
		t.Errorf("connect of a container in network mode none accepted")
	}
	// Connect a stopped container: it joins at its next start.
	e.ok("stop", "-t", "1", "app")
	e.ok("network", "connect", "hnet-conn", "app")
	e.ok("start", "app")
	if out := e.shOK("app", "ip -o -4 addr"); !strings.Contains(out, "eth1") || !strings.Contains(out, prefix) {
		t.Errorf("connected while stopped, after start:\n%s", out)
	}
	// Disconnecting its first network makes the next one its first.
	e.ok("network", "disconnect", "bridge", "app")
	if m := e.inspect("app", "{{.HostConfig.NetworkMode}} {{.NetworkSettings.IPAddress}}"); !strings.HasPrefix(m, "hnet-conn "+prefix) {
		t.Errorf("after disconnecting bridge: %s", m)
	}
	if out := e.shOK("app", "ip -o link"); strings.Contains(out, "eth0") {
		t.Errorf("eth0 left after disconnecting bridge:\n%s", out)
	}
}

func TestEngineNetworkCommands(t *testing.T) {
	e := newNetEngine(t)
	prefix := e.createNetwork("hnet-cmd", "--label", "team=blue", "-o", "mtu=1400")
	out := e.ok("network", "ls")
	if !strings.HasPrefix(out, "NETWORK ID") || !strings.Contains(out, " bridge ") || !strings.Contains(out, " host ") ||
		!strings.Contains(out, " none ") || !strings.Contains(out, "hnet-cmd") {
		t.Errorf("network ls:\n%s", out)
	}
	if out := e.ok("network", "ls", "--filter", "label=team=blue", "--format", "{{.Name}}"); out != "hnet-cmd\n" {
		t.Errorf("ls --filter label: %q", out)
	}
	if out := e.ok("network", "ls", "--filter", "type=custom", "-q"); len(strings.Fields(out)) != 1 {
		t.Errorf("ls type=custom: %q", out)
	}
	if out := e.ok("network", "ls", "--filter", "name=hnet-", "--filter", "dangling=true", "--format", "{{.Name}}"); out != "hnet-cmd\n" {
		t.Errorf("ls dangling=true: %q", out)
	}
	doc := e.inspectNetwork("hnet-cmd", `{{.Name}} {{.Driver}} {{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{.Internal}} {{.Labels.team}} {{index .Options "com.docker.network.driver.mtu"}}`)
	if doc != fmt.Sprintf("hnet-cmd bridge %s0/24 %s1 false blue 1400", prefix, prefix) {
		t.Errorf("network inspect: %s", doc)
	}
	e.runDetached("--name", "user", "--network", "hnet-cmd", e.image, "sleep", "1000")
	if got := e.inspect("user", "{{.NetworkSettings.MacAddress}}"); got == "" {
		t.Errorf("no MAC")
	}
	if out := e.shOK("user", "cat /sys/class/net/eth0/mtu"); strings.TrimSpace(out) != "1400" {
		t.Errorf("mtu %q", out)
	}
	cont := e.inspectNetwork("hnet-cmd", `{{range $id, $c := .Containers}}{{$c.Name}} {{$c.IPv4Address}}{{end}}`)
	if cont != "user "+e.ip("user")+"/24" {
		t.Errorf("Containers: %q", cont)
	}
	// In use: refused, naming the container; a stopped one counts too.
	r := e.fails(125, "network", "rm", "hnet-cmd")
	if !strings.Contains(r.Stderr, `"user"`) {
		t.Errorf("network rm in use: %s", r.Stderr)
	}
	e.ok("stop", "-t", "1", "user")
	if r := e.fails(125, "network", "rm", "hnet-cmd"); !strings.Contains(r.Stderr, `"user"`) {
		t.Errorf("network rm used by a stopped container: %s", r.Stderr)
	}
	e.fails(125, "network", "rm", "bridge")
	e.fails(125, "network", "rm", "host")
	// Prune spares networks in use, removes the others.
	e.ok("network", "create", "--subnet", "10.89.126.0/24", "hnet-unused")
	out = e.ok("network", "prune", "-f")
	if !strings.Contains(out, "hnet-unused") || strings.Contains(out, "hnet-cmd") {
		t.Errorf("prune: %q", out)
	}
	e.ok("rm", "user")
	e.ok("network", "rm", "hnet-cmd")
	if r := e.run("network", "inspect", "hnet-cmd"); r.Code == 0 {
		t.Errorf("network still there after rm")
	}
	// IPv6 dual stack.
	e.ok("network", "create", "--ipv6", "--subnet", "10.89.127.0/24", "--subnet", "fd00:89:127::/64", "hnet-v6")
	t.Cleanup(func() { e.removeAll(); e.run("network", "rm", "hnet-v6") })
	e.runDetached("--name", "v6a", "--network", "hnet-v6", e.image, "sleep", "1000")
	e.runDetached("--name", "v6b", "--network", "hnet-v6", e.image, "sleep", "1000")
	b6 := e.inspect("v6b", `{{(index .NetworkSettings.Networks "hnet-v6").GlobalIPv6Address}}`)
	if !strings.HasPrefix(b6, "fd00:89:127::") {
		t.Fatalf("IPv6 address %q", b6)
	}
	e.shOK("v6a", "ping6 -c1 -W3 "+b6)
	if out := e.nslookup("v6a", "-type=aaaa v6b"); !strings.Contains(out, b6) {
		t.Errorf("AAAA of v6b:\n%s", out)
	}
}

func TestEngineNetworkCleanupAfterMonitorKill(t *testing.T) {
	e := newNetEngine(t)
	e.createNetwork("hnet-kill")
	port := freePort(t, "tcp")
	id := e.runDetached("--name", "victim", "--network", "hnet-kill", "-p", fmt.Sprintf("%d:80", port), e.image, "httpd", "-f", "-p", "80")
	waitHTTP(t, fmt.Sprintf("127.0.0.1:%d", port))
	if len(vethsOf(id)) != 1 || !e.netnsMounted(id) || e.rulesOf(id) != 1 || len(e.leaseFilesWith(id)) != 1 {
		t.Fatalf("before: veths %v, netns %v, rules %d, leases %v", vethsOf(id), e.netnsMounted(id), e.rulesOf(id), e.leaseFilesWith(id))
	}
	syscall.Kill(e.monitorPid("victim"), syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	e.ok("rm", "-f", "victim")
	e.assertNetworkGone(id)
	e.waitNoDNSServer()
	// The network itself and its bridge stay until network rm.
	bridge := e.inspectNetwork("hnet-kill", `{{index .Options "com.docker.network.bridge.name"}}`)
	if _, err := net.InterfaceByName(bridge); err != nil {
		t.Errorf("bridge %s gone with the last container: %v", bridge, err)
	}
	e.ok("network", "rm", "hnet-kill")
	if _, err := net.InterfaceByName(bridge); err == nil {
		t.Errorf("bridge %s left after network rm", bridge)
	}
}

func TestEngineNetworkParallel50(t *testing.T) {
	e := newNetEngine(t)
	prefix := e.createNetwork("hnet-par")
	const n = 50
	ids := e.runParallel(n, func(int) []string {
		return []string{"run", "-d", "--network", "hnet-par", e.image, "sleep", "1000"}
	})
	seen := map[string]string{}
	for _, id := range ids {
		if id == "" {
			continue
		}
		ip := e.ip(id)
		if !strings.HasPrefix(ip, prefix) {
			t.Errorf("%s: address %q", id[:12], ip)
		}
		if other, dup := seen[ip]; dup {
			t.Errorf("%s and %s both have %s", other[:12], id[:12], ip)
		}
		seen[ip] = id
	}
	if len(seen) != n {
		t.Errorf("%d distinct addresses, want %d", len(seen), n)
	}
	if pids := e.dnsServers(); len(pids) != 1 {
		t.Errorf("name servers: %v", pids)
	}
	if got := e.inspectNetwork("hnet-par", "{{len .Containers}}"); got != strconv.Itoa(n) {
		t.Errorf("network inspect: %s containers", got)
	}
	var wg2 sync.WaitGroup
	for _, id := range ids {
		if id == "" {
			continue
		}
		wg2.Add(1)
		go func() { defer wg2.Done(); e.run("rm", "-f", id) }()
	}
	wg2.Wait()
	for _, id := range ids {
		if id != "" {
			e.assertNetworkGone(id)
		}
	}
	e.waitNoDNSServer()
}
