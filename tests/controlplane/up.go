package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/component-base/version"
)

// component is one child process of `up`.
type component struct {
	name string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
}

// runUp starts etcd, kube-apiserver and kube-controller-manager as child processes, waits until the
// apiserver is ready, writes DIR/kubeconfig and DIR/ready, and runs until SIGINT/SIGTERM or until a
// component dies. Children get SIGKILL from the kernel if this process dies first (Pdeathsig), so a
// crashed test run leaves no strays behind.
func runUp(args []string) int {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", "", "state directory (certificates, etcd data, logs, kubeconfig); a temp dir if empty")
	port := fs.Int("port", 0, "apiserver secure port on 127.0.0.1 (0 picks a free one)")
	keep := fs.Bool("keep", false, "keep the state directory on exit")
	noControllerManager := fs.Bool("no-controller-manager", false, "run without kube-controller-manager (no garbage collection)")
	_ = fs.Parse(args)

	if *dir == "" {
		d, err := os.MkdirTemp("", "agentarea-cp-")
		if err != nil {
			return fail("temp dir: %v", err)
		}
		*dir = d
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	if err := os.MkdirAll(filepath.Join(*dir, "logs"), 0o755); err != nil {
		return fail("state dir: %v", err)
	}
	_ = os.Remove(filepath.Join(*dir, "ready"))

	p, err := newPKI(filepath.Join(*dir, "pki"))
	if err != nil {
		return fail("certificates: %v", err)
	}
	ports, err := freePorts(4)
	if err != nil {
		return fail("ports: %v", err)
	}
	if *port != 0 {
		ports[0] = *port
	}
	apiPort, etcdClient, etcdPeer, kcmPort := ports[0], ports[1], ports[2], ports[3]
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	token := randomToken()
	tokenFile := filepath.Join(*dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(fmt.Sprintf("%s,agentarea-admin,agentarea-admin,\"system:masters\"\n", token)), 0o600); err != nil {
		return fail("token file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(*dir, "admin-token"), []byte(token), 0o600); err != nil {
		return fail("token: %v", err)
	}
	kubeconfig := filepath.Join(*dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, p); err != nil {
		return fail("kubeconfig: %v", err)
	}

	components := []*component{
		{name: "local-etcd", args: []string{
			"--dir", filepath.Join(*dir, "etcd"),
			"--client-port", strconv.Itoa(etcdClient), "--peer-port", strconv.Itoa(etcdPeer),
		}},
		{name: "kube-apiserver", args: []string{
			"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
			"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(apiPort),
			"--tls-cert-file", p.ServingCert, "--tls-private-key-file", p.ServKey,
			"--client-ca-file", p.CACert,
			"--token-auth-file", tokenFile,
			"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file", p.SAPublic,
			"--service-account-signing-key-file", p.SAPrivate,
			"--service-cluster-ip-range", "10.0.0.0/16",
			"--authorization-mode", "Node,RBAC",
			"--allow-privileged=true",
			"--enable-priority-and-fairness=false",
			"--max-requests-inflight", "2000", "--max-mutating-requests-inflight", "1000",
			"--v", "0",
		}},
	}
	if *noControllerManager {
		// Without the controller-manager nothing creates each namespace's default ServiceAccount.
		components[1].args = append(components[1].args, "--disable-admission-plugins", "ServiceAccount")
	} else {
		components = append(components, &component{name: "kube-controller-manager", args: []string{
			"--kubeconfig", kubeconfig,
			"--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
			"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(kcmPort),
			"--leader-elect=false",
			"--root-ca-file", p.CACert,
			"--service-account-private-key-file", p.SAPrivate,
			"--cluster-signing-cert-file", p.CACert, "--cluster-signing-key-file", p.CAKey,
			"--controllers", "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service,-route,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-ttl",
			"--concurrent-gc-syncs", "5",
			"--v", "0",
		}})
	}

	self, err := os.Executable()
	if err != nil {
		return fail("executable: %v", err)
	}
	exited := make(chan string, len(components))
	var wg sync.WaitGroup
	stopAll := func() {
		// Reverse order: controller-manager and apiserver go before the etcd they depend on.
		for i := len(components) - 1; i >= 0; i-- {
			stop(components[i])
		}
		wg.Wait()
	}

	started := time.Now()
	for i, c := range components {
		if err := start(self, *dir, c, exited, &wg); err != nil {
			stopAll()
			return fail("start %s: %v", c.name, err)
		}
		if i == 0 {
			// The apiserver exits at once if etcd is not listening yet.
			if err := waitTCP(fmt.Sprintf("127.0.0.1:%d", etcdClient), 60*time.Second); err != nil {
				stopAll()
				return fail("etcd: %v (see %s)", err, logPath(*dir, "local-etcd"))
			}
		}
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	ready := make(chan error, 1)
	go func() { ready <- waitReady(server, p, 120*time.Second) }()
	select {
	case err := <-ready:
		if err != nil {
			stopAll()
			return fail("apiserver: %v (see %s)", err, logPath(*dir, "kube-apiserver"))
		}
	case name := <-exited:
		stopAll()
		return fail("%s exited during start-up (see %s)", name, logPath(*dir, name))
	case <-signals:
		stopAll()
		return 0
	}

	fmt.Printf("control plane ready in %.1fs\n", time.Since(started).Seconds())
	fmt.Printf("KUBECONFIG=%s\n", kubeconfig)
	fmt.Printf("server=%s\n", server)
	// The ready file is written last: whoever waits on it can use the kubeconfig at once.
	if err := os.WriteFile(filepath.Join(*dir, "ready"), []byte(server+"\n"), 0o644); err != nil {
		stopAll()
		return fail("ready file: %v", err)
	}

	select {
	case <-signals:
		stopAll()
		return 0
	case name := <-exited:
		stopAll()
		return fail("%s exited (see %s)", name, logPath(*dir, name))
	}
}

func start(self, dir string, c *component, exited chan<- string, wg *sync.WaitGroup) error {
	log, err := os.Create(logPath(dir, c.name))
	if err != nil {
		return err
	}
	c.cmd = exec.Command(self, append([]string{c.name}, c.args...)...)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		log.Close()
		return err
	}
	c.done = make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.cmd.Wait()
		log.Close()
		close(c.done)
		exited <- c.name
	}()
	return nil
}

// stop asks a component to shut down, and kills it if it has not after ten seconds.
func stop(c *component) {
	if c.done == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func logPath(dir, name string) string { return filepath.Join(dir, "logs", name+".log") }

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening after %s", addr, timeout)
}

// waitReady polls /readyz as the admin until every apiserver readiness check passes.
func waitReady(server string, p *pki, timeout time.Duration) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caCertPEM)
	cert, err := tls.X509KeyPair(p.adminCertPEM, p.keyPEM)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := "no answer"
	for ctx.Err() == nil {
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %s", timeout, last)
}

func writeKubeconfig(path, server string, p *pki) error {
	b64 := base64.StdEncoding.EncodeToString
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: agentarea-local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: agentarea-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: agentarea-local
  context:
    cluster: agentarea-local
    user: agentarea-admin
    namespace: default
current-context: agentarea-local
`, server, b64(p.caCertPEM), b64(p.adminCertPEM), b64(p.keyPEM))
	return os.WriteFile(path, []byte(config), 0o600)
}

func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func kubernetesVersion() string { return version.Get().GitVersion }

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "agentarea-cp: "+format+"\n", args...)
	return 1
}
