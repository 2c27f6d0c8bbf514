package engine

// The name server of a user-defined network is one process per network,
// `hutch dns-server NETWORK-ID`, that listens on the network's gateway
// addresses, port 53, in the host's network namespace (as Podman's
// aardvark-dns does). There is no daemon to own it: the first start of a
// container on the network spawns it, and it ends itself when the
// network has no container left, which it checks a few times a second
// from the network's attachment records. The hand-over is made safe by
// two flocks under RUNROOT/networks/dns/:
//
//	ID.pid   held by the running server for its whole life; a starter
//	         that can take it knows that no server runs.
//	ID.lock  the gate: a starter holds it from its probe of ID.pid until
//	         the new server says it listens; a server that finds no
//	         container takes it, looks once more, and exits holding it.
//
// A starter's container is recorded (Attach) before the starter takes the
// gate, so a server ending at that moment either sees it and stays, or has
// closed its sockets before the starter probes, which then starts a new
// one.

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network"
	"hutch.dev/hutch/network/dns"
	"hutch.dev/hutch/store"
)

// dnsPort is where the name servers listen on their gateways.
const dnsPort = 53

// dnsDomain is the name servers' own domain, first in the search list of
// containers on user-defined networks: NAME.dns.hutch is container NAME
// (see dns.WithDomain).
const dnsDomain = "dns.hutch"

// dnsPoll is how often a name server looks whether its network still has
// containers.
const dnsPoll = 250 * time.Millisecond

func (e *Engine) dnsDir() string { return filepath.Join(e.Runroot, "networks", "dns") }

// ensureDNS starts the name server of the network called name unless it
// runs already or the network is the default one (which has none, as
// Docker's default bridge resolves no container names).
func (e *Engine) ensureDNS(nm *network.Manager, name string) error {
	n, err := nm.Inspect(name)
	if err != nil {
		return err
	}
	if n.Default {
		return nil
	}
	dir := e.dnsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	gate, err := store.LockFile(filepath.Join(dir, n.ID+".lock"))
	if err != nil {
		return err
	}
	defer gate.Unlock()
	probe, free, err := store.Flock(filepath.Join(dir, n.ID+".pid"), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return err
	}
	if !free {
		return nil
	}
	probe.Unlock()

	syncR, syncW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer syncR.Close()
	logf, err := os.OpenFile(filepath.Join(dir, n.ID+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		syncW.Close()
		return err
	}
	defer logf.Close()
	cmd := e.hutchCommand("dns-server", n.ID)
	cmd.ExtraFiles = []*os.File{syncW}
	cmd.Stdout, cmd.Stderr = logf, logf
	// A session of its own: no terminal signal of the command that
	// started it reaches it, and it outlives that command.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	syncW.Close()
	if err != nil {
		return fmt.Errorf("network %q: start its name server: %w", n.Name, err)
	}
	line, _ := bufio.NewReader(syncR).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "ok" {
		cmd.Process.Release()
		return nil
	}
	cmd.Wait()
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return fmt.Errorf("network %q: name server: %s", n.Name, msg)
	}
	return fmt.Errorf("network %q: its name server exited at start (see %s)", n.Name, logf.Name())
}

// RunDNSServer is the body of `hutch dns-server NETWORK`: it serves the
// names of the network's containers on its gateways until the network
// has no container left. ready (fd 3) gets "ok" once it listens, or
// "error MSG".
func (e *Engine) RunDNSServer(name string, ready *os.File, log *slog.Logger) error {
	say := func(format string, a ...any) {
		if ready != nil {
			fmt.Fprintf(ready, format+"\n", a...)
			ready.Close()
			ready = nil
		}
	}
	defer say("error the name server ended at start")
	nm, n, err := e.inspectNetwork(name)
	if err == nil && n.Default {
		err = errdefs.InvalidArgument("network %q: the default network has no name server", n.Name)
	}
	if err != nil {
		say("error %v", err)
		return err
	}
	dir := e.dnsDir()
	pidPath := filepath.Join(dir, n.ID+".pid")
	pidLock, ok, err := store.Flock(pidPath, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		say("error %v", err)
		return err
	}
	if !ok {
		say("ok") // another one serves
		return nil
	}
	defer pidLock.Unlock()
	os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)

	srv := dns.New(e.dnsView(nm, n), dns.WithLogger(log), dns.WithDomain(dnsDomain))
	for _, s := range n.Subnets {
		if _, err := srv.Listen(netip.AddrPortFrom(s.Gateway, dnsPort)); err != nil {
			srv.Close()
			say("error %v", err)
			return err
		}
	}
	log.Info("name server listening", "network", n.Name, "bridge", n.Bridge, "pid", os.Getpid())
	say("ok")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	tick := time.NewTicker(dnsPoll)
	defer tick.Stop()
	for {
		select {
		case s := <-sigs:
			log.Info("name server stopped", "network", n.Name, "signal", s)
			srv.Close()
			os.Remove(pidPath)
			return nil
		case <-tick.C:
		}
		if e.networkInUse(nm, n) {
			continue
		}
		gate, err := store.LockFile(filepath.Join(dir, n.ID+".lock"))
		if err != nil {
			log.Warn("name server gate", "err", err)
			continue
		}
		if e.networkInUse(nm, n) {
			gate.Unlock()
			continue
		}
		// The gate is held until the process ends (the kernel drops the
		// flock then): no starter probes before the sockets are closed.
		srv.Close()
		os.Remove(pidPath)
		log.Info("name server ended: no container left", "network", n.Name)
		return nil
	}
}

