// kgadget-standin-kubelet: A SIMULATION of the kubelet's port-forward endpoint, for the scale
// harness (e2e/scale). Many kubelets cannot run on one machine, so one process stands in for the
// port-forward server of many simulated nodes: one HTTPS listener on 127.0.0.1 per node, serving
//
//	/portForward/{namespace}/{pod}[/{uid}]
//
// with the kubelet's own streaming port-forward code (k8s.io/kubelet/pkg/cri/streaming/portforward:
// SPDY and the v4 WebSocket protocols, as the API server's proxy sends them). Each forwarded
// stream of a node is connected to that node's daemon address (a unix socket or tcp host:port):
// every pod of the node reaches the same daemon, which stands in for the gadget pod's container.
// Only the daemon port the config names is forwarded; any other port fails like a pod with
// nothing listening there.
//
// Config (JSON, -config FILE):
//
//	{"daemonPort": 8477, "nodes": [{"name": "sim-0001", "target": "unix:///tmp/x/sim-0001.sock"}]}
//
// Each node listens on an ephemeral port; once all listen, one JSON line goes to stdout:
//
//	{"ready": true, "ports": {"sim-0001": 40123, ...}}
//
// and one line per forwarded stream: {"forward": {"node": "sim-0001", "pod": "gadget/gadget-x", "port": 8477}}
//
// TLS: a self-signed serving certificate made at start (the API server is started without
// --kubelet-certificate-authority, so it does not verify kubelet certificates); with -client-ca
// the API server's client certificate is required and verified, as a kubelet does.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
)

type nodeConfig struct {
	Name   string `json:"name"`
	Target string `json:"target"`
}

type config struct {
	DaemonPort int32        `json:"daemonPort"`
	Nodes      []nodeConfig `json:"nodes"`
}

// forwarder is one simulated node's PortForwarder: it dials the node's daemon.
type forwarder struct {
	node       string
	network    string
	address    string
	daemonPort int32
	active     *int64
}

func (f *forwarder) PortForward(ctx context.Context, pod string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port != f.daemonPort {
		return fmt.Errorf("simulated node %s, pod %s: nothing listens on port %d (only the daemon port %d)", f.node, pod, port, f.daemonPort)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, f.network, f.address)
	if err != nil {
		return fmt.Errorf("simulated node %s, pod %s: dial %s %s: %v", f.node, pod, f.network, f.address, err)
	}
	defer conn.Close()
	atomic.AddInt64(f.active, 1)
	defer atomic.AddInt64(f.active, -1)
	f.report(pod, port)
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(conn, stream)
		if c, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = c.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(stream, conn)
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// report writes one stdout line per forwarded stream, so a harness can tell that the path went
// through this stand-in.
func (f *forwarder) report(pod string, port int32) {
	line, _ := json.Marshal(map[string]any{"forward": map[string]any{"node": f.node, "pod": pod, "port": port}})
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Println(string(line))
}

var outMu sync.Mutex

// the kubelet's own defaults (KubeletConfiguration streamingConnectionIdleTimeout, and the
// streaming server's stream creation timeout)
const (
	idleTimeout           = 4 * time.Hour
	streamCreationTimeout = 30 * time.Second
)

var protocols = []string{"portforward.k8s.io"}

func handler(f *forwarder) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/portForward/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/portForward/"), "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			http.Error(w, "expected /portForward/{namespace}/{pod}[/{uid}]", http.StatusBadRequest)
			return
		}
		var uid types.UID
		if len(parts) == 3 {
			uid = types.UID(parts[2])
		}
		opts, err := portforward.NewV4Options(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforward.ServePortForward(w, r, f, parts[0]+"/"+parts[1], uid, opts, idleTimeout, streamCreationTimeout, protocols)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	return mux
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "kgadget-standin-kubelet (simulation)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func splitTarget(t string) (string, string, error) {
	switch {
	case strings.HasPrefix(t, "unix://"):
		return "unix", strings.TrimPrefix(t, "unix://"), nil
	case strings.HasPrefix(t, "tcp://"):
		return "tcp", strings.TrimPrefix(t, "tcp://"), nil
	}
	return "", "", fmt.Errorf("target %q: want unix:///path or tcp://host:port", t)
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "kgadget-standin-kubelet: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	cfgPath := flag.String("config", "", "JSON config (see the source header)")
	clientCA := flag.String("client-ca", "", "PEM CA bundle; when set, clients must present a certificate it signed")
	flag.Parse()
	raw, err := os.ReadFile(*cfgPath)
	if err != nil {
		fatal("%v", err)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fatal("config %s: %v", *cfgPath, err)
	}
	if cfg.DaemonPort == 0 {
		cfg.DaemonPort = 8477
	}
	cert, err := selfSigned()
	if err != nil {
		fatal("certificate: %v", err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if *clientCA != "" {
		pem, err := os.ReadFile(*clientCA)
		if err != nil {
			fatal("%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fatal("no certificate in %s", *clientCA)
		}
		tlsCfg.ClientCAs = pool
		tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	var active int64
	ports := map[string]int{}
	servers := make([]*http.Server, 0, len(cfg.Nodes))
	for _, n := range cfg.Nodes {
		network, address, err := splitTarget(n.Target)
		if err != nil {
			fatal("node %s: %v", n.Name, err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatal("node %s: listen: %v", n.Name, err)
		}
		ports[n.Name] = ln.Addr().(*net.TCPAddr).Port
		f := &forwarder{node: n.Name, network: network, address: address, daemonPort: cfg.DaemonPort, active: &active}
		// HTTP/1.1 only, as the kubelet serves upgrades
		srv := &http.Server{Handler: handler(f), TLSConfig: tlsCfg, ReadHeaderTimeout: 30 * time.Second,
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
		servers = append(servers, srv)
		go func(srv *http.Server, ln net.Listener) {
			if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
				fmt.Fprintf(os.Stderr, "kgadget-standin-kubelet: serve: %v\n", err)
			}
		}(srv, ln)
	}
	out, _ := json.Marshal(map[string]any{"ready": true, "ports": ports})
	outMu.Lock()
	fmt.Println(string(out))
	outMu.Unlock()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func(s *http.Server) { defer wg.Done(); _ = s.Close() }(s)
	}
	wg.Wait()
}
