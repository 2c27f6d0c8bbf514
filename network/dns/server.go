// Package dns is the name server of a user-defined network: it answers
// the names and aliases of the network's containers with their addresses
// and forwards every other question to upstream resolvers, as Docker's
// embedded DNS and Podman's aardvark-dns do. It knows nothing of where
// the names come from: the caller gives a function that returns them,
// read afresh for every question, so a container is known as soon as its
// attachment is recorded and forgotten as soon as it is removed.
package dns

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Record is one container as the server sees it: the names it answers to
// (container name, short ID, aliases) and its addresses on the network.
type Record struct {
	Names []string
	IPv4  netip.Addr
	IPv6  netip.Addr
}

// View is what the container asking may resolve: the records of every
// network it shares with the server's, and the upstream resolvers
// ("IP:53") its other questions go to. No upstream means no forwarding
// (internal networks).
type View struct {
	Records   []Record
	Upstreams []string
}

// Lookup returns the view of the client at src; ok is false for a client
// that is not a container of the network, which is refused.
type Lookup func(src netip.Addr) (v View, ok bool, err error)

// TTL of the answers for containers: short, since containers come and go
// and addresses are handed out again.
const TTL = 10

// Server serves DNS over UDP and TCP on a set of addresses.
type Server struct {
	lookup  Lookup
	log     *slog.Logger
	timeout time.Duration
	domain  string

	mu      sync.Mutex
	servers []*dns.Server
	wg      sync.WaitGroup
}

// Option changes a Server's defaults.
type Option func(*Server)

// WithLogger sends debug logs (one line per question) to l; the default
// discards them.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithDomain makes the server authoritative for domain: NAME.domain is
// answered as NAME, and a name of the domain that is no container's gets
// NXDOMAIN instead of going upstream. With the domain first in the
// clients' search list, resolvers that only ever try the search names
// (busybox's nslookup does so with a dotless name) find the containers;
// Podman's aardvark-dns does the same with dns.podman.
func WithDomain(domain string) Option {
	return func(s *Server) { s.domain = strings.ToLower(strings.Trim(domain, ".")) }
}

// WithUpstreamTimeout bounds one exchange with one upstream (2s).
func WithUpstreamTimeout(d time.Duration) Option { return func(s *Server) { s.timeout = d } }

// New returns a server that answers from lookup.
func New(lookup Lookup, opts ...Option) *Server {
	s := &Server{lookup: lookup, log: slog.New(slog.NewTextHandler(io.Discard, nil)), timeout: 2 * time.Second}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Listen binds UDP and TCP on addr and serves there until Close. The
// sockets are bound before Listen returns, so that an address in use is
// reported to the caller, and a client may ask at once. Port 0 takes a
// free UDP port and the same for TCP; the address bound is returned.
func (s *Server) Listen(addr netip.AddrPort) (netip.AddrPort, error) {
	pc, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		return addr, fmt.Errorf("dns: listen on udp %s: %w", addr, err)
	}
	addr = netip.AddrPortFrom(addr.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		pc.Close()
		return addr, fmt.Errorf("dns: listen on tcp %s: %w", addr, err)
	}
	h := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h, Net: "udp"}
	tcp := &dns.Server{Listener: l, Handler: h, Net: "tcp", ReadTimeout: 5 * time.Second}
	s.mu.Lock()
	s.servers = append(s.servers, udp, tcp)
	s.mu.Unlock()
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Warn("dns server ended", "addr", addr, "net", srv.Net, "err", err)
			}
		}()
		<-started
	}
	s.log.Debug("dns listening", "addr", addr)
	return addr, nil
}

// Close stops serving and closes every socket.
func (s *Server) Close() error {
	s.mu.Lock()
	srvs := s.servers
	s.servers = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range srvs {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.Answer(w.RemoteAddr(), w.LocalAddr().Network(), req)
	if resp == nil {
		return
	}
	if w.LocalAddr().Network() == "udp" {
		// A reply that does not fit the client's buffer is cut, with TC
		// set: the client then asks again over TCP.
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = max(int(o.UDPSize()), dns.MinMsgSize)
		}
		resp.Truncate(size)
	}
	w.WriteMsg(resp)
}

