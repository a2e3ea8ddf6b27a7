package tests

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// There is no Docker engine where the tests run, so these tests check
// docker-compose.yml the other ways it can break: every agent's command line
// and environment must pass `wisp agent --dry-run` (the flags cannot drift
// from the binary), and the services must be wired as a working cluster.

const (
	composePath    = "../docker-compose.yml"
	dockerfilePath = "../Dockerfile"
)

// composeFile is the part of a Compose file these tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image           string              `yaml:"image"`
	Build           any                 `yaml:"build"`
	Hostname        string              `yaml:"hostname"`
	Entrypoint      composeArgs         `yaml:"entrypoint"`
	Command         composeArgs         `yaml:"command"`
	Environment     composeEnv          `yaml:"environment"`
	Ports           []string            `yaml:"ports"`
	Volumes         []string            `yaml:"volumes"`
	DependsOn       composeDependsOn    `yaml:"depends_on"`
	Networks        composeNetworks     `yaml:"networks"`
	StopGracePeriod string              `yaml:"stop_grace_period"`
	Healthcheck     *struct{ Test any } `yaml:"healthcheck"`
}

// composeArgs is a command or entrypoint: a list, or a string Compose splits
// on spaces (quotes are not supported here, to stay simple and exact).
type composeArgs []string

func (a *composeArgs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if strings.ContainsAny(n.Value, `"'\`) {
			return fmt.Errorf("line %d: write commands with quotes as a YAML list", n.Line)
		}
		*a = strings.Fields(n.Value)
		return nil
	}
	var l []string
	err := n.Decode(&l)
	*a = l
	return err
}

// composeEnv is environment as a map or as a list of NAME=VALUE.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	case yaml.MappingNode:
		// Decoding through a map applies merge keys (<<: *anchor).
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			if v != nil {
				(*e)[k] = fmt.Sprint(v)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: environment must be a map or a list", n.Line)
}

// composeDependsOn maps each dependency to its condition.
type composeDependsOn map[string]string

func (d *composeDependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = composeDependsOn{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			(*d)[s] = "service_started"
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		(*d)[k] = orDefault(v.Condition, "service_started")
	}
	return nil
}

// composeNetworks maps each network to the fixed IPv4 address, if any.
type composeNetworks map[string]string

func (c *composeNetworks) UnmarshalYAML(n *yaml.Node) error {
	*c = composeNetworks{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			(*c)[s] = ""
		}
		return nil
	}
	var m map[string]*struct {
		IPv4 string `yaml:"ipv4_address"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		if v != nil {
			(*c)[k] = v.IPv4
		} else {
			(*c)[k] = ""
		}
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// interpolation matches Compose's $$ (a literal $), ${NAME}, ${NAME:-default}
// and ${NAME-default}, and any other $ form, which interpolate refuses.
var interpolation = regexp.MustCompile(`\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|.?)`)

// interpolate substitutes as Compose would with none of the variables set,
// so that the test sees the file's defaults, whatever this machine's
// environment holds.
func interpolate(s string) (string, error) {
	var err error
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := interpolation.FindStringSubmatch(m)
		switch {
		case sub[1] == "":
			err = fmt.Errorf("%q: write variables as ${NAME:-default} and a literal $ as $$", s)
		case sub[2] == "":
			err = fmt.Errorf("${%s} has no default: the file must work without an .env file", sub[1])
		}
		return sub[3]
	})
	return out, err
}

// loadCompose parses a Compose file after interpolating every scalar.
func loadCompose(path string) (*composeFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
			v, err := interpolate(n.Value)
			if err != nil {
				return fmt.Errorf("%s line %d: %w", path, n.Line, err)
			}
			n.Value = v
		}
		for _, c := range n.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(&doc); err != nil {
		return nil, err
	}
	var cf composeFile
	if err := doc.Decode(&cf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cf, nil
}

