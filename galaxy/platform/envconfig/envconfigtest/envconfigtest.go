// Package envconfigtest holds a binary's configuration to its documentation:
// the table of variables in the binary's section of the workspace's
// README.md (galaxy/README.md), rows "| `VAR` | default | meaning |", whose
// default is a value, "required", or "—" (none).
//
// Check proves, for a config package's Load, that every variable it reads
// is documented and every documented one is read; that the documented
// "required" ones are exactly those without which loading fails; that each
// documented default is the default (setting it changes nothing); and that
// each optional variable is used (another value changes the configuration).
package envconfigtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"galaxy/platform/envconfig"
)

// Variable is one documented row.
type Variable struct {
	Name     string
	Default  string // as documented, without backticks; "" when it has none
	Required bool
}

var (
	rowPattern = regexp.MustCompile("^\\|\\s*`([A-Z][A-Z0-9_]*)`\\s*\\|\\s*([^|]*?)\\s*\\|")
	tagPattern = regexp.MustCompile(`<[^>]*>`)
)

// noDefault are the default cells that mean "none".
var noDefault = []string{"—", "-", ""}

// Documented reads the variables of the first table under the heading
// "## <section>" (any level) of the Markdown document at path, in order.
// HTML tags (anchors) in a row or a heading are ignored.
func Documented(path, section string) ([]Variable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var found []Variable
	in := false
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(tagPattern.ReplaceAllString(scanner.Text(), ""))
		if heading, ok := strings.CutPrefix(line, "#"); ok {
			if in {
				break
			}
			in = strings.TrimSpace(strings.TrimLeft(heading, "#")) == section
			continue
		}
		if !in {
			continue
		}
		if len(found) > 0 && !strings.HasPrefix(line, "|") {
			break
		}
		m := rowPattern.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := Variable{Name: m[1], Default: strings.Trim(m[2], "`")}
		switch {
		case v.Default == "required":
			v.Default, v.Required = "", true
		case slices.Contains(noDefault, v.Default):
			v.Default = ""
		}
		found = append(found, v)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: no table of variables (| `VAR` | default | meaning |) under a heading %q", path, section)
	}
	return found, nil
}

// Readme is the README.md beside go.work, found from the working directory
// upward (a test runs in its package's directory).
func Readme() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "README.md"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work in the working directory or above it")
		}
		dir = parent
	}
}

// recorder is a lookup over a map that remembers every variable asked for.
type recorder struct {
	env  map[string]string
	mu   sync.Mutex
	read map[string]bool
}

func (r *recorder) lookup(key string) (string, bool) {
	r.mu.Lock()
	r.read[key] = true
	r.mu.Unlock()
	v, ok := r.env[key]
	return v, ok
}

// Check holds load, a config package's Load, to the table of section in the
// workspace's README.md; required holds a valid value for each variable the
// table says is required, and nothing else.
func Check[C comparable](t *testing.T, section string, load func(envconfig.Lookuper) (C, error), required map[string]string) {
	t.Helper()
	readme, err := Readme()
	if err != nil {
		t.Fatal(err)
	}
	documented, err := Documented(readme, section)
	if err != nil {
		t.Fatal(err)
	}
	with := func(name, value string) envconfig.Lookuper {
		return envconfig.Overlay(required, map[string]string{name: value})
	}
	base, err := load(envconfig.Map(required))
	if err != nil {
		t.Fatalf("Load(only the required variables) error = %v", err)
	}

	t.Run("every variable read is documented and every documented one is read", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{env: required, read: map[string]bool{}}
		if _, err := load(rec.lookup); err != nil {
			t.Fatalf("Load() error = %v", err)
		}
		names := make(map[string]bool, len(documented))
		for _, v := range documented {
			names[v.Name] = true
			if !rec.read[v.Name] {
				t.Errorf("%s is documented in %s (## %s) but Load never reads it", v.Name, readme, section)
			}
		}
		for name := range rec.read {
			if !names[name] {
				t.Errorf("Load reads %s, which %s (## %s) does not document", name, readme, section)
			}
		}
		for name := range required {
			if !names[name] {
				t.Errorf("the test gives %s as required, which %s (## %s) does not document", name, readme, section)
			}
		}
	})

	for _, v := range documented {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			_, given := required[v.Name]
			switch {
			case v.Required && !given:
				t.Errorf("%s is documented as required, but the test gives no value for it", v.Name)
			case !v.Required && given:
				t.Errorf("%s is not documented as required, but the test gives it as one", v.Name)
			case v.Required:
				_, err := load(envconfig.Overlay(required, map[string]string{v.Name: envconfig.Unset}))
				if err == nil || !strings.Contains(err.Error(), v.Name) {
					t.Errorf("Load without %s (documented as required) error = %v, want a problem naming it", v.Name, err)
				}
			default:
				if v.Default != "" {
					got, err := load(with(v.Name, v.Default))
					if err != nil {
						t.Fatalf("Load(%s=%q, its documented default) error = %v", v.Name, v.Default, err)
					}
					if got != base {
						t.Errorf("%s=%q, its documented default, changes the configuration:\n got %+v\nwant %+v", v.Name, v.Default, got, base)
					}
				}
				other := Another(v.Default)
				got, err := load(with(v.Name, other))
				if err != nil {
					t.Fatalf("Load(%s=%q) error = %v", v.Name, other, err)
				}
				if got == base {
					t.Errorf("%s=%q changes nothing: the variable is not used (or its default is not %q)", v.Name, other, v.Default)
				}
			}
		})
	}
}

// Another is a valid value other than def, of its kind: a duration doubled,
// a number plus one, the next port, another log level, a path when there
// is no default, else def with a suffix.
func Another(def string) string {
	if d, err := time.ParseDuration(def); err == nil && d > 0 {
		return (2 * d).String()
	}
	if n, err := strconv.Atoi(def); err == nil {
		return strconv.Itoa(n + 1)
	}
	if host, port, err := net.SplitHostPort(def); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			return net.JoinHostPort(host, strconv.Itoa(n+1))
		}
	}
	if slices.Contains(envconfig.LogLevels, def) {
		for _, level := range envconfig.LogLevels {
			if level != def {
				return level
			}
		}
	}
	if def == "" {
		return filepath.Join(os.TempDir(), "envconfigtest")
	}
	return def + "-other"
}
