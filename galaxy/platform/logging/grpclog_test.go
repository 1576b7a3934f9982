package logging_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/grpclog"

	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
)

// TestRouteGRPC sets gRPC's process-wide logger, so it is not parallel.
// Its second case also shows that a later call switches the route.
func TestRouteGRPC(t *testing.T) {
	for _, tc := range []struct {
		level string
		want  []string // level and msg of each line
	}{
		{"debug", []string{
			"DEBUG info 1", "DEBUG info line", "DEBUG info 2",
			"WARN warning", "WARN [core] component warning", "WARN warning 3",
			"ERROR error", "ERROR error line", "ERROR error 4",
		}},
		{"info", []string{
			"WARN warning", "WARN [core] component warning", "WARN warning 3",
			"ERROR error", "ERROR error line", "ERROR error 4",
		}},
	} {
		t.Run(tc.level, func(t *testing.T) {
			var out logtest.Buffer
			logger, err := logging.New(&out, "svc", tc.level)
			if err != nil {
				t.Fatal(err)
			}
			logging.RouteGRPC(logger)

			grpclog.Info("info ", 1)
			grpclog.Infoln("info", "line")
			grpclog.Infof("info %d", 2)
			grpclog.Warning("warning")
			grpclog.Component("core").Warning("component warning")
			grpclog.Warningf("warning %d", 3)
			grpclog.Error("error")
			grpclog.Errorln("error", "line")
			grpclog.Errorf("error %d", 4)
			if grpclog.V(1) {
				t.Error("V(1) = true, want only level 0 logged")
			}

			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("line %q is not JSON: %v", line, err)
				}
				if rec["service"] != "svc" || rec["component"] != "grpc" {
					t.Errorf("line %q: want service=svc and component=grpc", line)
				}
				got = append(got, rec["level"].(string)+" "+rec["msg"].(string))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("lines =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestRouteGRPCConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			logging.RouteGRPC(slog.New(slog.DiscardHandler))
			grpclog.Warning("from a concurrent route")
		})
	}
	wg.Wait()
}