// agentServices returns the services built from this repository's
// Dockerfile, sorted by name: the Wisp agents.
func (cf *composeFile) agentServices() []string {
	var names []string
	for name, s := range cf.Services {
		if s.Build != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// agentFlags is an agent's effective configuration as `wisp agent` reads
// it: command-line flags first, then WISP_* variables.
type agentFlags struct {
	args map[string]string
	env  composeEnv
}

func parseAgentFlags(s composeService) (agentFlags, error) {
	f := agentFlags{args: map[string]string{}, env: s.Environment}
	if len(s.Command) == 0 || s.Command[0] != "agent" {
		return f, fmt.Errorf("command %q must start with the agent subcommand", s.Command)
	}
	args := s.Command[1:]
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			return f, fmt.Errorf("argument %q is not a --flag", args[i])
		}
		if k, v, ok := strings.Cut(name, "="); ok {
			f.args[k] = v
			continue
		}
		// Only the bool flags may stand alone; write others as --flag=value.
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") && name != "retry-join" && name != "auto-create-topics" {
			f.args[name] = args[i+1]
			i++
			continue
		}
		f.args[name] = "true"
	}
	return f, nil
}

// get returns a flag's value from the command line or the environment.
func (f agentFlags) get(flag string) (string, bool) {
	if v, ok := f.args[flag]; ok {
		return v, true
	}
	v, ok := f.env["WISP_"+strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))]
	return v, ok
}

// s3Env are the WISP_* variables the agent reads that are not flags.
var s3Env = []string{"WISP_S3_ACCESS_KEY", "WISP_S3_SECRET_KEY", "WISP_S3_SESSION_TOKEN"}