// Answer returns the reply to req from the client at remote, over proto
// ("udp" or "tcp"). It is Serve's logic without the sockets.
func (s *Server) Answer(remote net.Addr, proto string, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		return resp.SetRcode(req, dns.RcodeNotImplemented)
	}
	src := addrOf(remote)
	q := req.Question[0]
	v, ok, err := s.lookup(src)
	if err != nil {
		s.log.Warn("dns lookup", "client", src, "err", err)
		return resp.SetRcode(req, dns.RcodeServerFailure)
	}
	if !ok {
		// Not one of the network's containers: a host on another
		// network must not learn this one's names, nor use us as an
		// open resolver.
		return resp.SetRcode(req, dns.RcodeRefused)
	}
	inDomain := false
	if s.domain != "" {
		name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
		if short, ok := strings.CutSuffix(name, "."+s.domain); ok {
			q.Name, inDomain = short+".", true
		} else if name == s.domain {
			inDomain = true
		}
	}
	if q.Qclass == dns.ClassINET {
		if ans, found := answer(v.Records, q); found {
			for _, rr := range ans {
				rr.Header().Name = req.Question[0].Name
			}
			s.log.Debug("dns answer", "client", src, "name", q.Name, "type", dns.TypeToString[q.Qtype], "answers", len(ans))
			resp.SetReply(req)
			resp.Authoritative = true
			resp.RecursionAvailable = true
			resp.Answer = ans
			return resp
		}
	}
	if inDomain {
		resp.SetRcode(req, dns.RcodeNameError)
		resp.Authoritative = true
		return resp
	}
	if len(v.Upstreams) == 0 {
		return resp.SetRcode(req, dns.RcodeServerFailure)
	}
	return s.forward(req, proto, v.Upstreams)
}

// answer finds q's name among the records. A name that is known but has
// no address of the asked type gets an empty answer (NODATA), not
// NXDOMAIN, so that the client does not drop the name altogether.
func answer(recs []Record, q dns.Question) ([]dns.RR, bool) {
	if q.Qtype == dns.TypePTR {
		return reverse(recs, q)
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	var out []dns.RR
	found := false
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
	}
	for _, r := range recs {
		if !hasName(r.Names, name) {
			continue
		}
		found = true
		switch {
		case q.Qtype == dns.TypeA && r.IPv4.IsValid():
			out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: r.IPv4.AsSlice()})
		case q.Qtype == dns.TypeAAAA && r.IPv6.IsValid():
			out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: r.IPv6.AsSlice()})
		}
	}
	return out, found
}

func reverse(recs []Record, q dns.Question) ([]dns.RR, bool) {
	for _, r := range recs {
		for _, a := range []netip.Addr{r.IPv4, r.IPv6} {
			if !a.IsValid() || len(r.Names) == 0 {
				continue
			}
			if rev, err := dns.ReverseAddr(a.String()); err == nil && strings.EqualFold(rev, q.Name) {
				return []dns.RR{&dns.PTR{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: TTL},
					Ptr: dns.Fqdn(r.Names[0]),
				}}, true
			}
		}
	}
	return nil, false
}

func hasName(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// forward asks the upstreams in turn, over the client's protocol (and
// over TCP again when a UDP reply comes back truncated).
func (s *Server) forward(req *dns.Msg, proto string, upstreams []string) *dns.Msg {
	c := &dns.Client{Net: proto, Timeout: s.timeout}
	for _, up := range upstreams {
		r, _, err := c.Exchange(req, up)
		if err == nil && r.Truncated && proto == "udp" {
			tc := &dns.Client{Net: "tcp", Timeout: s.timeout}
			if r2, _, err2 := tc.Exchange(req, up); err2 == nil {
				r = r2
			}
		}
		if err != nil {
			s.log.Debug("dns forward", "upstream", up, "name", req.Question[0].Name, "err", err)
			continue
		}
		r.Id = req.Id
		return r
	}
	return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// ParseResolvConf returns the nameservers of a resolv.conf as "IP:53"
// upstream addresses, in order.
func ParseResolvConf(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, 53).String())
	}
	return out
}
