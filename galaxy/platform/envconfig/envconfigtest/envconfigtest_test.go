package envconfigtest_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"galaxy/platform/envconfig/envconfigtest"
)

const readme = "# services\n\n" +
	"| module | what |\n| --- | --- |\n| `galaxy/x` | not a variable table |\n\n" +
	"## alpha\nText.\n\n" +
	"| variable | default | meaning |\n| --- | --- | --- |\n" +
	"| `ALPHA_ADDR` | `:9090` | listen address |\n" +
	"| <a id=\"galaxy.env.alpha-url\"></a>`ALPHA_URL` | required | a URL |\n" +
	"| `ALPHA_READY_FILE` | — | path |\n" +
	"| `ALPHA_LOG_LEVEL` | `info` | level |\n\n" +
	"| `ALPHA_LATER` | `1s` | a second table, not read |\n\n" +
	"## <a id=\"b\"></a>beta\n\n| `BETA_TTL` | `10m` | lifetime |\n"

func TestDocumented(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte(readme), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		section string
		want    []envconfigtest.Variable
		wantErr string
	}{
		{
			name:    "the first table of the section, anchors ignored",
			section: "alpha",
			want: []envconfigtest.Variable{
				{Name: "ALPHA_ADDR", Default: ":9090"},
				{Name: "ALPHA_URL", Required: true},
				{Name: "ALPHA_READY_FILE"},
				{Name: "ALPHA_LOG_LEVEL", Default: "info"},
			},
		},
		{
			name:    "a heading with an anchor",
			section: "beta",
			want:    []envconfigtest.Variable{{Name: "BETA_TTL", Default: "10m"}},
		},
		{name: "no such section", section: "gamma", wantErr: `under a heading "gamma"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := envconfigtest.Documented(path, tt.section)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Documented() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Documented() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Documented() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAnother(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, def, want string
	}{
		{name: "a duration doubled", def: "250ms", want: "500ms"},
		{name: "a number plus one", def: "5", want: "6"},
		{name: "the next port", def: "127.0.0.1:8091", want: "127.0.0.1:8092"},
		{name: "the next port of every interface", def: ":9090", want: ":9091"},
		{name: "another log level", def: "info", want: "debug"},
		{name: "a string with a suffix", def: "galaxy:", want: "galaxy:-other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := envconfigtest.Another(tt.def); got != tt.want {
				t.Errorf("Another(%q) = %q, want %q", tt.def, got, tt.want)
			}
		})
	}
}
