// Package openapi holds the gateway's public HTTP contract: the OpenAPI 3.1
// document it serves at /openapi.json, kept here, outside the internal
// packages, so that clients and contract gates read the same file.
package openapi

import _ "embed"

//go:embed openapi.json
var document []byte

// Document returns a copy of the OpenAPI document.
func Document() []byte { return append([]byte(nil), document...) }
