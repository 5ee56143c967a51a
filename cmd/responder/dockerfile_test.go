package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, USER, ...
	args string
}

// stage is a build stage: FROM image [AS name] and what follows.
type stage struct {
	name, image string
	body        []instruction
}

// parseDockerfile reads the stages of a Dockerfile: comments and parser
// directives are skipped, lines ending in "\" are joined, and ${ARG}s
// declared before the first FROM are substituted in FROM lines.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		ins  []instruction
		cur  strings.Builder
		scan = bufio.NewScanner(f)
	)
	for scan.Scan() {
		line := strings.TrimSpace(scan.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		ins = append(ins, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := scan.Err(); err != nil {
		t.Fatal(err)
	}

	args := map[string]string{}
	var stages []stage
	for _, in := range ins {
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case in.cmd == "FROM":
			image := os.Expand(in.args, func(k string) string { return args[k] })
			fields := strings.Fields(image)
			s := stage{image: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			t.Fatalf("%s before the first FROM", in.cmd)
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	return stages
}

func (s stage) last(cmd string) (string, bool) {
	for i := len(s.body) - 1; i >= 0; i-- {
		if s.body[i].cmd == cmd {
			return s.body[i].args, true
		}
	}
	return "", false
}

func (s stage) has(cmd, substr string) bool {
	for _, in := range s.body {
		if in.cmd == cmd && strings.Contains(in.args, substr) {
			return true
		}
	}
	return false
}

// TestDockerfile checks the Dockerfile's shape: a build stage that makes
// static binaries (CGO_ENABLED=0) of the responder and loadgen, and a final
// stage for each on a distroless or scratch base that runs as a user other
// than root, with the responder's last so that a plain `docker build`
// gives it. It also checks that .dockerignore keeps what the build needs.
func TestDockerfile(t *testing.T) {
	stages := dockerStages(t)
	byName := map[string]stage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	build, ok := byName["build"]
	if !ok {
		t.Fatalf("no build stage in %+v", stages)
	}
	if !strings.HasPrefix(build.image, "golang:1.") {
		t.Errorf("build stage FROM %s, want golang:1.x", build.image)
	}
	if !build.has("ENV", "CGO_ENABLED=0") && !build.has("RUN", "CGO_ENABLED=0") {
		t.Error("the build stage does not set CGO_ENABLED=0")
	}
	for _, pkg := range []string{"./cmd/responder", "./cmd/loadgen"} {
		if !build.has("RUN", "go build") || !build.has("RUN", pkg) {
			t.Errorf("the build stage does not build %s", pkg)
		}
	}
	if !build.has("RUN", "-X main.version=") {
		t.Error("the build stage does not set the version")
	}
	if last := stages[len(stages)-1]; last.name != "responder" {
		t.Errorf("last stage %q, want responder (the default target)", last.name)
	}
	rootUser := regexp.MustCompile(`^(root|0)(:|$)`)
	for _, name := range []string{"responder", "loadgen"} {
		s, ok := byName[name]
		if !ok {
			t.Errorf("no %s stage", name)
			continue
		}
		if !strings.HasPrefix(s.image, "gcr.io/distroless/static") && s.image != "scratch" {
			t.Errorf("%s: FROM %s, want distroless/static or scratch", name, s.image)
		}
		user, ok := s.last("USER")
		if !ok || rootUser.MatchString(user) {
			t.Errorf("%s: USER %q, want a user other than root", name, user)
		}
		if !s.has("COPY", "--from=build") {
			t.Errorf("%s: copies nothing from the build stage", name)
		}
		if ep, ok := s.last("ENTRYPOINT"); !ok || !strings.Contains(ep, "/"+name) {
			t.Errorf("%s: ENTRYPOINT %q", name, ep)
		}
	}

	// .dockerignore must not drop what the build compiles.
	ignore, err := os.ReadFile(filepath.Join("..", "..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(string(ignore), "\n") {
		p = strings.TrimPrefix(strings.TrimSpace(p), "**/")
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		for _, need := range []string{"go.mod", "go.sum", "cmd", "cmd/responder", "responder", "stock", "capstore", "election", "metrics", "internal"} {
			if ok, _ := filepath.Match(p, need); ok {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", p, need)
			}
		}
	}
}

func dockerStages(t *testing.T) []stage {
	return parseDockerfile(t, filepath.Join("..", "..", "Dockerfile"))
}
