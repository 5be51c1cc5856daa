// Package tcpproxy is a small in-process TCP proxy for fault-injection
// tests: it forwards connections to a target and can cut them (reset),
// blackhole them (keep the sockets open but drop every byte, like a
// half-open connection across a dead network), or delay them.
package tcpproxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections accepted on Addr to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[*link]struct{}
	// blackholeNew makes new connections blackholed from the start.
	blackholeNew atomic.Bool
	delay        atomic.Int64
	wg           sync.WaitGroup
	closed       atomic.Bool
}

type link struct {
	client, server net.Conn
	blackholed     atomic.Bool
}

// Start listens on a free loopback port and forwards to target.
func Start(target string) (*Proxy, error) { return StartOn("127.0.0.1:0", target) }

// StartOn listens on addr and forwards to target: for a test that brings
// a service back on the address its clients already use.
func StartOn(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's listening port.
func (p *Proxy) Port() uint16 { return uint16(p.ln.Addr().(*net.TCPAddr).Port) }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		l.blackholed.Store(p.blackholeNew.Load())
		p.mu.Lock()
		if p.closed.Load() {
			// Accepted while Close ran, after its ResetAll: nothing would
			// ever close this link, and Close would wait for it forever.
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(l, c, s)
		go p.pipe(l, s, c)
	}
}

// pipe copies src to dst, dropping bytes while the link is blackholed.
func (p *Proxy) pipe(l *link, src, dst net.Conn) {
	defer p.wg.Done()
	defer func() {
		src.Close()
		dst.Close()
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.blackholed.Load() {
			if d := time.Duration(p.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

// Blackhole silently drops all traffic of the connections open now, while
// keeping their sockets open: each side sees a live connection that never
// answers. New connections are not affected.
func (p *Proxy) Blackhole() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.conns {
		l.blackholed.Store(true)
	}
	return len(p.conns)
}

// ResetAll closes every open connection (both sides see a reset or EOF).
func (p *Proxy) ResetAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.conns {
		l.client.Close()
		l.server.Close()
	}
	return len(p.conns)
}

// SetDelay adds latency to every forwarded chunk (0 for none).
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Conns returns how many connections are open.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	if p.closed.Swap(true) {
		return
	}
	p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
}
