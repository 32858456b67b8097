package deploy

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/weirhq/weir/internal/testenv"
)

const (
	upScript    = "local/up.sh"
	composeFile = "compose/compose.yaml"
)

// TestCatalogue checks the catalogue itself: unique names, ports and variables, and every
// variable that internal/testenv reads is filled by some service.
func TestCatalogue(t *testing.T) {
	names := map[string]bool{}
	ports := map[int]string{}
	env := map[string]bool{}
	for _, s := range Services() {
		if s.Name == "" || s.Compose == "" || s.Image == "" {
			t.Errorf("service %+v: name, compose name and image are required", s)
		}
		if names[s.Name] {
			t.Errorf("service %q listed twice", s.Name)
		}
		names[s.Name] = true
		if len(s.Published()) == 0 {
			t.Errorf("service %q publishes no port", s.Name)
		}
		for _, p := range s.Ports {
			if p.Number <= 0 || p.Number > 65535 {
				t.Errorf("%s/%s: port %d out of range", s.Name, p.Name, p.Number)
			}
			if other, ok := ports[p.Number]; ok {
				t.Errorf("%s/%s: port %d already used by %s", s.Name, p.Name, p.Number, other)
			}
			ports[p.Number] = s.Name + "/" + p.Name
			if p.Env == "" {
				continue
			}
			if p.Internal {
				t.Errorf("%s/%s: internal port named by %s", s.Name, p.Name, p.Env)
			}
			if !strings.HasPrefix(p.Env, "WEIR_") || env[p.Env] {
				t.Errorf("%s/%s: variable %q must start with WEIR_ and be unique", s.Name, p.Name, p.Env)
			}
			env[p.Env] = true
		}
	}
	for _, v := range []string{testenv.EnvKafka, testenv.EnvClickHouse, testenv.EnvElasticsearch, testenv.EnvRedis, testenv.EnvEthRPC} {
		if !env[v] {
			t.Errorf("testenv reads %s but no service of the catalogue fills it", v)
		}
	}
	// The embedded broker of `weir dev` listens on 9092 by default.
	if who, ok := ports[9092]; ok {
		t.Errorf("%s uses 9092, the embedded broker's default port", who)
	}
}

// upScriptFacts is what TestUpScript reads from local/up.sh: its port constants and the
// lines it writes to stack.env.
type upScriptFacts struct {
	ports    map[string]int    // KAFKA_PORT → 19092
	uses     map[string]int    // KAFKA_PORT → references outside its definition
	stackEnv map[string]string // WEIR_KAFKA_BROKERS → $HOST:$KAFKA_PORT
}

