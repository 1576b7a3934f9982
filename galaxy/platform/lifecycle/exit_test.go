package lifecycle_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"galaxy/platform/envconfig"
	"galaxy/platform/lifecycle"
)

func TestExit(t *testing.T) {
	t.Parallel()
	cfgErr := &envconfig.Error{Problems: []error{errors.New("A is required"), errors.New(`B="x": bad`)}}
	tests := []struct {
		name       string
		err        error
		code       int
		stderr     string
		logLevel   string // of the one log line, "" for none
		logsReason bool
	}{
		{"clean stop", nil, 0, "", "INFO", false},
		{"configuration", cfgErr, 2, "svc: configuration: A is required\nsvc: configuration: B=\"x\": bad\n", "", false},
		{"wrapped configuration", fmt.Errorf("wiring: %w", cfgErr), 2, "svc: configuration: A is required\nsvc: configuration: B=\"x\": bad\n", "", false},
		{"other failure", errors.New("listen tcp: address already in use"), 1, "", "ERROR", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr, logs bytes.Buffer
			code := lifecycle.Exit(tt.err, "svc", &stderr, slog.New(slog.NewJSONHandler(&logs, nil)))
			if code != tt.code || stderr.String() != tt.stderr {
				t.Errorf("Exit() = %d, stderr %q; want %d, %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if tt.logLevel == "" {
				if logs.Len() != 0 {
					t.Errorf("logged %q, want nothing", logs.String())
				}
				return
			}
			var rec map[string]any
			if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
				t.Fatalf("log %q is not one JSON line: %v", logs.String(), err)
			}
			_, hasErr := rec["error"]
			if rec["msg"] != "stopped" || rec["level"] != tt.logLevel || hasErr != tt.logsReason {
				t.Errorf("log line = %v, want %s stopped, error logged %v", rec, tt.logLevel, tt.logsReason)
			}
		})
	}
}
