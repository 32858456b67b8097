// Package features defines the fraud features: windowed aggregates computed on the stream
// runtime and served from the online store (Redis) to the scorer.
package features
