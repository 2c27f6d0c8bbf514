package dns

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream is a fake resolver on 127.0.0.1 that answers every A question
// with 192.0.2.1 and counts them.
func upstream(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	up := New(func(netip.Addr) (View, bool, error) {
		n.Add(1)
		return View{Records: []Record{{Names: []string{"example.org", "big.example.org"}, IPv4: netip.MustParseAddr("192.0.2.1")}}}, true, nil
	})
	addr, err := up.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	return addr.String(), &n
}

func ask(t *testing.T, proto, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s %s: %v", proto, name, err)
	}
	return r
}

func TestServerNamesAliasesForwarding(t *testing.T) {
	up, count := upstream(t)
	web := netip.MustParseAddr("10.89.7.2")
	db := netip.MustParseAddr("10.89.7.3")
	stranger := netip.MustParseAddr("10.1.1.1")
	lookup := func(src netip.Addr) (View, bool, error) {
		if src == stranger {
			return View{}, false, nil
		}
		return View{
			Records: []Record{
				{Names: []string{"web", "0123456789ab", "www"}, IPv4: web, IPv6: netip.MustParseAddr("fd00::2")},
				{Names: []string{"db", "www"}, IPv4: db},
			},
			Upstreams: []string{up},
		}, true, nil
	}
	s := New(lookup, WithDomain("dns.hutch."))
	addr, err := s.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	for _, proto := range []string{"udp", "tcp"} {
		r := ask(t, proto, addr.String(), "web", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != web.String() {
			t.Fatalf("%s web: %v", proto, r)
		}
		if !r.Authoritative {
			t.Errorf("%s web: not authoritative", proto)
		}
	}
	// Case does not matter; an alias shared by two containers gives both.
	if r := ask(t, "udp", addr.String(), "WWW.", dns.TypeA); len(r.Answer) != 2 {
		t.Errorf("www: want 2 answers, got %v", r)
	}
	// NAME.domain is NAME; other names of the domain do not exist, and
	// do not go upstream.
	if r := ask(t, "udp", addr.String(), "web.DNS.hutch", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].Header().Name != "web.DNS.hutch." {
		t.Errorf("web.dns.hutch: %v", r)
	}
	if r := ask(t, "udp", addr.String(), "nothere.dns.hutch", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("nothere.dns.hutch: %v", r)
	}
	if r := ask(t, "udp", addr.String(), "0123456789ab", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("short ID: %v", r)
	}
	if r := ask(t, "udp", addr.String(), "web", dns.TypeAAAA); len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "fd00::2" {
		t.Errorf("web AAAA: %v", r)
	}
	// A known name without an IPv6 address: NODATA, not NXDOMAIN.
	if r := ask(t, "udp", addr.String(), "db", dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("db AAAA: %v", r)
	}
	rev, _ := dns.ReverseAddr(db.String())
	if r := ask(t, "udp", addr.String(), rev, dns.TypePTR); len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "db." {
		t.Errorf("PTR: %v", r)
	}
	if count.Load() != 0 {
		t.Errorf("known names went upstream %d times", count.Load())
	}
	// Other names go upstream, over either protocol.
	for _, proto := range []string{"udp", "tcp"} {
		r := ask(t, proto, addr.String(), "example.org", dns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("%s forwarded: %v", proto, r)
		}
	}
	if count.Load() != 2 {
		t.Errorf("upstream asked %d times, want 2", count.Load())
	}
}

func TestServerRefusesStrangersAndWithoutUpstream(t *testing.T) {
	var allowed atomic.Bool
	s := New(func(src netip.Addr) (View, bool, error) {
		return View{Records: []Record{{Names: []string{"web"}, IPv4: netip.MustParseAddr("10.89.7.2")}}}, allowed.Load(), nil
	}, WithUpstreamTimeout(200*time.Millisecond))
	addr, err := s.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r := ask(t, "udp", addr.String(), "web", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("stranger: %v", r)
	}
	allowed.Store(true)
	if r := ask(t, "udp", addr.String(), "web", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("member: %v", r)
	}
	// No upstream (an internal network): other names fail at once.
	if r := ask(t, "udp", addr.String(), "example.org", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("no upstream: %v", r)
	}
}

func TestServerUpstreamDownAndClose(t *testing.T) {
	// An upstream that does not answer: 127.0.0.1 on a closed port.
	s := New(func(netip.Addr) (View, bool, error) {
		return View{Upstreams: []string{"127.0.0.1:1"}}, true, nil
	}, WithUpstreamTimeout(200*time.Millisecond))
	addr, err := s.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if r := ask(t, "udp", addr.String(), "example.org", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("upstream down: %v", r)
	}
	if _, err := New(nil).Listen(addr); err == nil {
		t.Errorf("second listener on %s: no error", addr)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The address is free again.
	s2 := New(func(netip.Addr) (View, bool, error) { return View{}, true, nil })
	if _, err := s2.Listen(addr); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	s2.Close()
}

func TestParseResolvConf(t *testing.T) {
	got := ParseResolvConf([]byte("# x\nnameserver 10.0.0.1\nnameserver  fd00::53 \nnameserver bad\nsearch example.org\n"))
	want := []string{"10.0.0.1:53", "[fd00::53]:53"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
}