var (
	portConst = regexp.MustCompile(`(?m)^readonly ([A-Z][A-Z0-9_]*_PORT)=([0-9]+)$`)
	varRef    = regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)\}?`)
	envLine   = regexp.MustCompile(`^(WEIR_[A-Z0-9_]+)=(.+)$`)
)

func parseUpScript(src string) (upScriptFacts, error) {
	f := upScriptFacts{ports: map[string]int{}, uses: map[string]int{}, stackEnv: map[string]string{}}
	for _, m := range portConst.FindAllStringSubmatch(src, -1) {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return f, fmt.Errorf("port %s: %w", m[1], err)
		}
		if _, dup := f.ports[m[1]]; dup {
			return f, fmt.Errorf("port constant %s defined twice", m[1])
		}
		f.ports[m[1]] = n
	}
	for _, line := range strings.Split(src, "\n") {
		if portConst.MatchString(line) {
			continue
		}
		for _, m := range varRef.FindAllStringSubmatch(line, -1) {
			if _, ok := f.ports[m[1]]; ok {
				f.uses[m[1]]++
			}
		}
		if m := envLine.FindStringSubmatch(line); m != nil {
			if _, dup := f.stackEnv[m[1]]; dup {
				return f, fmt.Errorf("%s written twice", m[1])
			}
			f.stackEnv[m[1]] = m[2]
		}
	}
	return f, nil
}

// TestUpScript keeps local/up.sh consistent with the catalogue: its port constants are
// exactly the catalogue's ports, each is used, and it writes every variable of the
// catalogue — and no other — with the port of that variable.
func TestUpScript(t *testing.T) {
	src, err := os.ReadFile(upScript)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseUpScript(string(src))
	if err != nil {
		t.Fatalf("%s: %v", upScript, err)
	}

	want := map[int]string{}
	for _, s := range Services() {
		for _, p := range s.Ports {
			want[p.Number] = s.Name + "/" + p.Name
		}
	}
	have := map[int]string{}
	for name, n := range f.ports {
		have[n] = name
		if _, ok := want[n]; !ok {
			t.Errorf("%s: %s=%d is not a port of the catalogue", upScript, name, n)
		}
		if f.uses[name] == 0 {
			t.Errorf("%s: %s is defined but never used", upScript, name)
		}
	}
	for n, who := range want {
		if _, ok := have[n]; !ok {
			t.Errorf("%s: no port constant for %s (%d)", upScript, who, n)
		}
	}

	catalogueEnv := map[string]Port{}
	for _, s := range Services() {
		for _, p := range s.Ports {
			if p.Env != "" {
				catalogueEnv[p.Env] = p
			}
		}
	}
	tools := map[string]bool{}
	for _, name := range ToolEnv() {
		tools[name] = true
	}
	for name, value := range f.stackEnv {
		if tools[name] {
			continue // a tool's path, not a server's address
		}
		p, ok := catalogueEnv[name]
		if !ok {
			t.Errorf("%s writes %s, which the catalogue does not list", upScript, name)
			continue
		}
		var used []int
		for _, m := range varRef.FindAllStringSubmatch(value, -1) {
			if n, ok := f.ports[m[1]]; ok {
				used = append(used, n)
			}
		}
		if len(used) != 1 || used[0] != p.Number {
			t.Errorf("%s: %s=%s uses ports %v, want exactly %d (%s)", upScript, name, value, used, p.Number, p.Name)
		}
	}
	for name := range catalogueEnv {
		if _, ok := f.stackEnv[name]; !ok {
			t.Errorf("%s does not write %s to stack.env", upScript, name)
		}
	}
}

// composeService is the part of a compose service that the catalogue constrains.
type composeService struct {
	Image       string         `yaml:"image"`
	Ports       []composePort  `yaml:"ports"`
	Healthcheck map[string]any `yaml:"healthcheck"`
}

// composePort is one entry of a service's ports, in the short ("127.0.0.1:80:8080") or
// the long ({host_ip, published, target}) syntax.
type composePort struct {
	HostIP    string
	Published int
	Target    int
}

func (p *composePort) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			HostIP    string `yaml:"host_ip"`
			Published string `yaml:"published"`
			Target    int    `yaml:"target"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		pub, err := strconv.Atoi(long.Published)
		if err != nil {
			return fmt.Errorf("line %d: published port %q: %w", n.Line, long.Published, err)
		}
		*p = composePort{HostIP: long.HostIP, Published: pub, Target: long.Target}
		return nil
	}
	var short string
	if err := n.Decode(&short); err != nil {
		return err
	}
	parts := strings.Split(short, ":")
	var ip, pub, target string
	switch len(parts) {
	case 2:
		pub, target = parts[0], parts[1]
	case 3:
		ip, pub, target = parts[0], parts[1], parts[2]
	default:
		return fmt.Errorf("line %d: port %q: want [IP:]PUBLISHED:TARGET", n.Line, short)
	}
	var err error
	p.HostIP = ip
	if p.Published, err = strconv.Atoi(pub); err != nil {
		return fmt.Errorf("line %d: port %q: %w", n.Line, short, err)
	}
	if p.Target, err = strconv.Atoi(target); err != nil {
		return fmt.Errorf("line %d: port %q: %w", n.Line, short, err)
	}
	return nil
}

func loadCompose(t *testing.T) map[string]composeService {
	t.Helper()
	src, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return doc.Services
}

