package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network/nat"
)

// PortMapping is one published port (-p [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]).
type PortMapping struct {
	// HostIP is the host address the port is published on; the zero value
	// (or 0.0.0.0) means all of them.
	HostIP netip.Addr `json:"hostIP,omitzero"`
	// HostPort 0 asks for a free port, chosen by Attach and reported in
	// the Attachment.
	HostPort      uint16 `json:"hostPort"`
	ContainerPort uint16 `json:"containerPort"`
	// Protocol is "tcp" (the default) or "udp".
	Protocol string `json:"protocol"`
}

// String is Docker's notation: 0.0.0.0:8080->80/tcp.
func (p PortMapping) String() string {
	return fmt.Sprintf("%s->%d/%s", net.JoinHostPort(p.hostIP().String(), strconv.Itoa(int(p.HostPort))), p.ContainerPort, p.Protocol)
}

func (p PortMapping) hostIP() netip.Addr {
	if !p.HostIP.IsValid() {
		return netip.IPv4Unspecified()
	}
	return p.HostIP
}

// overlaps reports whether p and q compete for the same packets.
func (p PortMapping) overlaps(q PortMapping) bool {
	if p.Protocol != q.Protocol || p.HostPort != q.HostPort {
		return false
	}
	a, b := p.hostIP(), q.hostIP()
	return a == b || a.IsUnspecified() || b.IsUnspecified()
}

func (p PortMapping) natPort(container netip.Addr) nat.Port {
	return nat.Port{HostIP: p.HostIP, HostPort: p.HostPort, Protocol: p.Protocol, ContainerIP: container, ContainerPort: p.ContainerPort}
}

// normalizePorts checks the requested ports and fills in the defaults.
func normalizePorts(req []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, 0, len(req))
	for _, p := range req {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, errdefs.InvalidArgument("port %d/%s: protocol must be tcp or udp", p.ContainerPort, p.Protocol)
		}
		if p.ContainerPort == 0 {
			return nil, errdefs.InvalidArgument("port %s: no container port", p)
		}
		p.HostIP = p.HostIP.Unmap()
		if p.HostIP.IsUnspecified() {
			p.HostIP = netip.Addr{}
		}
		if p.HostIP.Is6() {
			return nil, errdefs.NotImplemented("port %s: publishing on an IPv6 host address is not supported yet", p)
		}
		for _, q := range out {
			if p.HostPort != 0 && p.overlaps(q) {
				return nil, errdefs.InvalidArgument("port %s: published twice", p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// resolvePorts checks the ports against every attachment's (on every
// network: a host port belongs to the whole host) and against the host's
// own sockets, and picks free ports for HostPort 0. It runs before Attach
// creates anything, so a conflict leaves nothing to undo.
func resolvePorts(ports []PortMapping, all map[string]*leases) ([]PortMapping, error) {
	taken := func(p PortMapping) *Attachment {
		for _, l := range all {
			for _, att := range l.Attachments {
				for _, q := range att.Ports {
					if p.overlaps(q) {
						return att
					}
				}
			}
		}
		return nil
	}
	out := make([]PortMapping, 0, len(ports))
	for _, p := range ports {
		if p.HostPort == 0 {
			port, err := freePort(p, func(q PortMapping) bool {
				if taken(q) != nil {
					return true
				}
				// Neither a port already chosen nor a fixed one asked for
				// later in this same request.
				for _, o := range out {
					if q.overlaps(o) {
						return true
					}
				}
				for _, o := range ports {
					if o.HostPort != 0 && q.overlaps(o) {
						return true
					}
				}
				return false
			})
			if err != nil {
				return nil, err
			}
			p.HostPort = port
		} else {
			if att := taken(p); att != nil {
				return nil, errdefs.Conflict("port %s: host port %d/%s is already published by container %s", p, p.HostPort, p.Protocol, att.describe())
			}
			if err := probe(p); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// probe binds the host address and port for a moment: a socket of a
// process on the host that holds them would not see the packets once they
// are DNATed, so such a port is refused as Docker refuses it.
func probe(p PortMapping) error {
	hostport := net.JoinHostPort(p.hostIP().String(), strconv.Itoa(int(p.HostPort)))
	var err error
	if p.Protocol == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", hostport); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp4", hostport); err == nil {
			l.Close()
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EADDRINUSE):
		return errdefs.Conflict("port %s: host port %d/%s is in use on the host", p, p.HostPort, p.Protocol)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return errdefs.InvalidArgument("port %s: %s is not an address of this host", p, p.hostIP())
	}
	return fmt.Errorf("port %s: %w", p, err)
}

// freePort asks the kernel for a free ephemeral port on the host address
// (binding port 0), and tries again while the answer is one that an
// attachment holds (DNATed ports have no socket the kernel could see).
func freePort(p PortMapping, held func(PortMapping) bool) (uint16, error) {
	for range 64 {
		p.HostPort = 0
		addr := net.JoinHostPort(p.hostIP().String(), "0")
		if p.Protocol == "udp" {
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return 0, fmt.Errorf("port %s: pick a free host port: %w", p, err)
			}
			p.HostPort = uint16(c.LocalAddr().(*net.UDPAddr).Port)
			c.Close()
		} else {
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				return 0, fmt.Errorf("port %s: pick a free host port: %w", p, err)
			}
			p.HostPort = uint16(l.Addr().(*net.TCPAddr).Port)
			l.Close()
		}
		if !held(p) {
			return p.HostPort, nil
		}
	}
	return 0, errdefs.FailedPrecondition("port %d/%s: no free host port found", p.ContainerPort, p.Protocol)
}