// networkInUse tells whether n still has containers attached. A network
// that was removed (or whose records cannot be read for good) has none.
func (e *Engine) networkInUse(nm *network.Manager, n *network.Network) bool {
	atts, err := nm.Containers(n.ID)
	if err != nil {
		return !errdefs.IsNotFound(err) && !errors.Is(err, os.ErrNotExist)
	}
	return len(atts) > 0
}

// dnsView answers the name server's question "who may ask, and what may
// they resolve": a container of network n may resolve the containers of
// n and of every other user-defined network it is attached to (as with
// Docker's embedded DNS), and its other questions go to its --dns
// servers, or else to the host's resolvers (loopback ones included: the
// server runs in the host's network namespace). Internal networks
// forward nothing.
func (e *Engine) dnsView(nm *network.Manager, n *network.Network) dns.Lookup {
	return func(src netip.Addr) (dns.View, bool, error) {
		atts, err := nm.Containers(n.ID)
		if err != nil {
			return dns.View{}, false, err
		}
		var client *network.Attachment
		for _, a := range atts {
			if a.IPv4.Addr() == src || (a.IPv6.IsValid() && a.IPv6.Addr() == src) {
				client = a
				break
			}
		}
		if client == nil {
			return dns.View{}, false, nil
		}
		var v dns.View
		seen := map[string]bool{}
		add := func(list []*network.Attachment) {
			for _, a := range list {
				if seen[a.ContainerID] {
					continue
				}
				seen[a.ContainerID] = true
				v.Records = append(v.Records, dnsRecord(a))
			}
		}
		add(atts)
		if mine, err := nm.Attachments(client.ContainerID); err == nil {
			for _, m := range mine {
				if m.NetworkID == n.ID || m.Network == network.DefaultNetwork {
					continue
				}
				if others, err := nm.Containers(m.NetworkID); err == nil {
					add(others)
				}
			}
		}
		if !n.Internal {
			v.Upstreams = e.upstreams(client.ContainerID, n)
		}
		return v, true, nil
	}
}

func dnsRecord(a *network.Attachment) dns.Record {
	r := dns.Record{IPv4: a.IPv4.Addr()}
	if a.IPv6.IsValid() {
		r.IPv6 = a.IPv6.Addr()
	}
	if a.ContainerName != "" {
		r.Names = append(r.Names, a.ContainerName)
	}
	r.Names = append(r.Names, ShortID(a.ContainerID))
	r.Names = append(r.Names, a.Aliases...)
	return r
}

// upstreams are the resolvers of a container's forwarded questions: its
// --dns servers (written beside its resolv.conf), else the host's. The
// network's own gateways are left out, so that a host whose resolv.conf
// names one cannot make the server ask itself.
func (e *Engine) upstreams(id string, n *network.Network) []string {
	data, err := os.ReadFile(filepath.Join(e.bundleDir(id), upstreamFile))
	if err != nil {
		data, _ = os.ReadFile(hostResolvConf())
	}
	var out []string
	for _, u := range dns.ParseResolvConf(data) {
		self := false
		for _, s := range n.Subnets {
			if ap, err := netip.ParseAddrPort(u); err == nil && ap.Addr() == s.Gateway {
				self = true
			}
		}
		if !self {
			out = append(out, u)
		}
	}
	return out
}
