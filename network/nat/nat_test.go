package nat

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// testFirewall returns a table of this test's own, deleted at the end.
func testFirewall(t *testing.T) (*Firewall, string) {
	b := make([]byte, 3)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	f := New("hutch-test-" + suffix)
	t.Cleanup(func() {
		if err := f.Delete(); err != nil {
			t.Error(err)
		}
	})
	return f, suffix
}

func listTable(t *testing.T, f *Firewall) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return ""
	}
	out, err := exec.Command("nft", "list", "table", "inet", f.Table()).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	return string(out)
}

func TestNetworkRules(t *testing.T) {
	requireRoot(t)
	f, suffix := testFirewall(t)
	n := Network{Bridge: "hbt-" + suffix, Subnets: []netip.Prefix{netip.MustParsePrefix("10.89.250.0/24"), netip.MustParsePrefix("fd89:250::/64")}}
	for range 2 { // the second call must not duplicate anything
		if err := f.AddNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	// raw + forward + 2 x (hairpin + masquerade)
	if got, _ := f.Count(NetworkTag(n.Bridge)); got != 6 {
		t.Fatalf("%d rules tagged, want 6:\n%s", got, listTable(t, f))
	}
	text := listTable(t, f)
	for _, want := range []string{
		`ip saddr 10.89.250.0/24 oifname != "` + n.Bridge + `" masquerade`,
		`ip6 saddr fd89:250::/64 oifname != "` + n.Bridge + `" masquerade`,
		`iifname "` + n.Bridge + `" ip daddr 127.0.0.0/8 drop`,
		`fib daddr type local jump hostports`,
	} {
		if text != "" && !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}

	internal := Network{Bridge: "hbi-" + suffix, Subnets: []netip.Prefix{netip.MustParsePrefix("10.89.251.0/24")}, Internal: true}
	if err := f.AddNetwork(internal); err != nil {
		t.Fatal(err)
	}
	text = listTable(t, f)
	if text != "" && strings.Contains(text, "saddr 10.89.251.0/24 oifname") {
		t.Errorf("internal network masqueraded:\n%s", text)
	}
	if got, _ := f.Count(NetworkTag(internal.Bridge)); got != 4 {
		t.Fatalf("internal: %d rules tagged, want 4:\n%s", got, text)
	}

	if err := f.RemoveNetwork(n.Bridge); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Count(NetworkTag(n.Bridge)); got != 0 {
		t.Fatalf("%d rules left after RemoveNetwork", got)
	}
	if got, _ := f.Count(NetworkTag(internal.Bridge)); got != 4 {
		t.Fatalf("RemoveNetwork of another network took internal's rules: %d left", got)
	}
	if err := f.RemoveNetwork(n.Bridge); err != nil {
		t.Fatalf("second RemoveNetwork: %v", err)
	}
}

func TestPorts(t *testing.T) {
	requireRoot(t)
	f, _ := testFirewall(t)
	c := netip.MustParseAddr("10.89.250.2")
	ports := []Port{
		{HostPort: 18080, Protocol: "tcp", ContainerIP: c, ContainerPort: 80},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 18053, Protocol: "udp", ContainerIP: c, ContainerPort: 53},
	}
	if err := f.AddPorts("aaaa", "br0", ports); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPorts("bbbb", "br0", ports[:1]); err != nil {
		t.Fatal(err)
	}
	text := listTable(t, f)
	for _, want := range []string{
		`meta nfproto ipv4 tcp dport 18080 dnat ip to 10.89.250.2:80 comment "ctr aaaa br0"`,
		`ip daddr 127.0.0.1 udp dport 18053 dnat ip to 10.89.250.2:53 comment "ctr aaaa br0"`,
	} {
		if text != "" && !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	if err := f.AddPorts("aaaa", "br1", ports[:1]); err != nil {
		t.Fatal(err)
	}
	if err := f.RemovePorts("aaaa", "br1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Count(ContainerTag("aaaa", "br1")); got != 0 {
		t.Fatalf("%d rules of aaaa on br1 left", got)
	}
	if got, _ := f.Count(ContainerTag("aaaa", "br0")); got != 2 {
		t.Fatalf("RemovePorts of br1 took br0's: %d left, want 2", got)
	}
	if err := f.RemovePorts("aaaa", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Count(ContainerTag("aaaa", "br0")); got != 0 {
		t.Fatalf("%d rules of aaaa left", got)
	}
	if got, _ := f.Count(ContainerTag("bbbb", "br0")); got != 1 {
		t.Fatalf("bbbb has %d rules, want 1", got)
	}
	if err := f.RemovePorts("aaaa", ""); err != nil {
		t.Fatalf("second RemovePorts: %v", err)
	}
	if err := f.AddPorts("cccc", "br0", []Port{{HostPort: 1, Protocol: "sctp", ContainerIP: c, ContainerPort: 1}}); err == nil {
		t.Fatal("sctp accepted")
	}
}

func TestCountWithoutTable(t *testing.T) {
	requireRoot(t)
	f, _ := testFirewall(t)
	if n, err := f.Count(ContainerTag("x", "")); err != nil || n != 0 {
		t.Fatalf("Count on a missing table: %d, %v", n, err)
	}
	if err := f.RemovePorts("x", ""); err != nil {
		t.Fatalf("RemovePorts on a missing table: %v", err)
	}
	if err := f.RemoveNetwork("x"); err != nil {
		t.Fatalf("RemoveNetwork on a missing table: %v", err)
	}
}
