package httpserver

import (
	"context"
	"log/slog"
	"net/http"
)

// statusOK is the body of a probe that passes.
type statusOK struct {
	Status string `json:"status"`
}

// Probes returns the routes of the two probes every HTTP service serves:
// GET /healthz, liveness, 200 {"status": "ok"} while the process serves;
// GET /readyz, 200 {"status": "ok"} while ready answers nil, otherwise its
// error as a problem (DEPENDENCY_UNAVAILABLE naming the failed
// dependencies: platform/readiness). A prober that leaves before the
// answer gets none.
func Probes(logger *slog.Logger, ready func(context.Context) error) Routes {
	return Routes{
		"GET /healthz": func(w http.ResponseWriter, _ *http.Request) {
			WriteJSON(w, http.StatusOK, statusOK{Status: "ok"})
		},
		"GET /readyz": func(w http.ResponseWriter, r *http.Request) {
			if err := ready(r.Context()); err != nil {
				if r.Context().Err() != nil {
					return // the prober left: nobody to answer, nothing learned
				}
				Fail(logger, w, r, err)
				return
			}
			WriteJSON(w, http.StatusOK, statusOK{Status: "ok"})
		},
	}
}
