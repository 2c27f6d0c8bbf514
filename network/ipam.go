package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/store"
)

// leases is the on-disk state of one network's attachments: the IPAM
// leases are the attachments' addresses, so one file holds both and they
// can never disagree. It is read and written only under Manager.lock.
type leases struct {
	Network string `json:"network"`
	// Last is the last address handed out per family; the next search
	// starts after it, so a released address is not reused at once and a
	// neighbour's stale ARP entry for it has time to expire.
	Last4 netip.Addr `json:"last4,omitzero"`
	Last6 netip.Addr `json:"last6,omitzero"`
	// Attachments by container ID.
	Attachments map[string]*Attachment `json:"attachments"`

	path string
}

func (m *Manager) leasesPath(networkID string) string {
	return filepath.Join(m.run, networkID+".json")
}

// loadLeases reads a network's leases; a missing file is an empty set.
func (m *Manager) loadLeases(n *Network) (*leases, error) {
	l := &leases{path: m.leasesPath(n.ID)}
	if err := store.ReadJSON(l.path, l); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("network %q: leases: %w", n.Name, err)
	}
	l.Network = n.Name
	if l.Attachments == nil {
		l.Attachments = map[string]*Attachment{}
	}
	return l, nil
}

// allLeases reads every leases file, by network ID: also those of networks
// whose record is gone, so that Detach still finds what to undo.
func (m *Manager) allLeases() (map[string]*leases, error) {
	ents, err := os.ReadDir(m.run)
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	all := map[string]*leases{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(id, ".") {
			continue
		}
		l := &leases{path: filepath.Join(m.run, e.Name())}
		if err := store.ReadJSON(l.path, l); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		if l.Attachments == nil {
			l.Attachments = map[string]*Attachment{}
		}
		all[id] = l
	}
	return all, nil
}

// save writes the leases atomically, or removes the file when none is left.
func (l *leases) save() error {
	if len(l.Attachments) == 0 {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return store.WriteJSON(l.path, l)
}

// holder returns the attachment that holds address a, if any.
func (l *leases) holder(a netip.Addr) *Attachment {
	for _, att := range l.Attachments {
		if att.IPv4.Addr() == a || (att.IPv6.IsValid() && att.IPv6.Addr() == a) {
			return att
		}
	}
	return nil
}

// reserve checks an address asked for explicitly: inside the subnet, not
// one of the subnet's own addresses, and not held by anyone.
func (l *leases) reserve(n *Network, s *Subnet, a netip.Addr) error {
	a = a.Unmap()
	if !s.Subnet.Contains(a) {
		return errdefs.InvalidArgument("network %q: address %s is not in subnet %s", n.Name, a, s.Subnet)
	}
	if !usable(s, a) {
		return errdefs.InvalidArgument("network %q: address %s is reserved (network, broadcast or gateway address)", n.Name, a)
	}
	if h := l.holder(a); h != nil {
		return errdefs.Conflict("network %q: address %s is already in use by container %s", n.Name, a, h.describe())
	}
	return nil
}

// allocate returns the first free address after the last one handed out,
// wrapping around at the end of the range.
func (l *leases) allocate(n *Network, s *Subnet) (netip.Addr, error) {
	r := s.IPRange
	if !r.IsValid() {
		r = s.Subnet
	}
	last := l.Last4
	if r.Addr().Is6() {
		last = l.Last6
	}
	start := last.Next()
	if !last.IsValid() || !r.Contains(start) {
		start = r.Addr()
	}
	// No more tries than the held addresses plus the few reserved ones
	// can block: beyond that a free address must have come up, and an
	// IPv6 /64 is never walked through.
	held := map[netip.Addr]bool{}
	for _, att := range l.Attachments {
		held[att.IPv4.Addr()] = true
		if att.IPv6.IsValid() {
			held[att.IPv6.Addr()] = true
		}
	}
	a := start
	for tries := len(held) + 4; tries >= 0; tries-- {
		if usable(s, a) && !held[a] {
			if a.Is4() {
				l.Last4 = a
			} else {
				l.Last6 = a
			}
			return a, nil
		}
		a = a.Next()
		if !a.IsValid() || !r.Contains(a) {
			a = r.Addr()
		}
		if a == start {
			break
		}
	}
	return netip.Addr{}, errdefs.FailedPrecondition("network %q: no free address left in %s", n.Name, r)
}

// usable reports whether a may be given to a container: not the subnet's
// network address, not its IPv4 broadcast address, not the gateway.
func usable(s *Subnet, a netip.Addr) bool {
	if !s.Subnet.Contains(a) || a == s.Gateway || a == s.Subnet.Masked().Addr() {
		return false
	}
	if a.Is4() && a == lastAddr(s.Subnet) && s.Subnet.Bits() < 31 {
		return false
	}
	return true
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
