package models

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/weirhq/weir/models/gbdt"
	"github.com/weirhq/weir/models/rules"
	"github.com/weirhq/weir/models/score"
)

var (
	//go:embed default/model.txt
	defaultModel []byte
	//go:embed default/model.json
	defaultMeta []byte
)

// Default returns the shipped model (models/default, embedded in the binary; trained on
// generated traffic, see the package documentation) and its metadata. Each call parses it
// anew; the model is immutable and may be shared.
func Default() (*gbdt.Model, score.Metadata, error) {
	m, err := gbdt.Load(bytes.NewReader(defaultModel))
	if err != nil {
		return nil, score.Metadata{}, fmt.Errorf("default model: %w", err)
	}
	meta, err := score.ReadMetadata(bytes.NewReader(defaultMeta))
	if err != nil {
		return nil, score.Metadata{}, fmt.Errorf("default model: %w", err)
	}
	if err := meta.Check(m); err != nil {
		return nil, score.Metadata{}, fmt.Errorf("default model: %w", err)
	}
	return m, meta, nil
}

// DefaultScorer returns a Scorer of the shipped model and the default rules
// (rules.Default), configured by opts. It is what a stream processor or the gateway uses
// when no model directory is configured.
func DefaultScorer(opts ...score.Option) (*score.Scorer, error) {
	m, meta, err := Default()
	if err != nil {
		return nil, err
	}
	r, err := rules.Default()
	if err != nil {
		return nil, err
	}
	return score.New(m, meta, r, opts...)
}