// agentFlagNames lists the flags `wisp agent --help` shows.
func agentFlagNames(bin string) (map[string]bool, error) {
	out, err := exec.Command(bin, "agent", "--help").Output()
	if err != nil {
		return nil, fmt.Errorf("wisp agent --help: %w", err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllSubmatch(out, -1) {
		names[string(m[1])] = true
	}
	if !names["bucket-url"] {
		return nil, fmt.Errorf("no --bucket-url in wisp agent --help:\n%s", out)
	}
	return names, nil
}

// dryRunAgent runs `wisp agent --dry-run` with a service's arguments and
// environment (and none of this machine's WISP_* variables). A WISP_*
// variable that names no flag would be ignored silently: that is an error.
func dryRunAgent(bin string, s composeService) error {
	if len(s.Command) == 0 || s.Command[0] != "agent" {
		return fmt.Errorf("command %q does not run `wisp agent`", s.Command)
	}
	flags, err := agentFlagNames(bin)
	if err != nil {
		return err
	}
	for k := range s.Environment {
		name, ok := strings.CutPrefix(k, "WISP_")
		if ok && !slices.Contains(s3Env, k) && !flags[strings.ToLower(strings.ReplaceAll(name, "_", "-"))] {
			return fmt.Errorf("environment variable %s names no `wisp agent` flag: the agent would ignore it", k)
		}
	}
	args := append([]string{"agent", "--dry-run"}, s.Command[1:]...)
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WISP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range s.Environment {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("wisp %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	if !strings.Contains(stdout.String(), "configuration is valid") {
		return fmt.Errorf("wisp %s exited 0 without saying the configuration is valid: %s", strings.Join(args, " "), stdout.String())
	}
	return nil
}

// dryRunAll checks every agent service with the real binary.
func dryRunAll(bin string, cf *composeFile) error {
	var errs []error
	for _, name := range cf.agentServices() {
		if err := dryRunAgent(bin, cf.Services[name]); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// publishedPorts maps container ports to host ports ("HOST:CONTAINER" or
// "IP:HOST:CONTAINER", TCP).
func publishedPorts(s composeService) (map[int]int, error) {
	out := map[int]int{}
	for _, p := range s.Ports {
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		if len(parts) < 2 || strings.Contains(p, "/udp") {
			continue
		}
		host, err1 := strconv.Atoi(parts[len(parts)-2])
		ctr, err2 := strconv.Atoi(parts[len(parts)-1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("port %q is not HOST:CONTAINER", p)
		}
		out[ctr] = host
	}
	return out, nil
}

func splitPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}

// checkComposeStructure checks what makes the services one working cluster
// reachable from the host, as the README promises. It returns every problem.
func checkComposeStructure(cf *composeFile, dockerfile []byte) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// The image runs wisp, so a command of `agent ...` is `wisp agent ...`.
	ep := regexp.MustCompile(`(?m)^ENTRYPOINT\s+\["([^"]+)"\]\s*$`).FindSubmatch(dockerfile)
	if ep == nil || filepath.Base(string(ep[1])) != "wisp" {
		bad("the Dockerfile's ENTRYPOINT must be the wisp binary alone, got %q", ep)
	}
	exposed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^EXPOSE\s+(.*)$`).FindAllSubmatch(dockerfile, -1) {
		for _, p := range strings.Fields(string(m[1])) {
			exposed[strings.TrimSuffix(p, "/tcp")] = true
		}
	}

	// MinIO with a healthcheck, and a step that creates the bucket after it.
	var minio, initStep string
	for name, s := range cf.Services {
		switch {
		case strings.HasPrefix(s.Image, "minio/minio") || strings.HasPrefix(s.Image, "quay.io/minio/minio"):
			minio = name
		case strings.HasPrefix(s.Image, "minio/mc") || strings.HasPrefix(s.Image, "quay.io/minio/mc"):
			initStep = name
		}
	}
	if minio == "" || initStep == "" {
		bad("want a minio/minio service and a minio/mc init step, got minio=%q init=%q", minio, initStep)
		return errors.Join(errs...)
	}
	ms, is := cf.Services[minio], cf.Services[initStep]
	if ms.Healthcheck == nil || ms.Healthcheck.Test == nil {
		bad("service %s has no healthcheck: the init step cannot wait for it", minio)
	}
	if is.DependsOn[minio] != "service_healthy" {
		bad("init step %s must depend on %s being service_healthy, got %q", initStep, minio, is.DependsOn[minio])
	}
	// mc mb --ignore-existing ALIAS/BUCKET, with MC_HOST_ALIAS naming MinIO.
	var mbTarget string
	if i := slices.Index(is.Command, "mb"); i >= 0 && slices.Contains(is.Command, "--ignore-existing") {
		mbTarget = is.Command[len(is.Command)-1]
	} else {
		bad("init step %s must run `mc mb --ignore-existing ALIAS/BUCKET`, runs %q", initStep, is.Command)
	}
	alias, bucket, _ := strings.Cut(mbTarget, "/")
	mcHost, err := url.Parse(is.Environment["MC_HOST_"+alias])
	if err != nil || mcHost.Host == "" {
		bad("init step %s needs MC_HOST_%s=http://KEY:SECRET@%s:9000, got %q", initStep, alias, minio, is.Environment["MC_HOST_"+alias])
		mcHost = &url.URL{}
	}
	if mcHost.Hostname() != minio {
		bad("init step %s talks to %q, not to the %s service", initStep, mcHost.Host, minio)
	}
	rootUser, rootPass := ms.Environment["MINIO_ROOT_USER"], ms.Environment["MINIO_ROOT_PASSWORD"]
	if pass, _ := mcHost.User.Password(); mcHost.User.Username() != rootUser || pass != rootPass {
		bad("init step %s's credentials differ from MinIO's root user", initStep)
	}

	// Three agents, each reachable from the host, joined into one cluster.
	agents := cf.agentServices()
	if want := []string{"wisp-1", "wisp-2", "wisp-3"}; !slices.Equal(agents, want) {
		bad("agent services (built from the Dockerfile) are %v, want %v", agents, want)
		return errors.Join(errs...)
	}
	var (
		bucketURL    string
		firstGossip  string
		nodeIDs      = map[string]bool{}
		volumes      = map[string]bool{}
		ips          = map[string]bool{}
		gracePeriods []string
	)
	for i, name := range agents {
		s := cf.Services[name]
		f, err := parseAgentFlags(s)
		if err != nil {
			bad("service %s: %v", name, err)
			continue
		}
		if len(s.Entrypoint) > 0 {
			bad("service %s overrides the image's entrypoint", name)
		}
		if s.DependsOn[initStep] != "service_completed_successfully" {
			bad("service %s must depend on %s completing successfully (the bucket must exist), got %q", name, initStep, s.DependsOn[initStep])
		}
		if id, _ := f.get("node-id"); id == "" || nodeIDs[id] {
			bad("service %s: --node-id %q must be set and unique", name, id)
		} else {
			nodeIDs[id] = true
		}

		// Kafka: published on 9092+i, advertised as localhost:that port.
		ports, err := publishedPorts(s)
		if err != nil {
			bad("service %s: %v", name, err)
		}
		kafkaAddr, _ := f.get("kafka-addr")
		_, kport, err := splitPort(kafkaAddr)
		if err != nil {
			bad("service %s: --kafka-addr %q: %v", name, kafkaAddr, err)
		}
		wantKafka := 9092 + i
		if ports[kport] != wantKafka {
			bad("service %s must publish its Kafka port %d on host port %d, publishes %v", name, kport, wantKafka, s.Ports)
		}
		if adv, _ := f.get("advertise-addr"); adv != fmt.Sprintf("localhost:%d", wantKafka) {
			bad("service %s advertises %q; host clients dial localhost:%d", name, adv, wantKafka)
		}
		// HTTP: published on 8080+i.
		httpAddr, _ := f.get("http-addr")
		_, hport, err := splitPort(httpAddr)
		if err != nil {
			bad("service %s: --http-addr %q: %v", name, httpAddr, err)
		}
		if ports[hport] != 8080+i {
			bad("service %s must publish its HTTP port %d on host port %d, publishes %v", name, hport, 8080+i, s.Ports)
		}
		// Peers dial HTTP, Raft and gossip at the address each listener
		// binds (an unspecified host would advertise localhost, the Kafka
		// advertised host): each must bind the container's own name.
		self := orDefault(s.Hostname, name)
		for _, flag := range []string{"http-addr", "raft-addr", "gossip-addr"} {
			v, _ := f.get(flag)
			if h, _, err := splitPort(v); err != nil || (h != self && h != name) {
				bad("service %s: --%s %q must bind the container's own name %s:PORT, which its peers can dial", name, flag, v, self)
			}
		}
		if i == 0 {
			firstGossip, _ = f.get("gossip-addr")
			if j, ok := f.get("join"); ok && j != "" {
				bad("service %s is the first agent and must not --join (it bootstraps Raft), joins %q", name, j)
			}
		} else {
			if j, _ := f.get("join"); j != firstGossip {
				bad("service %s must --join the first agent's gossip address %q, joins %q", name, firstGossip, j)
			}
			if r, _ := f.get("retry-join"); r != "true" {
				bad("service %s must --retry-join: it may start before %s listens", name, agents[0])
			}
		}

		// One bucket for all, on MinIO, with MinIO's credentials.
		b, _ := f.get("bucket-url")
		if i == 0 {
			bucketURL = b
		} else if b != bucketURL {
			bad("service %s uses bucket %q, %s uses %q: agents must share one bucket", name, b, agents[0], bucketURL)
		}
		if f.env["WISP_S3_ACCESS_KEY"] != rootUser || f.env["WISP_S3_SECRET_KEY"] != rootPass {
			bad("service %s: WISP_S3_ACCESS_KEY/WISP_S3_SECRET_KEY must be MinIO's root credentials", name)
		}

		// Its own data volume, mounted at its data dir.
		dataDir, _ := f.get("data-dir")
		mounted := false
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			if strings.TrimSuffix(dst, ":rw") == dataDir {
				mounted = true
				if volumes[src] {
					bad("service %s shares volume %s with another agent", name, src)
				}
				volumes[src] = true
				if _, ok := cf.Volumes[src]; !ok {
					bad("service %s mounts %s, which is not a named volume", name, src)
				}
			}
		}
		if dataDir == "" || !mounted {
			bad("service %s: no volume is mounted at its --data-dir %q: Raft state would be lost with the container", name, dataDir)
		}

		// A fixed IP: Raft stores its peers' addresses in the data dir.
		for nw, ip := range s.Networks {
			addr, err := netip.ParseAddr(ip)
			if err != nil || ips[ip] {
				bad("service %s: network %s needs a unique fixed ipv4_address, got %q", name, nw, ip)
				continue
			}
			ips[ip] = true
			for _, c := range cf.Networks[nw].IPAM.Config {
				if p, err := netip.ParsePrefix(c.Subnet); err != nil || !p.Contains(addr) {
					bad("service %s: %s is outside network %s's subnet %q", name, ip, nw, c.Subnet)
				}
			}
		}
		if len(s.Networks) == 0 {
			bad("service %s has no fixed address on a network", name)
		}

		// The image documents the ports the agents listen on.
		for _, flag := range []string{"kafka-addr", "http-addr", "raft-addr", "gossip-addr"} {
			v, _ := f.get(flag)
			_, port, _ := splitPort(v)
			if !exposed[strconv.Itoa(port)] {
				bad("service %s: the Dockerfile does not EXPOSE its --%s port %d", name, flag, port)
			}
			if flag == "gossip-addr" && !exposed[strconv.Itoa(port)+"/udp"] {
				bad("service %s: the Dockerfile does not EXPOSE %d/udp (gossip uses UDP too)", name, port)
			}
		}

		// A graceful leave must not be cut short by SIGKILL.
		d, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil || d <= 30*time.Second {
			gracePeriods = append(gracePeriods, name)
		}
	}
	if len(gracePeriods) > 0 {
		bad("services %v need stop_grace_period above the agent's 30s shutdown bound (Compose's default is 10s)", gracePeriods)
	}
	u, err := url.Parse(bucketURL)
	if err != nil || u.Scheme != "s3" {
		bad("bucket URL %q must be s3://", bucketURL)
	} else {
		if u.Host != bucket {
			bad("agents use bucket %q, the init step creates %q", u.Host, bucket)
		}
		if ep := u.Query().Get("endpoint"); ep != minio+":9000" {
			bad("bucket URL endpoint %q must be the %s service, %s:9000", ep, minio, minio)
		}
		if u.Query().Get("secure") != "false" {
			bad("bucket URL %q must say secure=false: MinIO here speaks plain HTTP", bucketURL)
		}
	}
	return errors.Join(errs...)
}

func TestComposeAgentsPassDryRun(t *testing.T) {
	cf, err := loadCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.agentServices()) == 0 {
		t.Fatal("docker-compose.yml has no service built from the Dockerfile")
	}
	if err := dryRunAll(wispBinary(t), cf); err != nil {
		t.Fatal(err)
	}
}

func TestComposeStructure(t *testing.T) {
	cf, err := loadCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkComposeStructure(cf, dockerfile); err != nil {
		t.Fatal(err)
	}
}

// TestComposeChecksCatchBrokenFiles breaks copies of docker-compose.yml the
// ways an edit could, and expects the checks above to say so.
func TestComposeChecksCatchBrokenFiles(t *testing.T) {
	good, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	bin := wispBinary(t)
	cases := []struct {
		name     string
		old, new string
		check    string // "dry-run" or "structure"
		want     string // in the error
	}{
		{"misspelt flag", "--http-addr=wisp-2:8080", "--http-address=wisp-2:8080", "dry-run", "http-address"},
		{"bad flag value", "--node-id=3", "--node-id=three", "dry-run", "node-id"},
		{"bad environment value", "WISP_DATA_DIR: /var/lib/wisp", "WISP_DATA_DIR: /var/lib/wisp\n    WISP_FLUSH_INTERVAL: soon", "dry-run", "flush-interval"},
		{"misspelt variable", "WISP_DATA_DIR: /var/lib/wisp", "WISP_DATADIR: /var/lib/wisp", "dry-run", "WISP_DATADIR"},
		{"bucket missing", "    WISP_BUCKET_URL: s3://wisp?endpoint=minio:9000&secure=false&region=us-east-1\n", "", "dry-run", "bucket-url"},
		{"join to the wrong agent", "--join=wisp-1:7946\n      - --retry-join\n    ports: [\"9094", "--join=wisp-2:7946\n      - --retry-join\n    ports: [\"9094", "structure", "wisp-3 must --join"},
		{"port not published", `["9094:9092", "8082:8080"]`, `["9095:9092", "8082:8080"]`, "structure", "host port 9094"},
		{"advertised port wrong", "--advertise-addr=localhost:9093", "--advertise-addr=localhost:9092", "structure", "advertises"},
		{"agents not waiting for the bucket", "      condition: service_completed_successfully", "      condition: service_started", "structure", "completing successfully"},
		{"raft bound to all interfaces", "--raft-addr=wisp-1:7947", "--raft-addr=0.0.0.0:7947", "structure", "raft-addr"},
		{"wrong credentials", "WISP_S3_SECRET_KEY: ${WISP_S3_SECRET_KEY:-minioadmin}", "WISP_S3_SECRET_KEY: ${WISP_S3_SECRET_KEY:-secret}", "structure", "credentials"},
		{"no MinIO healthcheck", `test: ["CMD", "mc", "ready", "local"]`, "test:", "structure", "no healthcheck"},
		{"short grace period", "stop_grace_period: 45s", "stop_grace_period: 10s", "structure", "stop_grace_period"},
	}
	dockerCases := []struct {
		name, old, new, want string
	}{
		{"raft port not exposed", "EXPOSE 9092 8080 7946 7946/udp 7947", "EXPOSE 9092 8080 7946 7946/udp", "raft-addr port 7947"},
		{"entrypoint not wisp", `ENTRYPOINT ["/usr/local/bin/wisp"]`, `ENTRYPOINT ["/bin/sh"]`, "ENTRYPOINT"},
	}
	for _, tc := range dockerCases {
		t.Run(tc.name, func(t *testing.T) {
			if n := bytes.Count(dockerfile, []byte(tc.old)); n != 1 {
				t.Fatalf("the Dockerfile holds %q %d times, want once: update this case", tc.old, n)
			}
			cf, err := loadCompose(composePath)
			if err != nil {
				t.Fatal(err)
			}
			err = checkComposeStructure(cf, bytes.Replace(dockerfile, []byte(tc.old), []byte(tc.new), 1))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the structure check of a broken Dockerfile said %v, want an error about %q", err, tc.want)
			}
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n := bytes.Count(good, []byte(tc.old)); n != 1 {
				t.Fatalf("docker-compose.yml holds %q %d times, want once: update this case", tc.old, n)
			}
			path := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(path, bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			cf, err := loadCompose(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.check == "dry-run" {
				err = dryRunAll(bin, cf)
			} else {
				err = checkComposeStructure(cf, dockerfile)
			}
			if err == nil {
				t.Fatalf("the %s check passed a broken file", tc.check)
			}
			t.Logf("%s check: %v", tc.check, err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the %s check failed for another reason than %q: %v", tc.check, tc.want, err)
			}
		})
	}
}
