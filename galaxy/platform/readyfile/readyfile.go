// Package readyfile implements the ready handshake: once a binary is serving,
// it atomically writes a JSON document with its pid and every bound address to
// a path chosen by its supervisor, so no port is ever guessed.
package readyfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Document is the JSON written to the ready file.
type Document struct {
	Service   string            `json:"service"`
	PID       int               `json:"pid"`
	Addresses map[string]string `json:"addresses"`
}

// Write stores doc at path atomically: it writes a temporary file in the same
// directory and renames it over path, so a reader sees either no file or the
// whole document. It is not synced to disk: the file is a handshake with a
// running supervisor, not a record that must outlive a crash of the machine
// (its pid would be stale then anyway), and a sync would hold readiness up
// for as long as the disk takes to flush, under load tens of milliseconds.
func Write(path string, doc Document) error {
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("readyfile: encode: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return fmt.Errorf("readyfile: create temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("readyfile: write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("readyfile: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("readyfile: publish: %w", err)
	}
	return nil
}

// Read loads a ready file written by Write.
func Read(path string) (Document, error) {
	var doc Document
	data, err := os.ReadFile(path)
	if err != nil {
		return doc, fmt.Errorf("readyfile: %w", err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return doc, fmt.Errorf("readyfile: decode %s: %w", path, err)
	}
	return doc, nil
}