// TestCompose keeps compose.yaml consistent with the catalogue: the same services, each
// with its image, a healthcheck, and exactly its published ports, on loopback.
func TestCompose(t *testing.T) {
	services := loadCompose(t)
	want := map[string]bool{}
	for _, s := range Services() {
		want[s.Compose] = true
		c, ok := services[s.Compose]
		if !ok {
			t.Errorf("%s: no service %q (%s)", composeFile, s.Compose, s.Name)
			continue
		}
		if repo, _, _ := strings.Cut(c.Image, ":"); repo != s.Image {
			t.Errorf("%s: %s runs image %q, want %s:TAG", composeFile, s.Compose, c.Image, s.Image)
		}
		if c.Healthcheck["test"] == nil {
			t.Errorf("%s: %s has no healthcheck", composeFile, s.Compose)
		}
		var published, wantPorts []int
		for _, p := range c.Ports {
			published = append(published, p.Published)
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s: %s publishes %d on %q, want 127.0.0.1", composeFile, s.Compose, p.Published, p.HostIP)
			}
			if p.Published != p.Target {
				t.Errorf("%s: %s maps %d to %d: the container port must equal the published one", composeFile, s.Compose, p.Published, p.Target)
			}
		}
		for _, p := range s.Published() {
			wantPorts = append(wantPorts, p.Number)
		}
		slices.Sort(published)
		slices.Sort(wantPorts)
		if !slices.Equal(published, wantPorts) {
			t.Errorf("%s: %s publishes %v, the catalogue says %v", composeFile, s.Compose, published, wantPorts)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		if !want[name] {
			t.Errorf("%s: service %q is not in the catalogue", composeFile, name)
		}
	}
}

// TestComposeVersions keeps the images of compose.yaml at the versions the local stack
// runs: Kafka and Elasticsearch as resolved by their poms, geth as required by go.mod.
func TestComposeVersions(t *testing.T) {
	services := loadCompose(t)
	cases := []struct {
		service, file string
		re            *regexp.Regexp
	}{
		{"kafka", "local/kafka/pom.xml", regexp.MustCompile(`<kafka\.version>([^<]+)</kafka\.version>`)},
		{"elasticsearch", "local/elasticsearch/pom.xml", regexp.MustCompile(`<elasticsearch\.version>([^<]+)</elasticsearch\.version>`)},
		{"geth", "../go.mod", regexp.MustCompile(`(?m)^\s*github\.com/ethereum/go-ethereum (v\S+)`)},
	}
	for _, c := range cases {
		src, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := c.re.FindSubmatch(src)
		if m == nil {
			t.Errorf("%s: no version found with %s", c.file, c.re)
			continue
		}
		_, tag, _ := strings.Cut(services[c.service].Image, ":")
		if tag != string(m[1]) {
			t.Errorf("%s: %s image tag %q, want %q as in %s", composeFile, c.service, tag, m[1], c.file)
		}
	}
}

// TestParseUpScript checks that the up.sh reader sees what the consistency tests rely on,
// and so that those tests can fail.
func TestParseUpScript(t *testing.T) {
	src := strings.Join([]string{
		"readonly KAFKA_PORT=19092",
		"readonly UNUSED_PORT=1",
		`start --listen "$HOST:${KAFKA_PORT}"`,
		"WEIR_KAFKA_BROKERS=$HOST:$KAFKA_PORT",
	}, "\n")
	f, err := parseUpScript(src)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.ports; !maps.Equal(got, map[string]int{"KAFKA_PORT": 19092, "UNUSED_PORT": 1}) {
		t.Errorf("ports = %v", got)
	}
	if got := f.uses; !maps.Equal(got, map[string]int{"KAFKA_PORT": 2}) {
		t.Errorf("uses = %v", got)
	}
	if got := f.stackEnv; !maps.Equal(got, map[string]string{"WEIR_KAFKA_BROKERS": "$HOST:$KAFKA_PORT"}) {
		t.Errorf("stackEnv = %v", got)
	}
	if _, err := parseUpScript("readonly A_PORT=1\nreadonly A_PORT=2\n"); err == nil {
		t.Error("a port constant defined twice was accepted")
	}
}

// TestComposePortSyntax checks both port syntaxes of compose.
func TestComposePortSyntax(t *testing.T) {
	tests := []struct {
		in      string
		want    composePort
		wantErr bool
	}{
		{in: `"127.0.0.1:9000:9000"`, want: composePort{HostIP: "127.0.0.1", Published: 9000, Target: 9000}},
		{in: `"6379:6379"`, want: composePort{Published: 6379, Target: 6379}},
		{in: `{host_ip: 127.0.0.1, published: "8545", target: 8545}`, want: composePort{HostIP: "127.0.0.1", Published: 8545, Target: 8545}},
		{in: `"9200"`, wantErr: true},
		{in: `"a:b"`, wantErr: true},
	}
	for _, tt := range tests {
		var got composePort
		err := yaml.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
