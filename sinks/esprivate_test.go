package sinks_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

// esUser is the unprivileged user deploy/local/up.sh runs Elasticsearch as (it refuses
// to run as root).
const esUser = "weir-es"

// esHome is the Elasticsearch distribution that deploy/local/up.sh unpacks, relative to
// the repository root.
const esHome = "deploy/local/.run/elasticsearch/home"

// privateElasticsearch is an Elasticsearch node of the test's own: the distribution of
// the local stack, run as esUser with a configuration directory of its own (ES_PATH_CONF),
// on free loopback ports, with its data and logs in a temporary directory that survives
// stop and start. The shared node of the stack (9200/9300) is not touched.
type privateElasticsearch struct {
	url      string
	home     string // the distribution
	dir      string // config, data, logs, tmp, the console log
	javaHome string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has exited
}

// missingES skips the test, or fails it under CI, when the private node cannot be run.
func missingES(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + " (run deploy/local/up.sh as root)"
	if testenv.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func startPrivateElasticsearch(t *testing.T) *privateElasticsearch {
	t.Helper()
	// The tests run in sinks/; the repository root is its parent.
	home, err := filepath.Abs(filepath.Join("..", esHome))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "bin", "elasticsearch")); err != nil {
		missingES(t, "no Elasticsearch distribution: %v", err)
	}
	u, err := user.Lookup(esUser)
	if err != nil {
		missingES(t, "no user %s: %v", esUser, err)
	}
	if os.Geteuid() != 0 {
		missingES(t, "running Elasticsearch as %s needs root", esUser)
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		missingES(t, "no setpriv: %v", err)
	}
	javaHome, err := findJavaHome()
	if err != nil {
		missingES(t, "no java: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	// Not t.TempDir: its parent is private to root, and esUser must traverse the path.
	dir, err := os.MkdirTemp("", "weir-es-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	conf := filepath.Join(dir, "config")
	if err := copyTree(filepath.Join(home, "config"), conf); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ports := make([]int, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	// As deploy/local/up.sh writes it, with the test's own ports and paths.
	yml := fmt.Sprintf(`# Written by sinks/esprivate_test.go: a private node for one test.
cluster.name: weir-test-%d
node.name: weir-test-1
network.host: 127.0.0.1
http.port: %d
transport.port: %d
discovery.type: single-node
path.data: %s
path.logs: %s
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
`, ports[0], ports[0], ports[1], filepath.Join(dir, "data"), filepath.Join(dir, "logs"))
	if err := os.WriteFile(filepath.Join(conf, "elasticsearch.yml"), []byte(yml), 0o660); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(conf, "jvm.options.d"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "jvm.options.d", "heap.options"),
		[]byte("-Xms384m\n-Xmx384m\n"), 0o660); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(dir, uid, gid); err != nil {
		t.Fatal(err)
	}

	s := &privateElasticsearch{url: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), home: home, dir: dir,
		javaHome: javaHome}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.kill()
		}
	})
	s.start(t)
	return s
}

// findJavaHome finds the JDK as deploy/local/up.sh does: two levels above the real path
// of the java on PATH.
func findJavaHome() (string, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(java)
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(real)), nil
}

// start starts the node (again) and waits until its cluster health is yellow or green.
func (s *privateElasticsearch) start(t *testing.T) {
	t.Helper()
	console, err := os.OpenFile(filepath.Join(s.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close() // the child has its own copy
	fmt.Fprintf(console, "\n=== %s: starting\n", time.Now().UTC().Format(time.RFC3339))
	// The CLI launcher stays in the foreground and stops the server JVM when it is
	// signalled; the server also stops when the launcher dies (its stdin closes).
	s.cmd = exec.Command("setpriv", "--reuid="+esUser, "--regid="+esUser, "--init-groups",
		"env", "HOME="+s.dir, "ES_JAVA_HOME="+s.javaHome, "ES_PATH_CONF="+filepath.Join(s.dir, "config"),
		"ES_TMPDIR="+filepath.Join(s.dir, "tmp"),
		filepath.Join(s.home, "bin", "elasticsearch"), "-p", filepath.Join(s.dir, "server.pid"))
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = console, console
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("elasticsearch: %v", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func() { _ = s.cmd.Wait(); close(exited) }()

	begin := time.Now()
	deadline := begin.Add(2 * time.Minute)
	client := &http.Client{Timeout: 3 * time.Second}
	for {
		if s.healthy(client) {
			t.Logf("private Elasticsearch up at %s after %v", s.url, time.Since(begin).Round(100*time.Millisecond))
			return
		}
		select {
		case <-exited:
			t.Fatalf("elasticsearch exited during start: %s\n%s", s.cmd.ProcessState, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			t.Fatalf("elasticsearch not healthy after 2 minutes:\n%s", s.logTail())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *privateElasticsearch) healthy(client *http.Client) bool {
	resp, err := client.Get(s.url + "/_cluster/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK &&
		(strings.Contains(string(b), `"status":"green"`) || strings.Contains(string(b), `"status":"yellow"`))
}

// stop stops the node as an operator would: SIGTERM to the launcher, which stops the
// server; SIGKILL to the whole process group if that takes more than a minute. It returns
// once the server process is gone, so its ports and data directory are free.
func (s *privateElasticsearch) stop(t *testing.T) {
	t.Helper()
	begin := time.Now()
	serverPid := s.serverPid()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		t.Logf("elasticsearch did not stop within a minute of SIGTERM; killing it")
	}
	s.kill()
	// The launcher waits for the server, but make sure: the server must not hold the
	// data directory's lock when the node starts again.
	for serverPid > 0 && alive(serverPid) {
		if time.Since(begin) > 2*time.Minute {
			t.Fatalf("elasticsearch server %d still running", serverPid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("private Elasticsearch stopped after %v", time.Since(begin).Round(100*time.Millisecond))
}

// kill kills the process group of the launcher and waits for the launcher to exit.
func (s *privateElasticsearch) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

func (s *privateElasticsearch) serverPid() int {
	b, err := os.ReadFile(filepath.Join(s.dir, "server.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// alive reports whether pid is a process that is neither gone nor a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may contain spaces and parentheses.
	st := string(b)
	i := strings.LastIndexByte(st, ')')
	return i >= 0 && i+2 < len(st) && st[i+2] != 'Z' && st[i+2] != 'X'
}

// logTail returns the end of the console log and of the server log, for failures.
func (s *privateElasticsearch) logTail() string {
	var out strings.Builder
	logs, _ := filepath.Glob(filepath.Join(s.dir, "logs", "*.log"))
	for _, name := range append([]string{filepath.Join(s.dir, "console.log")}, logs...) {
		if strings.HasSuffix(name, "gc.log") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		fmt.Fprintf(&out, "--- %s\n%s\n", name, b)
	}
	return out.String()
}

// copyTree copies the regular files and directories under src to dst, with their modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return errors.New("copyTree: not a regular file or directory: " + path)
	})
}

// chownTree gives dir and everything under it to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
